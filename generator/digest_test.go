package generator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDigest(t *testing.T) {
	a := &Output{Files: []File{{Name: "a.service", Data: []byte("x")}}, Links: []Link{{Dir: "d", Name: "a.socket", Target: "../a.socket"}}}
	b := &Output{Files: []File{{Name: "a.service", Data: []byte("x")}}, Links: []Link{{Dir: "d", Name: "a.socket", Target: "../a.socket"}}}
	if a.Digest() != b.Digest() {
		t.Fatal("equal outputs, different digests")
	}
	for _, change := range []func(o *Output){
		func(o *Output) { o.Files[0].Data = []byte("y") },
		func(o *Output) { o.Files[0].Name = "b.service" },
		func(o *Output) { o.Links[0].Target = "../b.socket" },
		func(o *Output) { o.Links = nil },
	} {
		c := &Output{Files: append([]File(nil), a.Files...), Links: append([]Link(nil), a.Links...)}
		change(c)
		if c.Digest() == a.Digest() {
			t.Errorf("changed output %+v has the same digest", c)
		}
	}
	dir := t.TempDir()
	if err := WriteDir(a, dir); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, DigestFile))
	if strings.TrimSpace(string(got)) != a.Digest() {
		t.Errorf("WriteDir wrote digest %q, want %q", got, a.Digest())
	}
}
