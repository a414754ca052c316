// Command demo is `make demo`: it boots a disposable systemd (or, after
// asking, uses the host's), installs Ehecoatl as the package would, applies
// examples/, starts the router on a free local port and fetches a page from
// every example tenant through it, then prints `ehecoatl status` and
// `ehecoatl top --once`.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/ehecoatl/ehecoatl/tests/harness"
	"github.com/ehecoatl/ehecoatl/tests/install"
)

func main() {
	keep := flag.Bool("keep", false, "keep the machine running until Ctrl-C (to try ehecoatl commands inside)")
	useHost := flag.Bool("host", false, "use this host's systemd without asking")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *keep, *useHost); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// target runs commands where Ehecoatl is installed: a booted container or
// the host itself.
type target interface {
	run(ctx context.Context, argv ...string) (string, error)
	install(files map[string]string) error
	close() error
}

func run(ctx context.Context, keep, useHost bool) error {
	repo, err := repoRoot()
	if err != nil {
		return err
	}
	bin := filepath.Join(repo, "bin")
	files := install.Files(repo, bin)
	for _, host := range files {
		if _, err := os.Stat(host); err != nil {
			return fmt.Errorf("%w (run 'make build' first)", err)
		}
	}
	var t target
	if hostHasSystemd() {
		if !useHost && !ask("This host runs systemd. Install Ehecoatl here and apply examples/ to it?") {
			return fmt.Errorf("not using the host; nothing was changed")
		}
		t = hostTarget{}
		if err := t.install(files); err != nil {
			return err
		}
	} else {
		step("booting a disposable systemd 252 (systemd-nspawn over a copy-on-write view of /)")
		m, err := harness.Boot(ctx, harness.Options{Files: files})
		if err != nil {
			return err
		}
		t = &machineTarget{m: m}
		fmt.Printf("   booted %s in %s\n", m.Name(), m.BootTime().Round(time.Millisecond))
	}
	defer t.close()

	port, err := install.FreePort()
	if err != nil {
		return err
	}
	step("installing the router socket on 127.0.0.1:%d (a drop-in replaces port 80)", port)
	dropIn := fmt.Sprintf("[Socket]\nListenStream=\nListenStream=127.0.0.1:%d\n", port)
	if _, err := t.run(ctx, "sh", "-c", "mkdir -p /run/systemd/system/ehecoatl-router.socket.d && cat > /run/systemd/system/ehecoatl-router.socket.d/demo.conf <<'EOF'\n"+dropIn+"EOF\nsystemd-sysusers && systemd-tmpfiles --create /usr/lib/tmpfiles.d/ehecoatl.conf && systemctl daemon-reload && systemctl start ehecoatl-router.socket"); err != nil {
		return err
	}

	step("ehecoatl apply /usr/share/doc/ehecoatl/examples")
	out, err := t.run(ctx, "ehecoatl", "apply", "/usr/share/doc/ehecoatl/examples")
	fmt.Print(indent(out))
	if err != nil {
		return err
	}

	out, err = t.run(ctx, "ehecoatl", "routes", "--json")
	if err != nil {
		return err
	}
	var routes []struct{ Domain, Path, Tenant, App string }
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		return fmt.Errorf("ehecoatl routes --json: %w", err)
	}
	step("fetching a page from every tenant through the router (cold apps start on this first request)")
	client := &http.Client{Timeout: 60 * time.Second}
	failed := 0
	seen := map[string]bool{}
	for _, r := range routes {
		host := strings.Replace(r.Domain, "*", "demo", 1)
		if seen[r.Tenant+"/"+r.App] {
			continue
		}
		seen[r.Tenant+"/"+r.App] = true
		url := fmt.Sprintf("http://127.0.0.1:%d%s", port, r.Path)
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		req.Host = host
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			fmt.Printf("   %-28s %-16s ERROR %v\n", host, r.Tenant+"/"+r.App, err)
			failed++
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != 200 {
			failed++
		}
		fmt.Printf("   curl -H 'Host: %s' %s -> %d in %s: %s\n", host, url, resp.StatusCode, time.Since(start).Round(time.Millisecond), firstLine(body))
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
	req.Host = "unknown.example.test"
	if resp, err := client.Do(req); err == nil {
		fmt.Printf("   unknown host -> %d (no tenant's content)\n", resp.StatusCode)
		resp.Body.Close()
	}

	step("ehecoatl status")
	out, err = t.run(ctx, "ehecoatl", "status")
	fmt.Print(indent(out))
	if err != nil {
		return err
	}
	if _, ok := t.(*machineTarget); ok {
		fmt.Println("   (MEMORY, CPU and TASKS show \"-\" here: this container's hybrid cgroup layout does no accounting; a host with cgroup v2 shows them)")
	}
	// The router counts every request above; ehecoatl top reads its
	// metrics endpoint (docs/METRICS.md, default 127.0.0.1:9808).
	step("ehecoatl top --once")
	out, err = t.run(ctx, "ehecoatl", "top", "--once")
	fmt.Print(indent(out))
	if err != nil {
		return fmt.Errorf("ehecoatl top --once: %w", err)
	}
	if failed > 0 {
		return fmt.Errorf("%d tenant(s) did not answer 200", failed)
	}
	if keep {
		if mt, ok := t.(*machineTarget); ok {
			fmt.Printf("\nthe machine keeps running; try: nsenter -t %d -a ehecoatl status\n(Ctrl-C to stop it)\n", mt.m.PID())
		}
		<-ctx.Done()
	}
	return nil
}

func step(format string, a ...any) { fmt.Printf("\n== "+format+"\n", a...) }

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "   " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n   ") + "\n"
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 90 {
		s = s[:90] + "..."
	}
	return s
}

func hostHasSystemd() bool {
	comm, _ := os.ReadFile("/proc/1/comm")
	_, err := os.Stat("/run/systemd/system")
	return err == nil && strings.TrimSpace(string(comm)) == "systemd"
}

func ask(q string) bool {
	fmt.Printf("%s [y/N] ", q)
	ans, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(ans))
	return a == "y" || a == "yes"
}

func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot find the repository")
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(file))), nil
}

type machineTarget struct{ m *harness.Machine }

func (t *machineTarget) run(ctx context.Context, argv ...string) (string, error) {
	out, _, err := t.m.Run(ctx, argv...)
	return out, err
}
func (t *machineTarget) install(map[string]string) error { return nil }
func (t *machineTarget) close() error                    { return t.m.Close() }

type hostTarget struct{}

func (hostTarget) run(ctx context.Context, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	return string(out), err
}

func (hostTarget) install(files map[string]string) error {
	for guest, host := range files {
		if err := os.MkdirAll(filepath.Dir(guest), 0o755); err != nil {
			return err
		}
		if out, err := exec.Command("cp", "-a", "-T", host, guest).CombinedOutput(); err != nil {
			return fmt.Errorf("install %s: %v: %s", guest, err, out)
		}
	}
	return nil
}

func (hostTarget) close() error { return nil }
