package apply

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/drains"
	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/plan"
	"github.com/ehecoatl/ehecoatl/stops"
)

// skipHost is secretsHost with a secret for alpha's web, a read_only path
// of beta's that is a symbolic link on this host, and one fake systemd
// for all its applies.
type skipHost struct {
	*secretsHost
	sd   *fakeSystemd
	ro   string // a directory below /var/tmp holding data/, other/ and link -> data
	full bool
	gen  generator.Options
}

func newSkipHost(t *testing.T) *skipHost {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the secrets must belong to root")
	}
	h := &skipHost{secretsHost: newSecretsHost(t), gen: generator.Options{SourceDir: "/etc/ehecoatl"}}
	h.write(filepath.Join(h.secrets, "alpha", "stolen"), "first\n", 0o600)
	// read_only paths must lie below /srv, /var, ... on this host: a
	// directory of the test's own below /var/tmp.
	ro, err := os.MkdirTemp("/var/tmp", "ehecoatl-skip-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(ro) })
	h.ro = ro
	os.Mkdir(filepath.Join(ro, "data"), 0o755)
	os.Mkdir(filepath.Join(ro, "other"), 0o755)
	if err := os.Symlink(filepath.Join(ro, "data"), filepath.Join(ro, "link")); err != nil {
		t.Fatal(err)
	}
	h.write(filepath.Join(h.dir, "tenants/beta.yaml"), strings.Replace(betaYAML, "    secrets: [token]\n",
		"    secrets: [token]\n    read_only: ["+filepath.Join(ro, "link")+"]\n", 1), 0o644)
	h.sd = newFake(h.l)
	if res := h.apply(); !strings.HasPrefix(res.Render, "full: the record holds no inputs") {
		t.Fatalf("first apply: render %q", res.Render)
	}
	if res := h.apply(); res.Render != RenderSkipped || res.Changed() {
		t.Fatalf("second apply: render %q, changed %v (%+v)", res.Render, res.Changed(), res.Done)
	}
	return h
}

func (h *skipHost) options() Options {
	o := h.opts()
	o.Generator, o.Full = h.gen, h.full
	return o
}

func (h *skipHost) try() (*Result, error) {
	return Apply(context.Background(), h.dir, h.sd, h.options())
}

func (h *skipHost) apply() *Result {
	h.t.Helper()
	res, err := h.try()
	if err != nil {
		h.t.Fatalf("apply: %v", err)
	}
	return res
}

// A no-op apply takes its state from the record, and still runs every
// step that looks at the host: a socket stopped by hand listens again, a
// generator output that lost its digest is reloaded, a failed unit is
// reset. A manifest touched with its bytes unchanged still skips.
func TestNoopSkipsRenderAndConverges(t *testing.T) {
	h := newSkipHost(t)
	const sock = "ehecoatl-alpha-web.socket"
	delete(h.sd.active, sock)
	h.sd.failed["ehecoatl-beta-web.service"] = true
	if err := os.Remove(filepath.Join(h.l.GeneratorOut(), generator.DigestFile)); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(h.dir, "tenants/alpha.yaml"), later, later)
	res := h.apply()
	if res.Render != RenderSkipped {
		t.Fatalf("render %q, want skipped", res.Render)
	}
	if d, ok := res.Did(plan.Listen); !ok || !slices.Contains(d.Units, sock) {
		t.Errorf("listen did %+v, want %s started again", d, sock)
	}
	if _, ok := res.Did(plan.Reload); !ok {
		t.Errorf("no daemon-reload for a generator output without its digest")
	}
	if d, ok := res.Did(plan.ResetFailed); !ok || !slices.Contains(d.Units, "ehecoatl-beta-web.service") {
		t.Errorf("reset-failed did %+v", d)
	}
	if !h.sd.active[sock] {
		t.Errorf("%s does not listen after the apply", sock)
	}
	if res := h.apply(); res.Render != RenderSkipped || res.Changed() {
		t.Errorf("next apply: render %q, changed %+v", res.Render, res.Done)
	}
}

// Each input of the state, changed, makes the apply validate and render
// again; where the change is valid, the apply after it skips again.
func TestSkipSeesEveryInput(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(h *skipHost)
		// refused: the changed directory is invalid (nothing applied).
		refused bool
		why     string
		check   func(t *testing.T, h *skipHost, res *Result)
	}{
		{name: "a manifest's bytes", why: renderChanged,
			change: func(h *skipHost) {
				edit(h.t, filepath.Join(h.dir, "tenants/alpha.yaml"), "alpha.test]", "alpha.test, www.alpha.test]")
			},
			check: func(t *testing.T, h *skipHost, res *Result) {
				if !res.Plan.RoutesChanged {
					t.Errorf("the new domain is not in the plan")
				}
			}},
		{name: "a kit's bytes", why: renderChanged,
			change: func(h *skipHost) {
				edit(h.t, filepath.Join(h.dir, "kits/shop.yaml"), "listen: activation\n", "listen: activation\nmemory: 64M\n")
			}},
		{name: "a file beside the manifests", why: renderChanged,
			change: func(h *skipHost) { h.write(filepath.Join(h.dir, "tenants/notes.txt"), "x\n", 0o644) },
			check: func(t *testing.T, h *skipHost, res *Result) {
				again := h.apply()
				if again.Render != RenderSkipped || len(again.Warnings) == 0 || !strings.Contains(again.Warnings[0].Message, "not a manifest") {
					t.Errorf("the skipped apply lost the warning: %q %+v", again.Render, again.Warnings)
				}
			}},
		{name: "a secret's content", why: renderChanged,
			change: func(h *skipHost) { h.write(filepath.Join(h.secrets, "alpha", "stolen"), "frost\n", 0o600) }, // same size, mode and owner
			check: func(t *testing.T, h *skipHost, res *Result) {
				if !slices.Contains(res.Plan.Restart, "ehecoatl-alpha-web.service") {
					t.Errorf("the rotated secret restarts nothing: %q", res.Plan.Restart)
				}
			}},
		{name: "a secret's mode", refused: true,
			change: func(h *skipHost) { os.Chmod(filepath.Join(h.secrets, "alpha", "stolen"), 0o644) }},
		{name: "a secret made a link", refused: true,
			change: func(h *skipHost) {
				p := filepath.Join(h.secrets, "alpha", "stolen")
				os.Remove(p)
				os.Symlink("../beta/token", p)
			}},
		{name: "a read_only link's target", why: renderChanged,
			change: func(h *skipHost) { relink(h, filepath.Join(h.ro, "other")) }},
		{name: "a read_only link into /run", refused: true,
			change: func(h *skipHost) { relink(h, "/run") }},
		{name: "the binary", why: renderChanged,
			change: func(h *skipHost) {
				old := binaryID
				h.t.Cleanup(func() { binaryID = old })
				binaryID = func() string { return old() + " upgraded" }
			}},
		{name: "the generator's options", why: renderChanged,
			change: func(h *skipHost) { h.gen.Bin = "/opt/ehecoatl/bin/ehecoatl" }},
		{name: "an operator's stop", why: renderChanged,
			change: func(h *skipHost) {
				if err := stops.Save(h.l.Stops(), stops.Record{Stops: []stops.Stop{{Tenant: "alpha", App: "web", By: "test"}}}, ""); err != nil {
					h.t.Fatal(err)
				}
			},
			check: func(t *testing.T, h *skipHost, res *Result) {
				if d, ok := res.Did(plan.Stop); !ok || !slices.Contains(d.Units, "ehecoatl-alpha-web.socket") {
					t.Errorf("the stopped app was not stopped: %+v", res.Done)
				}
			}},
		{name: "an installed manifest edited by hand", why: renderInstall,
			change: func(h *skipHost) {
				p := filepath.Join(h.l.Etc(), "tenants/alpha.yaml")
				b, _ := os.ReadFile(p)
				os.WriteFile(p, append(b, "# edited\n"...), 0o640)
			},
			check: func(t *testing.T, h *skipHost, res *Result) {
				if _, ok := res.Did(plan.Install); !ok {
					t.Errorf("the edited manifest was not installed again")
				}
			}},
		{name: "another generation made current", why: renderInstall,
			change: func(h *skipHost) {
				before, _ := os.Readlink(filepath.Join(h.l.Etc(), currentLink))
				edit(h.t, filepath.Join(h.dir, "tenants/alpha.yaml"), "alpha.test]", "alpha.test, new.alpha.test]")
				h.apply()
				if err := replaceSymlink(filepath.Join(h.l.Etc(), currentLink), before); err != nil {
					h.t.Fatal(err)
				}
			},
			check: func(t *testing.T, h *skipHost, res *Result) {
				if _, ok := res.Did(plan.Install); !ok {
					t.Errorf("the generation applied last was not made current again")
				}
			}},
		{name: "a record written without its inputs", why: renderNoRecord,
			change: func(h *skipHost) {
				b, _ := os.ReadFile(RecordPath(h.l))
				os.WriteFile(RecordPath(h.l), append(b, '\n'), 0o600)
			}},
		{name: "instances a rollout left drained", why: renderDrained,
			change: func(h *skipHost) {
				p := h.l.Path(naming.DrainFile)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := drains.Save(p, map[string]bool{"alpha/web.sock": true}); err != nil {
					h.t.Fatal(err)
				}
			}},
		{name: "apply --full", why: renderAsked,
			change: func(h *skipHost) { h.full = true }},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newSkipHost(t)
			h.t = t
			c.change(h)
			res, err := h.try()
			if c.refused {
				var inv *InvalidError
				if !errors.As(err, &inv) {
					t.Fatalf("apply: err %v, render %q; want the directory refused", err, renderOf(res))
				}
				return
			}
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if res.Render != c.why {
				t.Fatalf("render %q, want %q", res.Render, c.why)
			}
			if c.check != nil {
				c.check(t, h, res)
			}
			h.full = false
			if res := h.apply(); res.Render != RenderSkipped || res.Changed() {
				t.Errorf("the apply after: render %q, changed %+v", res.Render, res.Done)
			}
		})
	}
}

func renderOf(res *Result) string {
	if res == nil {
		return ""
	}
	return res.Render
}

func relink(h *skipHost, to string) {
	link := filepath.Join(h.ro, "link")
	os.Remove(link)
	if err := os.Symlink(to, link); err != nil {
		h.t.Fatal(err)
	}
}
