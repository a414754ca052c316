package apply

// An apply whose inputs are those of the last one plans from what it kept
// of that one (applied-inputs.json, inputs.go) instead of validating and
// rendering the directory again (docs/DESIGN.md "Apply at scale"). The
// inputs are everything the state is a function of:
//   - every read validation makes (manifest.Observer): the manifest
//     directory's listings, each entry's type, each manifest's bytes; how
//     read_only and connect paths resolve on this host and what they are;
//     the secrets' directories and files (owner, mode, links) and each
//     secret's content. Validation reads nothing else; the translator
//     reads nothing but the set and its options;
//   - the binary (its Go build id, and the executable's inode, size and
//     times): the templates, the translator and the rules are in it;
//   - the options (layout root, generator options, generations kept),
//     the directory's absolute path, the effective uid and the operator's
//     stops;
//   - the installed generation (its id and a hash of its files' inodes,
//     sizes and times), which Install would otherwise compare with the
//     rendering, and an empty drain record, whose instances are rolled
//     from the set.
// The steps that look at the host (daemon-reload by the generator's
// digest, stop, reset-failed, listen, start-router, reload-router) run as
// always, so a crash, a hand-deleted unit or a stopped socket converges.

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ehecoatl/ehecoatl/drains"
	"github.com/ehecoatl/ehecoatl/history"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/plan"
	"github.com/ehecoatl/ehecoatl/preflight"
	"github.com/ehecoatl/ehecoatl/stops"
)

// FullEnv, set to 1, makes every apply validate and render
// (Options.Full).
const FullEnv = "EHECOATL_APPLY_FULL"

// Why an apply rendered, or did not (Result.Render).
const (
	RenderSkipped  = "skipped: no input changed since the last apply (apply --full renders anyway)"
	renderAsked    = "full: asked for (--full or " + FullEnv + "=1)"
	renderNoRecord = "full: the record holds no inputs (first apply, an apply by an older Ehecoatl or with --full, or one whose directory changed while it was read)"
	renderChanged  = "full: an input changed (manifests, secrets, host paths, stops, options or the binary)"
	renderInstall  = "full: the installed generation is not the one the last apply left"
	renderDrained  = "full: a rollout left instances drained"
)

// binaryID identifies the running binary: the executable file's identity
// and its Go build id. "" when the executable cannot be found: then no
// inputs are recorded and no apply skips.
var binaryID = sync.OnceValue(func() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return ""
	}
	id := stamp(fi)
	if f, err := elf.Open(exe); err == nil {
		if s := f.Section(".note.go.buildid"); s != nil {
			if b, err := s.Data(); err == nil {
				id += " " + hex.EncodeToString(b)
			}
		}
		f.Close()
	}
	return id
})

// stamp is what a file is without reading it: an edit, a replacement or
// a change of mode or owner changes it (the change time is the kernel's).
func stamp(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
	}
	return fmt.Sprintf("%v %d %d %d %d %d.%d %d.%d", fi.Mode(), st.Ino, st.Size, st.Uid, st.Gid, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}

// inputsKey hashes the inputs of an apply besides its reads. "" when the
// binary cannot be identified.
func inputsKey(dir string, opts Options, rec stops.Record) string {
	bin := binaryID()
	if bin == "" {
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	var held []string
	for _, s := range rec.Stops {
		held = append(held, s.Target())
	}
	sort.Strings(held)
	h := sha256.New()
	// Keep: how many generations Install keeps, which it collects.
	fmt.Fprintf(h, "binary %s\ndir %s\nlayout %#v\ngenerator %#v\nkeep %d\nstops %q\neuid %d\n",
		bin, abs, opts.Layout, opts.Generator, opts.Keep, held, os.Geteuid())
	return hex.EncodeToString(h.Sum(nil))
}

// inputsOf are the inputs want was rendered from; nil when a read changed
// during validation (obs not stable) or the binary is unknown.
func inputsOf(want *plan.State, obs *manifest.Observer, dir string, opts Options, rec stops.Record, digest string, set *manifest.Set, rep *manifest.Report) *inputs {
	reads, results, ok := obs.Reads()
	key := inputsKey(dir, opts, rec)
	if !ok || key == "" {
		return nil
	}
	return &inputs{Key: key, Reads: reads, Results: results, Digest: digest, Apps: appsOf(want),
		Needs: preflight.NeedsOf(set).Names(), Warnings: warningsOf(rep.Findings)}
}

// installedStamp identifies the installed generation: its id and a hash
// of the links that make it visible and of every file and directory in
// it, by stamp. An edit of /etc/ehecoatl/tenants/x.yaml, a file added or
// removed, or another generation made current changes it.
func installedStamp(etc string) (gen, sum string, err error) {
	h := sha256.New()
	for _, l := range append([]string{currentLink}, subdirs...) {
		t, err := os.Readlink(filepath.Join(etc, l))
		if err != nil {
			return "", "", err
		}
		fmt.Fprintf(h, "link %s %s\n", l, t)
	}
	gen = history.CurrentID(etc)
	dir := filepath.Join(etc, generationsDir, gen)
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", "", err
	}
	b, err := stampTree([]byte(stamp(fi)+"\n"), dir, "")
	if err != nil {
		return "", "", err
	}
	h.Write(b)
	return gen, hex.EncodeToString(h.Sum(nil)), nil
}

// stampTree appends to b a line per entry below dir (rel is its name in
// the tree), sorted, with what stamp gives of it; fstatat(2) on the
// directory's descriptor, not a walk resolving thousands of full paths.
func stampTree(b []byte, dir, rel string) ([]byte, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(int(f.Fd()), n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, &fs.PathError{Op: "fstatat", Path: filepath.Join(dir, n), Err: err}
		}
		b = append(b, rel...)
		b = append(b, '/')
		b = append(b, n...)
		b = statStamp(b, &st)
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if b, err = stampTree(b, filepath.Join(dir, n), rel+"/"+n); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// statStamp appends stamp's fields of st.
func statStamp(b []byte, st *unix.Stat_t) []byte {
	for _, v := range []int64{int64(st.Mode), int64(st.Ino), st.Size, int64(st.Uid), int64(st.Gid), st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec} {
		b = append(b, ' ')
		b = strconv.AppendInt(b, v, 10)
	}
	return append(b, '\n')
}

// renderReason says why an apply of dir must validate and render, or ""
// when in, the inputs kept with the record, are this apply's (the record
// is then what it would render to). Called under the lock.
func renderReason(dir string, opts Options, in *inputs) (string, error) {
	if opts.Full {
		return renderAsked, nil
	}
	if in == nil || in.Key == "" {
		return renderNoRecord, nil
	}
	srec, err := stops.Load(opts.Layout.Stops())
	if err != nil {
		return "", fmt.Errorf("apply: %w", err)
	}
	// The cheap inputs first, then the reads, which stop at the first
	// that differs.
	if inputsKey(dir, opts, srec) != in.Key || !manifest.Same(dir, in.Reads, in.Results) {
		return renderChanged, nil
	}
	gen, sum, err := installedStamp(opts.Layout.Etc())
	if err != nil || gen != in.Generation || sum != in.Installed {
		return renderInstall, nil
	}
	// A failed rollout's drained instances are rolled again from the
	// set (engine.recoverDrained).
	if d, err := drains.Load(opts.Layout.Path(naming.DrainFile)); err != nil || len(d) > 0 {
		return renderDrained, nil
	}
	return "", nil
}

// applyUnchanged is Apply when no input changed since the last apply: the
// plan is the recorded state against itself, and the steps run as always.
// When an input changed it returns no result and why, and Apply renders.
func applyUnchanged(ctx context.Context, dir string, sd Systemd, opts Options, t0 time.Time) (res *Result, why string, err error) {
	unlock, err := lock(opts.Layout)
	if err != nil {
		return nil, "", err
	}
	defer unlock()
	res = &Result{}
	tm := &timer{res: res, last: t0}
	in, err := loadInputs(opts.Layout)
	if err != nil {
		return nil, "", err
	}
	tm.lap("current")
	if why, err = renderReason(dir, opts, in); err != nil || why != "" {
		return nil, why, err
	}
	tm.lap("inputs")
	res.Render = RenderSkipped
	res.Warnings = in.findings()
	if opts.Preflight != nil {
		res.Preflight = preflight.Run(ctx, *opts.Preflight, preflight.NeedsNamed(in.Needs))
		if failed := preflight.Failed(res.Preflight); len(failed) > 0 {
			return res, "", fmt.Errorf("apply: %w", &preflight.Error{Failed: failed})
		}
	}
	tm.lap("preflight")
	st := in.state()
	p := plan.Diff(st, st)
	p.Warnings = res.Warnings
	notePerWorkerState(p, st, opts.Layout)
	res.Plan = p
	tm.lap("plan")
	if opts.Planned != nil {
		opts.Planned(p)
	}
	defer res.took("total", t0)
	if _, err := sd.ListUnits(ctx, naming.RootTarget); err != nil {
		return res, "", fmt.Errorf("apply: systemd: %w (nothing was changed)", err)
	}
	e := newEngine(sd, dir, opts, p)
	e.digest, e.skipped = in.Digest, true
	t1 := time.Now()
	res.Done, err = e.run(ctx, p.Steps)
	res.took("steps", t1)
	res.Timings = append(res.Timings, e.timings...)
	if err != nil {
		return res, "", fmt.Errorf("apply: %w", err)
	}
	return res, "", nil
}
