package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// optionCost is the "options" section: the start cost of each option of
// the hardening profile (issue 15, "Cold start"), in a real systemd 252.
// Every variant (buildVariants) is a service running `benchrouter true` under the
// sandbox the generator writes for the hello app, minus or plus one option
// or one group; all are started once per round, in a new random order each
// round, so that load on the machine affects all alike. Figures are
// medians of:
//
//   - fork -> exec: ActiveEnterTimestampMonotonic minus
//     ExecMainStartTimestampMonotonic, systemd's own stamps: PID 1 stamps
//     the fork, and a Type=exec service becomes active when the child's
//     execve succeeded; in between the child builds the sandbox (user,
//     namespaces, mounts, credentials, seccomp);
//   - job: StartUnit to the job's end, as a client inside the guest sees
//     it (adds PID 1's work before the fork: cgroup, BPF programs, the
//     private /tmp directories);
//
// and each variant's exposure (systemd-analyze security --offline=true).
func (b *bench) optionCost(ctx context.Context) error {
	rounds := b.opts.optRounds
	mdir := filepath.Join(b.work, "options/m")
	if err := writeHelloManifest(mdir, "optbench", "listen: activation"); err != nil {
		return err
	}
	gen, err := generatedUnits(mdir)
	if err != nil {
		return err
	}
	keys, err := sandboxKeys()
	if err != nil {
		return err
	}
	full := sandboxOf(gen["ehecoatl-optbench-web.service"], keys)
	if len(full) == 0 {
		return fmt.Errorf("no sandbox in the generated ehecoatl-optbench-web.service")
	}
	var candidates [][]string
	for _, c := range strings.Split(b.opts.optDrop, ";") {
		var drop []string
		for _, k := range strings.Split(c, ",") {
			if k = strings.TrimSpace(k); k != "" {
				if len(without(full, []string{k})) == len(full) {
					return fmt.Errorf("-optdrop %s: the full profile has no such option", k)
				}
				drop = append(drop, k)
			}
		}
		if len(drop) > 0 {
			candidates = append(candidates, drop)
		}
	}
	vs := buildVariants(full, candidates)
	if b.opts.optFew {
		vs = slices.DeleteFunc(vs, func(v variant) bool {
			return v.kind == "minus" && !strings.HasPrefix(v.id, "candidate") || strings.HasPrefix(v.id, "p-")
		})
	}
	fmt.Printf("\n=== options: start cost of each sandbox option in a real systemd (%d variants x %d rounds, `benchrouter true`, Type=exec) ===\n", len(vs), rounds)

	m, err := b.bootGuest(ctx, "ehecoatl-optbench", map[string]string{
		"/usr/local/lib/ehecoatl-test/benchrouter": filepath.Join(b.bin, "benchrouter"),
	})
	if err != nil {
		return err
	}
	defer m.Close()
	run := func(argv ...string) (string, error) {
		c, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		out, errOut, err := m.Run(c, argv...)
		if err != nil {
			return out, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, errOut)
		}
		return out, nil
	}
	for _, v := range vs {
		if err := m.WriteFile("/run/systemd/system/"+v.unit(), []byte(v.benchUnit()), 0o644); err != nil {
			return err
		}
	}
	if _, err := run("sh", "-c", `set -e
mkdir -p /srv/optbench && umask 077 && echo s3cret > /srv/optbench/secret
test -d /run/ehecoatl-root
`+oldRootScript+`
systemctl daemon-reload`); err != nil {
		return err
	}
	expo, err := exposures(run, vs)
	if err != nil {
		return err
	}
	var names []string
	for _, v := range vs {
		names = append(names, v.unit())
	}
	// A first round, not counted: caches get warm, and a variant systemd
	// cannot start (its sandbox lacks what `benchrouter true` needs) is
	// reported and left out.
	first, err := startRound(run, names)
	if err != nil {
		return err
	}
	names = names[:0]
	var kept []variant
	for i, s := range first {
		if err := s.check(); err != nil {
			fmt.Printf("  left out, does not start: %s (%s): %v\n", vs[i].name, vs[i].unit(), err)
			continue
		}
		names = append(names, s.Unit)
		kept = append(kept, vs[i])
	}
	vs = kept
	samples := map[string][]startSample{}
	rng := rand.New(rand.NewPCG(1, 15))
	t0 := time.Now()
	for r := 0; r < rounds; r++ {
		order := append([]string(nil), names...)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		got, err := startRound(run, order)
		if err != nil {
			return err
		}
		for _, s := range got {
			if err := s.check(); err != nil {
				return fmt.Errorf("round %d: %w", r+1, err)
			}
			samples[s.Unit] = append(samples[s.Unit], s)
		}
		if (r+1)%5 == 0 {
			fmt.Printf("  round %d/%d (%s, %s)\n", r+1, rounds, time.Since(t0).Round(time.Second), loadavg())
		}
	}
	b.optionReport(vs, samples, expo)
	return nil
}

// writeHelloManifest writes one tenant with the hello app as web.
func writeHelloManifest(mdir, tenant, listen string) error {
	if err := os.MkdirAll(filepath.Join(mdir, "tenants"), 0o755); err != nil {
		return err
	}
	cmd := "[/usr/local/lib/ehecoatl-test/hello]"
	if strings.HasPrefix(listen, "port:") {
		cmd = "[/usr/local/lib/ehecoatl-test/hello, --port, \"" + strings.TrimSpace(strings.TrimPrefix(listen, "port:")) + "\"]"
	}
	manifest := fmt.Sprintf("tenant: %s\napps:\n  web:\n    command: %s\n    %s\n    domains: [%s.test]\n    idle_timeout: 0\n", tenant, cmd, listen, tenant)
	return os.WriteFile(filepath.Join(mdir, "tenants", tenant+".yaml"), []byte(manifest), 0o644)
}

// startRound runs the guest driver over units, in that order.
func startRound(run guestRun, units []string) ([]startSample, error) {
	out, err := run(append([]string{"/usr/local/lib/ehecoatl-test/benchrouter", "optstart"}, units...)...)
	if err != nil {
		return nil, err
	}
	var got []startSample
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var s startSample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("driver output %q: %w", sc.Text(), err)
		}
		got = append(got, s)
	}
	if len(got) != len(units) || len(got) > 0 && got[0].Unit != units[0] {
		return nil, fmt.Errorf("driver reported %d starts of %d:\n%s", len(got), len(units), out)
	}
	return got, nil
}

// check says whether a start succeeded and has systemd's timestamps.
func (s startSample) check() error {
	if s.Error != "" || s.Result != "done" || s.Fork == 0 || s.Active < s.Fork {
		return fmt.Errorf("start of %s: result %q, error %q, fork %d, active %d", s.Unit, s.Result, s.Error, s.Fork, s.Active)
	}
	return nil
}

var reExposure = regexp.MustCompile(`Overall exposure level for (\S+): ([0-9.]+)`)

// exposures scores every variant's unit file with the guest's
// systemd-analyze.
func exposures(run guestRun, vs []variant) (map[string]float64, error) {
	args := []string{"systemd-analyze", "security", "--offline=true", "--no-pager"}
	for _, v := range vs {
		args = append(args, "/run/systemd/system/"+v.unit())
	}
	out, err := run(args...)
	if err != nil {
		return nil, err
	}
	e := map[string]float64{}
	for _, m := range reExposure.FindAllStringSubmatch(out, -1) {
		f, _ := strconv.ParseFloat(m[2], 64)
		e[m[1]] = f
	}
	if len(e) != len(vs) {
		return nil, fmt.Errorf("%d exposure scores for %d variants:\n%s", len(e), len(vs), out)
	}
	return e, nil
}

// optionReport prints the option-cost table: per variant its medians,
// what it adds (a "minus" variant: full minus it; a "plus" one: it minus
// full; the bases: against the minimal sandbox) and its exposure.
func (b *bench) optionReport(vs []variant, samples map[string][]startSample, expo map[string]float64) {
	med := func(v variant) (fork, job float64) {
		var f, j []float64
		for _, s := range samples[v.unit()] {
			f = append(f, float64(s.Active-s.Fork)/1000)
			j = append(j, float64(s.Done-s.Call)/1000)
		}
		return median(f), median(j)
	}
	base := map[string]variant{}
	for _, v := range vs {
		if v.kind == "base" {
			base[v.id] = v
		}
	}
	ff, fj := med(base["full"])
	mf, mj := med(base["minimal"])
	fe := expo[base["full"].unit()]
	fmt.Printf("\n(n = %d per variant; fork->exec = systemd's ExecMainStart -> ActiveEnter; job = StartUnit -> job done; p50)\n", len(samples[base["full"].unit()]))
	fmt.Printf("%-62s %8s %8s %9s %9s %8s %8s\n", "variant", "fork>exec", "job", "+fork>exec", "+job", "exposure", "+expo")
	for _, v := range vs {
		f, j := med(v)
		e := expo[v.unit()]
		var df, dj, de float64
		switch v.kind {
		case "minus": // what the option costs and scores in the full profile
			df, dj, de = ff-f, fj-j, fe-e
		case "plus":
			df, dj, de = f-ff, j-fj, e-fe
		default:
			df, dj, de = f-mf, j-mj, e-expo[base["minimal"].unit()]
		}
		fmt.Printf("%-62s %8.1f %8.1f %+9.1f %+9.1f %8.1f %+8.1f\n", v.name, f, j, df, dj, e, de)
	}
	fmt.Printf("(+ columns: minus rows: full - (full without it), i.e. what it adds to the full profile and how much exposure it removes (negative); plus rows: (full with it) - full; base rows: against the minimal sandbox)\n")
	b.sum.info("options", "fork->exec p50 full / minimal / none", fmt.Sprintf("%.1f / %.1f / %.1f ms", ff, mf, func() float64 { f, _ := med(base["none"]); return f }()))
	b.sum.info("options", "job p50 full / minimal", fmt.Sprintf("%.1f / %.1f ms", fj, mj))
	b.sum.info("options", "fork->exec ratio full / minimal", fmtRatio(ff/mf))
	b.sum.check("options", "exposure of the full profile (activation app)", fmt.Sprintf("%.1f", fe), "<= 1.5", fe <= 1.5)
}
