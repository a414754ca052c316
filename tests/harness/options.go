package harness

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// ErrUnavailable is wrapped by every Boot error that means "this host cannot
// run a systemd container" (not root, no systemd-nspawn, no overlayfs...), as
// opposed to a container that was tried and failed. BootT turns it into a skip.
var ErrUnavailable = errors.New("cannot boot a systemd container here")

// Options configures Boot. The zero value boots a machine with a random name.
type Options struct {
	// Name is the machine name given to systemd-nspawn (--machine=); it is
	// also the prefix of progress lines. Default: "ehecoatl-test-" and 8
	// random hex digits. Letters, digits, '-' and '.', at most 64 characters,
	// unique among the machines of this process.
	Name string

	// Files maps guest paths to host paths copied into the guest before boot
	// (binaries under test, examples, unit files). The mode is preserved;
	// directories are copied recursively (symlinks inside them are copied as
	// symlinks); parent directories are created 0755. Symlinks in the guest
	// path resolve inside the guest, never on the host. Paths under /tmp,
	// /run, /dev, /proc and /sys are refused: nspawn and systemd mount over
	// them at boot, which would hide the copy (use WriteFile after Boot).
	Files map[string]string

	// Mask lists extra units masked (linked to /dev/null in
	// /etc/systemd/system) before boot, on top of DefaultMask.
	Mask []string

	// Unmask removes units from DefaultMask (for a test that needs, say,
	// systemd-networkd) or generators from the masked generators (by file
	// name, e.g. "systemd-sysv-generator") for this machine. Units in Mask
	// stay masked.
	Unmask []string

	// Stdout receives progress lines: boot time, failed units, teardown,
	// what Sweep cleaned. Optional.
	Stdout io.Writer

	// Console receives the raw console output of the guest (systemd's
	// status lines). Optional; the last 64 KiB are always kept and quoted
	// in boot errors.
	Console io.Writer

	// BootTimeout bounds Boot when its context has no deadline. Default 60s.
	BootTimeout time.Duration
}

// fixedMask are units masked in every machine whether or not the host enables
// them. Each either slows boot, takes a port of the shared network namespace,
// touches the host's network configuration, or fires during long tests.
var fixedMask = []string{
	// ~2.3 s of a 2.6 s boot on the development hosts, and port 5432.
	"postgresql.service", "postgresql@.service",
	// Port 80, which the router needs (the network namespace is the host's).
	"nginx.service", "apache2.service",
	// A getty on the console pty that nobody reads.
	"console-getty.service",
	// Would reconfigure the host's interfaces (shared network namespace).
	"systemd-networkd.service", "systemd-networkd.socket", "systemd-networkd-wait-online.service",
	"NetworkManager.service", "systemd-resolved.service",
	// Ports and daemons of the host that tests never need.
	"ssh.service", "ssh.socket", "docker.service", "docker.socket", "containerd.service",
	// Housekeeping timers that could fire in the middle of a test;
	// systemd-tmpfiles-clean would age files out of /tmp and /var/tmp.
	"systemd-tmpfiles-clean.timer", "apt-daily.timer", "apt-daily-upgrade.timer",
	"man-db.timer", "dpkg-db-backup.timer", "e2scrub_all.timer", "fstrim.timer", "logrotate.timer",
	// Enabled on Debian hosts, condition-skipped or useless in a container.
	"e2scrub_reap.service", "systemd-pstore.service", "systemd-timesyncd.service",
}

// maskedGenerators are systemd generators disabled in every machine (linked
// to /dev/null in /etc/systemd/system-generators). Generators run at boot and
// at every daemon-reload, which the tests do often: these produce nothing
// useful in a container and masking them cuts a reload from ~105 to ~75 ms.
// postgresql-generator would also pull in postgresql@15-main.service again.
var maskedGenerators = []string{
	"postgresql-generator",
	"systemd-sysv-generator",
	"systemd-gpt-auto-generator",
	"systemd-cryptsetup-generator",
	"systemd-integritysetup-generator",
	"systemd-veritysetup-generator",
	"systemd-hibernate-resume-generator",
}

// DefaultMask returns the units every machine masks unless Options.Unmask
// says otherwise: a fixed list of known noise (see fixedMask) plus every
// service, socket, timer and path unit the host administrator enabled
// (links in /etc/systemd/system/*.wants and *.requires), because the guest
// boots the host's own configuration and those are the host's business.
// Units named ehecoatl* are never masked: tests install and enable them.
func DefaultMask() []string {
	set := map[string]bool{}
	for _, u := range fixedMask {
		set[u] = true
	}
	for _, u := range hostEnabledUnits("/etc/systemd/system") {
		set[u] = true
	}
	out := make([]string, 0, len(set))
	for u := range set {
		if !strings.HasPrefix(u, "ehecoatl") {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

// hostEnabledUnits lists the units linked from dir/*.wants and dir/*.requires.
func hostEnabledUnits(dir string) []string {
	var out []string
	for _, pattern := range []string{"*.wants", "*.requires"} {
		dirs, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, d := range dirs {
			entries, err := os.ReadDir(d)
			if err != nil {
				continue
			}
			for _, e := range entries {
				switch path.Ext(e.Name()) {
				case ".service", ".socket", ".timer", ".path":
					out = append(out, e.Name())
				}
			}
		}
	}
	return out
}

// maskList is DefaultMask minus opts.Unmask plus opts.Mask.
func (o *Options) maskList() ([]string, error) {
	var out []string
	for _, u := range DefaultMask() {
		if !slices.Contains(o.Unmask, u) {
			out = append(out, u)
		}
	}
	for _, u := range o.Mask {
		if !unitName.MatchString(u) {
			return nil, fmt.Errorf("Options.Mask: %q is not a unit name (want e.g. foo.service)", u)
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

var (
	unitName    = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]+\.(service|socket|timer|path|mount|automount|swap|target|slice|scope|device)$`)
	machineName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$`)
)

// hiddenAtBoot are guest directories that nspawn or systemd mount over.
var hiddenAtBoot = []string{"/tmp", "/run", "/dev", "/proc", "/sys"}

// generatorMask is maskedGenerators minus opts.Unmask.
func (o *Options) generatorMask() []string {
	var out []string
	for _, g := range maskedGenerators {
		if !slices.Contains(o.Unmask, g) {
			out = append(out, g)
		}
	}
	return out
}

// checkFiles validates Options.Files before anything is mounted.
func (o *Options) checkFiles() error {
	for guest, host := range o.Files {
		if !path.IsAbs(guest) || path.Clean(guest) != guest || guest == "/" {
			return fmt.Errorf("Options.Files: guest path %q must be absolute, clean and not /", guest)
		}
		for _, h := range hiddenAtBoot {
			if guest == h || strings.HasPrefix(guest, h+"/") {
				return fmt.Errorf("Options.Files: %s: %s is mounted over when the guest boots, so a copy made before boot would be hidden; copy it elsewhere or use Machine.WriteFile after Boot", guest, h)
			}
		}
		if _, err := os.Stat(host); err != nil {
			return fmt.Errorf("Options.Files: %s: %w", guest, err)
		}
	}
	return nil
}

// lineWriter prefixes and forwards whole lines; nil-safe.
type lineWriter struct {
	w      io.Writer
	prefix string
}

func (l lineWriter) printf(format string, args ...any) {
	if l.w == nil {
		return
	}
	s := fmt.Sprintf(format, args...)
	sc := bufio.NewScanner(strings.NewReader(s))
	var b strings.Builder
	for sc.Scan() {
		b.WriteString(l.prefix)
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	l.w.Write([]byte(b.String()))
}
