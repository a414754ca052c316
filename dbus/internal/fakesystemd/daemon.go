package fakesystemd

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// busConfig is a minimal bus: no service activation, no XDG directories,
// everything allowed for the one user running the tests.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// daemon is a private dbus-daemon.
type daemon struct {
	dir     string
	address string
	cmd     *exec.Cmd
	done    chan struct{}
}

// startDaemon runs dbus-daemon on a socket in a fresh temporary directory
// (short: unix socket paths are limited to 108 bytes) and waits until it
// prints its address, i.e. accepts connections. It skips t when dbus-daemon
// is not installed.
func startDaemon(t testing.TB) *daemon {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed (Debian: apt-get install dbus-daemon); the fake systemd needs it")
	}
	dir, err := os.MkdirTemp("", "fakesd")
	if err != nil {
		t.Fatal(err)
	}
	var esc bytes.Buffer
	if err := xml.EscapeText(&esc, []byte(filepath.Join(dir, "bus"))); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, busConfig, esc.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config-file="+conf, "--nofork", "--nopidfile", "--print-address")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("start dbus-daemon: %v", err)
	}
	d := &daemon{dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case d.address = <-line:
	case <-time.After(10 * time.Second):
	}
	if d.address == "" {
		d.stop()
		t.Fatalf("dbus-daemon printed no address: %s", stderr.String())
	}
	return d
}

// stop kills the daemon and removes its directory; it may be called twice.
func (d *daemon) stop() {
	select {
	case <-d.done:
	default:
		d.cmd.Process.Kill()
		<-d.done
	}
	os.RemoveAll(d.dir)
}
