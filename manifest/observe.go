package manifest

// What a Load reads from the host, so that apply can tell that a
// directory would load to the same set without parsing it again
// (docs/DESIGN.md "Apply at scale"). Everything validation learns from the
// host passes through an Observer: the manifest directory's listings,
// file types, sizes and bytes (the loader reads it only through the fs.FS
// that Observer.fs wraps), how read_only and connect paths resolve and
// what they are (host), and what the secret files are and hold
// (SecretFiles.Observe, ReadNoFollow). Load is a function of those
// results alone, so the same results give the same set and findings.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Observer notes every read a Load makes and its result. A nil Observer
// notes nothing.
type Observer struct {
	mu   sync.Mutex
	seen map[string]string // op -> result
	// unstable: one op gave two results within one load (a file changed
	// while it was read): what was validated is not one state of the host.
	unstable bool
}

// NewObserver returns an empty Observer.
func NewObserver() *Observer { return &Observer{seen: map[string]string{}} }

func (o *Observer) note(op, result string) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if r, ok := o.seen[op]; ok && r != result {
		o.unstable = true
	}
	o.seen[op] = result
}

// Reads returns the reads noted, sorted, and a hash of each one's result
// (never the result: a secret's content is among them); ok is false when
// a read gave two results during the load.
func (o *Observer) Reads() (ops, results []string, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ops = make([]string, 0, len(o.seen))
	for op := range o.seen {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	results = make([]string, len(ops))
	for i, op := range ops {
		results[i] = resultHash(op, o.seen[op])
	}
	return ops, results, !o.unstable
}

func resultHash(op, result string) string {
	s := sha256.Sum256([]byte(op + "\x00" + result))
	return hex.EncodeToString(s[:16])
}

// Same makes the reads ops again, on the manifest directory dir and on
// this host, and reports whether each gives the result it gave when
// noted (results, from Reads): then the directory loads to the same set
// with the same findings. It stops at the first read that differs.
func Same(dir string, ops, results []string) bool {
	if len(ops) != len(results) {
		return false
	}
	o := NewObserver()
	fsys := o.fs(os.DirFS(dir))
	var differs atomic.Bool
	// The reads are independent: a thousand manifests are read on every
	// core.
	work := make(chan int, 64)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if differs.Load() {
					continue
				}
				if o.replay(fsys, ops[i]) != results[i] {
					differs.Store(true)
				}
			}
		}()
	}
	for i := range ops {
		if differs.Load() {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	return !differs.Load()
}

// replay makes one read of Reads again and returns its result's hash.
func (o *Observer) replay(fsys fs.FS, op string) string {
	kind, arg, _ := strings.Cut(op, " ")
	switch kind {
	case "dir":
		o.dir(arg)
	case "stat":
		fs.Stat(fsys, arg)
	case "readdir":
		fs.ReadDir(fsys, arg)
	case "open":
		fsys.Open(arg)
	case "eval":
		host{o}.eval(arg)
	case "mode":
		host{o}.stat(arg)
	case "hstat":
		o.hostStat(arg)
	case "lstat":
		o.lstat(arg)
	case "readlink":
		o.readlink(arg)
	case "secret":
		o.ReadNoFollow(arg)
	default:
		o.note(op, "unknown read")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return resultHash(op, o.seen[op])
}

func errResult(err error) string { return "error " + err.Error() }

func infoResult(fi fs.FileInfo) string {
	uid, links := owner(fi)
	return fmt.Sprintf("%v %d %d %d", fi.Mode(), fi.Size(), uid, links)
}

// dir stats the manifest directory itself, as Load does.
func (o *Observer) dir(p string) (fs.FileInfo, error) {
	fi, err := os.Stat(p)
	if err != nil {
		o.note("dir "+p, errResult(err))
	} else {
		o.note("dir "+p, infoResult(fi))
	}
	return fi, err
}

func (o *Observer) hostStat(p string) (fs.FileInfo, error) {
	fi, err := os.Stat(p)
	o.noteInfo("hstat "+p, fi, err)
	return fi, err
}

func (o *Observer) lstat(p string) (fs.FileInfo, error) {
	fi, err := os.Lstat(p)
	o.noteInfo("lstat "+p, fi, err)
	return fi, err
}

func (o *Observer) noteInfo(op string, fi fs.FileInfo, err error) {
	if err != nil {
		o.note(op, errResult(err))
		return
	}
	o.note(op, infoResult(fi))
}

func (o *Observer) readlink(p string) (string, error) {
	t, err := os.Readlink(p)
	if err != nil {
		o.note("readlink "+p, errResult(err))
	} else {
		o.note("readlink "+p, "to "+t)
	}
	return t, err
}

// ReadNoFollow reads the file p without following a link in its last
// element (a secret, read as root: a link swapped in since it was judged
// is not read), noting a hash of its content, never the content.
func (o *Observer) ReadNoFollow(p string) ([]byte, error) {
	b, err := readNoFollow(p)
	if err != nil {
		o.note("secret "+p, errResult(err))
		return nil, err
	}
	s := sha256.Sum256(b)
	o.note("secret "+p, hex.EncodeToString(s[:]))
	return b, nil
}

func readNoFollow(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// fs wraps the manifest directory: every Stat, ReadDir and Open the loader
// makes is noted with its result. An opened file is read whole at once
// (up to the size limit and one byte), so that what is noted is what the
// loader reads.
func (o *Observer) fs(fsys fs.FS) fs.FS {
	if o == nil {
		return fsys
	}
	return observedFS{fsys, o}
}

type observedFS struct {
	fsys fs.FS
	o    *Observer
}

func (f observedFS) Stat(name string) (fs.FileInfo, error) {
	fi, err := fs.Stat(f.fsys, name)
	f.o.noteInfo("stat "+name, fi, err)
	return fi, err
}

func (f observedFS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := fs.ReadDir(f.fsys, name)
	if err != nil {
		f.o.note("readdir "+name, errResult(err))
		return nil, err
	}
	var b strings.Builder
	for _, e := range ents {
		fmt.Fprintf(&b, "%s\x00%v\n", e.Name(), e.Type())
	}
	f.o.note("readdir "+name, b.String())
	return ents, nil
}

func (f observedFS) Open(name string) (fs.File, error) {
	file, err := f.fsys.Open(name)
	if err != nil {
		f.o.note("open "+name, errResult(err))
		return nil, err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		f.o.note("open "+name, errResult(err))
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(file, MaxFileSize+1))
	if err != nil {
		f.o.note("open "+name, errResult(err))
		return nil, err
	}
	s := sha256.Sum256(data)
	f.o.note("open "+name, hex.EncodeToString(s[:]))
	return &readFileAt{Reader: bytes.NewReader(data), fi: fi}, nil
}

// readFileAt is a file read whole by observedFS.Open.
type readFileAt struct {
	*bytes.Reader
	fi fs.FileInfo
}

func (r *readFileAt) Stat() (fs.FileInfo, error) { return r.fi, nil }
func (r *readFileAt) Close() error               { return nil }

// host is how validation looks at this host beyond the manifest
// directory: symbolic links of read_only and connect paths and what those
// paths are, each look noted by obs.
type host struct{ obs *Observer }

func (h host) eval(p string) (string, error) {
	r, err := evalSymlinks(p)
	if err != nil {
		h.obs.note("eval "+p, errResult(err))
	} else {
		h.obs.note("eval "+p, "to "+r)
	}
	return r, err
}

func (h host) stat(p string) (fs.FileMode, error) {
	m, err := statPath(p)
	if err != nil {
		h.obs.note("mode "+p, errResult(err))
	} else {
		h.obs.note("mode "+p, m.String())
	}
	return m, err
}
