package routerenv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"", "127.0.0.1:9808", ""},
		{"127.0.0.1:9100", "127.0.0.1:9100", ""},
		{"0.0.0.0:9808", "0.0.0.0:9808", ""},
		{"[::1]:9808", "[::1]:9808", ""},
		{"off", "off", ""},
		{"9808", "", "bare port"},
		{"localhost:9808", "", "not ADDRESS:PORT"},
		{"127.0.0.1", "", "not ADDRESS:PORT"},
		{"::1:9808", "", "not ADDRESS:PORT"},
		{"127.0.0.1:0", "", "port 0"},
		{"127.0.0.1:70000", "", "not ADDRESS:PORT"},
		{"[fe80::1%eth0]:9808", "", "zone"},
		{"OFF", "", "not ADDRESS:PORT"},
	} {
		m, err := ParseMetrics(c.in)
		got := "off"
		if !m.Off {
			got = m.ListenStream()
		}
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: error %v, want one with %q", c.in, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%q: %q %v, want %q", c.in, got, err, c.want)
		}
	}
}

func TestReadMetrics(t *testing.T) {
	root := t.TempDir()
	if m, err := ReadMetrics(root); err != nil || m.ListenStream() != DefaultMetrics {
		t.Fatalf("no file: %v %v", m, err)
	}
	write := func(s string) {
		p := filepath.Join(root, Path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("# EHECOATL_METRICS_LISTEN=\"off\"\nEHECOATL_ROUTER_OPTS=\"\"\n")
	if m, err := ReadMetrics(root); err != nil || m.ListenStream() != DefaultMetrics {
		t.Fatalf("commented out: %v %v", m, err)
	}
	write("EHECOATL_METRICS_LISTEN=\"127.0.0.1:1\"\n EHECOATL_METRICS_LISTEN = '[::1]:9808' \n")
	if m, err := ReadMetrics(root); err != nil || m.ListenStream() != "[::1]:9808" {
		t.Fatalf("the last one: %v %v", m, err)
	}
	write("A=1\n\nEHECOATL_METRICS_LISTEN=\"off\"\n")
	if m, err := ReadMetrics(root); err != nil || !m.Off {
		t.Fatalf("off: %v %v", m, err)
	}
	write("A=1\n\nEHECOATL_METRICS_LISTEN=\"localhost:9808\"\n")
	_, err := ReadMetrics(root)
	var e *Error
	if !errors.As(err, &e) || e.Line != 3 || e.File != Path || !strings.Contains(err.Error(), Path+":3: ") {
		t.Fatalf("bad value: %v", err)
	}
}
