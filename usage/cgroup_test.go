package usage

import (
	"os"
	"testing"
)

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, file, text string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParsers(t *testing.T) {
	for _, c := range []struct {
		in   string
		want *float64
	}{
		{"150000 100000\n", ptr(1.5)},
		{"20000 100000\n", ptr(0.2)},
		{"max 100000\n", nil},
		{"", nil},
		{"1 0\n", nil},
	} {
		if got := quota([]byte(c.in)); (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
			t.Errorf("quota(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	for in, want := range map[string]*uint64{"42\n": u64(42), "max\n": nil, "": nil, "-1\n": nil} {
		if got := number([]byte(in)); (got == nil) != (want == nil) || got != nil && *got != *want {
			t.Errorf("number(%q) = %v, want %v", in, got, want)
		}
	}
	if got := keyed([]byte("usage_usec 10\nuser_usec 7"), "user_usec"); got == nil || *got != 7 {
		t.Errorf("keyed last line without newline: %v", got)
	}
	if got := keyed([]byte("usage_usecs 10\n"), "usage_usec"); got != nil {
		t.Errorf("keyed matched a longer key: %v", *got)
	}
	if r, w := ioStat([]byte("8:0 rbytes=x wbytes=1\n")); r != nil || w != nil {
		t.Errorf("ioStat of garbage: %v %v, want nil", r, w)
	}
}

func ptr(f float64) *float64 { return &f }

// A file larger than the buffer is read whole.
func TestReadLargeFile(t *testing.T) {
	dir := t.TempDir()
	line := "8:0 rbytes=1 wbytes=2 rios=0 wios=0 dbytes=0 dios=0\n"
	text := ""
	for range 1000 { // 52 kB, beyond the 16 KiB buffer
		text += line
	}
	mustWrite(t, dir+"/io.stat", text)
	c, err := newReader().read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.IOReadBytes == nil || *c.IOReadBytes != 1000 || *c.IOWriteBytes != 2000 {
		t.Errorf("io.stat of 1000 devices: %v %v", c.IOReadBytes, c.IOWriteBytes)
	}
	if c.CPUUsec != nil || c.MemoryBytes != nil {
		t.Errorf("absent files read as %+v", c)
	}
	if c, err := newReader().read(dir + "/nothing"); c != nil || err != nil {
		t.Errorf("no cgroup: %v %v", c, err)
	}
}
