package manifest

// Robustness: inputs meant to exhaust time or memory, files that must not
// be read, and properties every report has.

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func tenantFS(data []byte) fstest.MapFS {
	return fstest.MapFS{"tenants/acme.yaml": {Data: data, Mode: 0o644}}
}

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// bomb builds a "billion laughs" document with the given number of levels
// of nine aliases each: expanded, it would hold 9^levels strings.
func bomb(levels int) []byte {
	var b bytes.Buffer
	b.WriteString("tenant: acme\nlol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= levels; i++ {
		p := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, "lol%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(p+", ", 9), ", "))
	}
	return b.Bytes()
}

// TestAliasBomb: the committed billion-laughs case, and a deeper one
// (9^30 expanded strings), finish fast with a few hundred kB: aliases are
// refused without ever being followed.
func TestAliasBomb(t *testing.T) {
	committed, err := os.ReadFile(filepath.Join("testdata", "invalid", "alias_bomb", "tenants", "acme.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"committed": committed, "deep": bomb(30)} {
		t.Run(name, func(t *testing.T) {
			var rep *Report
			start := time.Now()
			bytes := allocated(func() { _, rep = LoadFS(tenantFS(data), "bomb") })
			took := time.Since(start)
			if !strings.Contains(rep.String(), "YAML alias") {
				t.Fatalf("aliases not reported:\n%s", rep)
			}
			if took > 250*time.Millisecond {
				t.Errorf("took %v; must be far below a second", took)
			}
			if bytes > 4<<20 {
				t.Errorf("allocated %d bytes; must stay bounded (a few hundred kB)", bytes)
			}
			allocs := testing.AllocsPerRun(5, func() { LoadFS(tenantFS(data), "bomb") })
			if allocs > 20000 {
				t.Errorf("%v allocations per load; the expansion must never happen", allocs)
			}
			t.Logf("%d input bytes: %v, %d bytes allocated, %.0f allocations", len(data), took, bytes, allocs)
		})
	}
}

// TestLargeInputs: the worst a 1 MiB file can do stays bounded.
func TestLargeInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: parses three inputs of about 1 MiB (a few seconds)")
	}
	n := MaxFileSize/2 - 64
	cases := map[string][]byte{
		"long flow list": []byte("tenant: acme\nx: [" + strings.Repeat("0,", n-8) + "0]\n"),
		"deep nesting":   []byte("tenant: acme\nx: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n"),
		"many keys":      []byte("tenant: acme\napps:\n" + strings.Repeat("  a: {}\n", MaxFileSize/9)),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if len(data) > MaxFileSize {
				t.Fatalf("test input is %d bytes, above the limit", len(data))
			}
			var rep *Report
			start := time.Now()
			bytes := allocated(func() { _, rep = LoadFS(tenantFS(data), "big") })
			took := time.Since(start)
			if !rep.HasErrors() {
				t.Fatal("no errors")
			}
			if len(rep.Findings) > maxFindingsPerFile+1 {
				t.Errorf("%d findings; the per-file cap is %d", len(rep.Findings), maxFindingsPerFile)
			}
			// Generous: the bound catches super-linear behaviour, not a
			// slow or loaded machine (about 2 s here for the flow list).
			if took > 30*time.Second {
				t.Errorf("took %v", took)
			}
			if bytes > 1<<30 {
				t.Errorf("allocated %d bytes", bytes)
			}
			t.Logf("%d bytes: %v, %d MB allocated, %d findings", len(data), took, bytes>>20, len(rep.Findings))
		})
	}
}

// sizedFS serves one tenant file whose Stat claims size and whose content
// is endless, counting the bytes read.
type sizedFS struct {
	size int64
	read *int64
}

func (s sizedFS) Open(name string) (fs.File, error) {
	switch name {
	case ".", "tenants":
		return &dirFile{name: name}, nil
	case "tenants/acme.yaml":
		return &endlessFile{size: s.size, read: s.read}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

type dirFile struct{ name string }

func (d *dirFile) Stat() (fs.FileInfo, error) { return info{d.name, 0, fs.ModeDir | 0o755}, nil }
func (d *dirFile) Read([]byte) (int, error)   { return 0, io.EOF }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) ReadDir(int) ([]fs.DirEntry, error) {
	if d.name == "tenants" {
		return []fs.DirEntry{fs.FileInfoToDirEntry(info{"acme.yaml", 0, 0o644})}, nil
	}
	return []fs.DirEntry{fs.FileInfoToDirEntry(info{"tenants", 0, fs.ModeDir | 0o755})}, nil
}

type endlessFile struct {
	size int64
	read *int64
}

func (f *endlessFile) Stat() (fs.FileInfo, error) { return info{"acme.yaml", f.size, 0o644}, nil }
func (f *endlessFile) Close() error               { return nil }
func (f *endlessFile) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '#'
	}
	*f.read += int64(len(p))
	return len(p), nil
}

type info struct {
	name string
	size int64
	mode fs.FileMode
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.size }
func (i info) Mode() fs.FileMode  { return i.mode }
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return i.mode.IsDir() }
func (i info) Sys() any           { return nil }

func TestLargeFileNotReadWhole(t *testing.T) {
	t.Run("size known", func(t *testing.T) {
		var read int64
		_, rep := LoadFS(sizedFS{size: 2 << 20, read: &read}, "big")
		if want := "tenants/acme.yaml: file is larger than 1 MiB (2097152 bytes) (hint: a manifest is a few kilobytes at most; split it or remove what does not belong in it)\n"; rep.String() != want {
			t.Errorf("got %q, want %q", rep.String(), want)
		}
		if read != 0 {
			t.Errorf("read %d bytes of a file whose size is known to be too large", read)
		}
	})
	t.Run("size misreported", func(t *testing.T) {
		var read int64
		_, rep := LoadFS(sizedFS{size: 10, read: &read}, "big")
		if want := "tenants/acme.yaml: file is larger than 1 MiB"; !strings.HasPrefix(rep.String(), want) {
			t.Errorf("got %q, want prefix %q", rep.String(), want)
		}
		if read > MaxFileSize+64<<10 {
			t.Errorf("read %d bytes of an endless file; at most about %d allowed", read, MaxFileSize+1)
		}
	})
}

// TestNonRegularFile: a FIFO would block a load forever if opened.
func TestNonRegularFile(t *testing.T) {
	fsys := fstest.MapFS{
		"tenants/acme.yaml": {Mode: fs.ModeNamedPipe | 0o644},
		"tenants/beta.yaml": {Data: []byte("tenant: beta\n"), Mode: 0o644},
	}
	_, rep := LoadFS(fsys, "x")
	want := "tenants/acme.yaml: not a regular file (p---------) (hint: manifests must be regular files (or links to them))\n"
	if rep.String() != want {
		t.Errorf("got %q, want %q", rep.String(), want)
	}
}

// TestGeneratedControlBytes covers bytes that are awkward in committed
// files: every C0 control, DEL and a C1 control in raw file text are
// refused with their position before YAML parsing.
func TestGeneratedControlBytes(t *testing.T) {
	for _, c := range []string{"\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\u0080", "\u009b", "\ufffe"} {
		data := []byte("tenant: acme\napps:\n  web:\n    command: [/bin/" + c + "x]\n")
		_, rep := LoadFS(tenantFS(data), "x")
		if len(rep.Findings) != 1 || rep.Findings[0].Line != 4 || rep.Findings[0].Col != 20 ||
			!strings.Contains(rep.Findings[0].Message, "is not allowed in YAML") {
			t.Errorf("%q: got %q", c, rep.String())
		}
	}
	// Tab, CR and NEL are allowed by YAML; a tab is refused in the value.
	_, rep := LoadFS(tenantFS([]byte("tenant: acme\r\napps:\r\n  web:\r\n    command: [\"/bin/\tx\"]\r\n    listen: activation\r\n    domains: [a.example.com]\r\n")), "x")
	if want := "tenants/acme.yaml:4:15 apps.web.command[0]: command[0] \"/bin/\\tx\" contains a tab (hint: paths cannot contain control characters)\n"; rep.String() != want {
		t.Errorf("got %q, want %q", rep.String(), want)
	}
}

func TestLoadMissingDir(t *testing.T) {
	set, rep := Load(filepath.Join(t.TempDir(), "nope"))
	if set != nil || !rep.HasErrors() || !strings.HasPrefix(rep.String(), "cannot read manifest directory ") {
		t.Errorf("got %v %q", set, rep.String())
	}
}

// TestSymlinkAndDotfiles: links are followed; dotfiles are ignored.
func TestSymlinkAndDotfiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tenants"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "acme.src")
	if err := os.WriteFile(src, []byte("tenant: acme\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(src, filepath.Join(dir, "tenants", "acme.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{".acme.yaml.swp", ".gitkeep", ".beta.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, "tenants", n), []byte("junk: ["), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, rep := Load(dir)
	if set == nil || len(rep.Findings) != 0 || len(set.Tenants) != 1 || set.Tenants[0].Name != "acme" {
		t.Fatalf("got %+v\n%s", set, rep)
	}
}

// TestDeterministic: the same directory gives byte-identical reports, and
// every report is sorted and one line per finding.
func TestDeterministic(t *testing.T) {
	for _, dir := range caseDirs(t, filepath.Join("testdata", "invalid")) {
		_, a := Load(dir)
		_, b := Load(dir)
		if a.String() != b.String() {
			t.Errorf("%s: two loads differ", dir)
		}
		checkReport(t, a)
	}
}

// checkReport asserts the properties every report has.
func checkReport(t testing.TB, r *Report) {
	t.Helper()
	if r == nil {
		t.Fatal("nil report")
	}
	s := r.String()
	if strings.Count(s, "\n") != len(r.Findings) {
		t.Fatalf("report has %d lines for %d findings:\n%s", strings.Count(s, "\n"), len(r.Findings), s)
	}
	for i, f := range r.Findings {
		if f.Message == "" {
			t.Fatalf("finding without message: %#v", f)
		}
		if i > 0 {
			p := r.Findings[i-1]
			if p.File > f.File || (p.File == f.File && (p.Line > f.Line || (p.Line == f.Line && p.Col > f.Col))) {
				t.Fatalf("findings not sorted: %v before %v", p, f)
			}
		}
	}
}
