// Command benchrouter is `make bench-router`: the Benchmark section of the
// router issue, in one run on this machine.
//
//  1. throughput: wrk with keep-alive against the backend directly, nginx
//     reverse-proxying to it, and ehecoatl-router, in interleaved rounds
//     (throughput.go);
//  2. cold start: 50 socket-activated starts of a tenant app through the
//     router in a real systemd 252 booted with tests/harness, against warm
//     requests and raw activation without the router, interleaved with the
//     same app under the minimal sandbox (issue 15's reference) and with a
//     port: app behind its bridge (coldstart.go);
//  3. memory: the router's RSS with 10,000 routes, its load and SIGHUP
//     reload times (memory.go);
//  4. TLS: against nginx with the same ECDSA P-256 certificate, new TLS
//     connections per second (one request each, full handshakes), keep-alive
//     requests per second over TLS (wrk), and HTTP/2 requests per second
//     (h2load) beside them, in interleaved rounds (tls.go);
//  5. options (only with -sections options): the start cost and exposure
//     of each option of the hardening profile, one at a time and by the
//     groups systemd implements together, in a real systemd 252
//     (options.go);
//  6. syscalls, only when named (-sections syscalls): system calls and
//     context switches per proxied request of the router and nginx on the
//     throughput section's stack (syscalls.go);
//
// then a summary with every figure, its target and PASS/MISS.
//
// Everything it starts (backend, routers, nginx, wrk, the guest systemd)
// runs in process groups it kills at the end, on failure, and on SIGINT,
// SIGTERM or SIGHUP; a run killed with SIGKILL leaves a record that the next
// run sweeps (procs.go). Only 127.0.0.1 is used.
//
// `benchrouter backend ...` is the benchmark's backend (backend.go), run by
// benchrouter itself.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags; the defaults keep a full run within
// about five minutes on a 2-core machine (the TLS section about 80 s of it).
type options struct {
	rounds    int           // wrk rounds per target
	secs      int           // seconds per wrk run
	conns     int           // wrk connections
	body      int           // backend response body in bytes
	cold      int           // cold-start iterations (a cold and a warm GET per app and way each)
	tenants   int           // tenants of the memory section (2 routes each)
	sections  string        // comma-separated subset of throughput,syscalls,coldstart,memory,tls,options
	optRounds int           // rounds of the options section (each starts every variant once)
	optDrop   string        // options section: also full without these keys (comma-separated; candidates separated by ";")
	optFew    bool          // options section: only the bases, candidates and swaps
	coldOther bool          // cold-start section: also the app run the other way (launcher or not)
	coldOld   bool          // with coldOther: and on the previous release's root and binds
	timeout   time.Duration // bound of the whole run
	keepTmp   bool          // keep the work directory (logs) for inspection
	hold      bool          // keep the cold-start machine until interrupted

	// TLS section
	tlsRounds int    // rounds per test and target (interleaved)
	tlsSecs   int    // seconds per run
	tlsConns  int    // concurrent clients of the new-connection test
	tlsCPUs   string // CPU configurations (nginx workers = router GOMAXPROCS), comma-separated

	sysSecs int // syscalls section: seconds per load and target

	routerProfile string // directory for the throughput routers' CPU profiles (-routerprofile)
	routerBin     string // the throughput routers' binary instead of the one built (-routerbin)
	epollRef      bool   // throughput and syscalls: also the epoll-loop reference proxy (-epollref)
	epollRaw      bool   // and its -raw variant (-epollraw, implies -epollref)
	goroutinePath bool   // the router with --loops 0 too (-goroutinepath)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "backend" {
		os.Exit(backendMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "optstart" {
		os.Exit(optDriverMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "true" {
		// The service of every option-cost variant: a static binary
		// below /usr, so that it runs in any of their roots.
		os.Exit(0)
	}
	var o options
	flag.IntVar(&o.rounds, "rounds", 7, "wrk rounds per target (interleaved)")
	flag.IntVar(&o.secs, "secs", 3, "seconds per wrk run")
	flag.IntVar(&o.conns, "conns", 64, "wrk keep-alive connections")
	flag.IntVar(&o.body, "body", 13, "backend response body in bytes")
	flag.IntVar(&o.cold, "cold", 50, "cold-start iterations: per app (full sandbox, minimal sandbox, port: app), a cold and a warm GET through the router and as many raw")
	flag.IntVar(&o.tenants, "tenants", 5000, "tenants of the memory section (1 app, 2 domains each)")
	flag.StringVar(&o.sections, "sections", "throughput,coldstart,memory,tls", "sections to run, comma-separated (e.g. -sections tls); also options (about 5 minutes) and syscalls (the system-call profile), run only when named")
	flag.StringVar(&o.optDrop, "optdrop", "", "options section: also measure the full profile without these options at once, e.g. ProtectKernelTunables,ProtectHome (a candidate profile; several separated by ;)")
	flag.BoolVar(&o.coldOther, "coldlauncher", false, "cold-start section: also measure the full-sandbox app with its command run the other way, interleaved: through the launcher (ehecoatl-exec) when the generator puts the program into ExecStart=, and the other way round")
	flag.BoolVar(&o.coldOld, "coldbefore", false, "cold-start section: -coldlauncher, and that app also on the sandbox root of directories with binds for /bin, /sbin and /lib* (the previous release's app, interleaved with today's)")
	flag.BoolVar(&o.optFew, "optfew", false, "options section: measure only no sandbox, minimal, full, the -optdrop candidates and the swaps (more rounds in the same time)")
	flag.IntVar(&o.optRounds, "optrounds", 30, "options section: rounds, each starting every variant once (interleaved, new order each round)")
	flag.IntVar(&o.tlsRounds, "tlsrounds", 5, "TLS section: rounds per test and target (interleaved)")
	flag.IntVar(&o.tlsSecs, "tlssecs", 2, "TLS section: seconds per run")
	flag.IntVar(&o.tlsConns, "tlsconns", 16, "TLS section: concurrent clients opening new connections")
	flag.StringVar(&o.tlsCPUs, "tlscpus", "2", "TLS section: CPU configurations, nginx worker_processes = router GOMAXPROCS, comma-separated (e.g. 1,2)")
	flag.StringVar(&o.routerBin, "routerbin", "", "throughput section: run this ehecoatl-router `FILE` (another version) instead of the one built from this tree, to compare versions against the same nginx")
	flag.BoolVar(&o.epollRef, "epollref", false, "throughput and syscalls sections: also measure tests/benchrouter/epollproxy, a minimal Go epoll-loop proxy (1 loop with GOMAXPROCS=1, 2 loops), as the ceiling of an epoll data plane against nginx and the router (docs/DESIGN.md)")
	flag.BoolVar(&o.goroutinePath, "goroutinepath", false, "throughput section: also measure the router with --loops 0 (every connection on the goroutine path) beside each router")
	flag.BoolVar(&o.epollRaw, "epollraw", false, "with -epollref: also the epoll proxy with -raw (its socket calls through RawSyscall)")
	flag.StringVar(&o.routerProfile, "routerprofile", "", "write a CPU profile of each throughput router (router1, router2) to `DIR`/NAME.pprof, for go tool pprof")
	flag.IntVar(&o.sysSecs, "syssecs", 3, "syscalls section (-sections syscalls, not run by default): seconds per load, target and way (plain, under strace)")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up after this long")
	flag.BoolVar(&o.keepTmp, "keep", false, "keep the work directory (logs, configs) and print its path")
	flag.BoolVar(&o.hold, "hold", false, "after the cold-start section, keep its machine running until Ctrl-C (to inspect it with nsenter)")
	flag.Parse()
	o.coldOther = o.coldOther || o.coldOld
	o.epollRef = o.epollRef || o.epollRaw
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "benchrouter: unexpected arguments: %s\n", strings.Join(flag.Args(), " "))
		os.Exit(2)
	}
	os.Exit(run(o))
}

// bench is the state shared by the sections.
type bench struct {
	opts  options
	repo  string // repository root
	work  string // temporary work directory, removed at the end
	bin   string // freshly built binaries
	procs *procs
	sum   *summary
}

func run(o options) int {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	// SIGINT/SIGTERM/SIGHUP cancel the run; the deferred cleanups below do
	// the rest. The harness also tears its machine down on these signals
	// (and re-raises them, which this handler swallows).
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	// Output piped into a reader that quits (| head) must not kill the run
	// before its cleanup: with SIGPIPE notified, such writes just fail.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	go func() {
		for s := range sigs {
			if ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "\nbenchrouter: %v: stopping and cleaning up\n", s)
			}
			cancel()
		}
	}()

	sweepStale()
	repo, err := repoRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchrouter: %v\n", err)
		return 1
	}
	work, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", workPrefix, os.Getpid()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchrouter: %v\n", err)
		return 1
	}
	b := &bench{opts: o, repo: repo, work: work, bin: filepath.Join(work, "bin"), sum: &summary{}}
	b.procs = &procs{record: filepath.Join(work, "procs")}
	if err := b.procs.writeOwner(); err != nil {
		fmt.Fprintf(os.Stderr, "benchrouter: %v\n", err)
	}
	defer func() {
		b.procs.stopAll()
		if o.keepTmp {
			fmt.Printf("\nwork directory kept: %s\n", work)
		} else {
			os.RemoveAll(work)
		}
	}()

	began := time.Now()
	fmt.Printf("ehecoatl router benchmark — %s, %d CPUs, %s\n", time.Now().Format(time.RFC3339), runtime.NumCPU(), loadavg())
	if err := b.build(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "benchrouter: %v\n", err)
		return 1
	}

	sections := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"throughput", b.throughput},
		{"syscalls", b.syscalls},
		{"coldstart", b.coldStart},
		{"memory", b.memory},
		{"tls", b.tlsBench},
		{"options", b.optionCost},
	}
	want := map[string]bool{}
	for _, s := range strings.Split(o.sections, ",") {
		want[strings.TrimSpace(s)] = true
	}
	failed := 0
	for _, s := range sections {
		if !want[s.name] {
			continue
		}
		if ctx.Err() != nil {
			b.sum.errorf(s.name, "not run: %v", context.Cause(ctx))
			failed++
			continue
		}
		t0 := time.Now()
		err := s.fn(ctx)
		b.procs.stopAll() // whatever the section left, even on error
		if err != nil {
			fmt.Printf("\n%s: ERROR: %v\n", s.name, err)
			b.sum.errorf(s.name, "%v", err)
			failed++
		}
		fmt.Printf("(%s took %s)\n", s.name, time.Since(t0).Round(100*time.Millisecond))
	}

	b.sum.print(os.Stdout)
	fmt.Printf("\ntotal %s\n", time.Since(began).Round(time.Second))
	if failed > 0 {
		return 1
	}
	return 0
}

// build compiles the binaries under test into b.bin, as the package ships
// them (static, stripped).
func (b *bench) build(ctx context.Context) error {
	fmt.Printf("building ehecoatl, ehecoatl-router, ehecoatl-generator, ehecoatl-exec, hello, benchrouter into %s\n", b.bin)
	// benchrouter itself: the option-cost section runs its "optstart"
	// driver inside the guest.
	pkgs := []string{"cmd/ehecoatl", "cmd/ehecoatl-router", "cmd/ehecoatl-generator", "cmd/ehecoatl-exec", "tests/apps/hello", "tests/benchrouter"}
	if b.opts.epollRef {
		pkgs = append(pkgs, "tests/benchrouter/epollproxy")
	}
	for _, pkg := range pkgs {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w",
			"-o", filepath.Join(b.bin, filepath.Base(pkg)), "./"+pkg)
		cmd.Dir = b.repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./%s: %v\n%s", pkg, err, out)
		}
	}
	return nil
}

// repoRoot finds the module root from the working directory upwards.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			sc.Scan()
			f.Close()
			if strings.TrimSpace(sc.Text()) == "module github.com/ehecoatl/ehecoatl" {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the ehecoatl repository (run it from the repository: make bench-router)")
		}
		dir = parent
	}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load average unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "load average unknown"
	}
	return "load average " + strings.Join(f[:3], " ")
}
