package apply

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/manifest"
)

// Two tenants; alpha's app names the secret "stolen" (line 7, column 15),
// beta's holds a token alpha must not get. alpha's second app takes its
// secret from a kit.
const (
	alphaYAML = `tenant: alpha
apps:
  web:
    command: [/bin/true]
    listen: activation
    domains: [alpha.test]
    secrets: [stolen]
  shop:
    kit: shop
    domains: [shop.alpha.test]
`
	betaYAML = `tenant: beta
apps:
  web:
    command: [/bin/true]
    listen: activation
    domains: [beta.test]
    secrets: [token]
`
	shopKit = `kit: shop
command: [/bin/true]
listen: activation
secrets: [api_key]
`
)

type secretsHost struct {
	t       *testing.T
	l       layout.Layout
	dir     string // the manifest directory
	secrets string // /etc/ehecoatl/secrets under the root
}

func newSecretsHost(t *testing.T) *secretsHost {
	h := &secretsHost{t: t, l: layout.Layout{Root: t.TempDir()}, dir: t.TempDir()}
	h.secrets = h.l.Secrets()
	for rel, s := range map[string]string{"tenants/alpha.yaml": alphaYAML, "tenants/beta.yaml": betaYAML, "kits/shop.yaml": shopKit} {
		h.write(filepath.Join(h.dir, rel), s, 0o644)
	}
	h.write(filepath.Join(h.secrets, "beta", "token"), "beta's token\n", 0o600)
	h.write(filepath.Join(h.secrets, "alpha", "api_key"), "alpha's key\n", 0o600)
	return h
}

func (h *secretsHost) write(p, s string, mode os.FileMode) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), mode); err != nil {
		h.t.Fatal(err)
	}
}

func (h *secretsHost) opts() Options {
	return Options{Layout: h.l, Generator: generator.Options{SourceDir: layout.EtcDir}}
}

// refused checks that plan and apply both reject the directory with a
// finding at want (file:line:col path) whose message holds msg and whose
// hint holds hint, and that apply changed nothing.
func (h *secretsHost) refused(want, msg, hint string) {
	h.t.Helper()
	for _, run := range []struct {
		name string
		f    func() error
	}{
		{"plan", func() error { _, err := Plan(h.dir, h.opts()); return err }},
		{"apply", func() error {
			sd := newFake(h.l)
			_, err := Apply(context.Background(), h.dir, sd, h.opts())
			if len(sd.calls) != 0 {
				h.t.Errorf("apply called systemd: %q", sd.calls)
			}
			return err
		}},
	} {
		err := run.f()
		var inv *InvalidError
		if !errors.As(err, &inv) {
			h.t.Errorf("%s: err = %v, want the directory refused", run.name, err)
			continue
		}
		found := false
		for _, f := range inv.Report.Findings {
			s := f.String()
			if f.Severity == manifest.Error && strings.HasPrefix(s, want+":") && strings.Contains(f.Message, msg) && strings.Contains(f.Hint, hint) {
				found = true
			}
		}
		if !found {
			h.t.Errorf("%s: no finding %q with %q and hint %q in:\n%s", run.name, want, msg, hint, inv.Report)
		}
	}
	if _, err := os.Lstat(filepath.Join(h.l.Etc(), "tenants")); err == nil {
		h.t.Errorf("a refused apply installed manifests")
	}
}

func (h *secretsHost) accepted() {
	h.t.Helper()
	if _, err := Apply(context.Background(), h.dir, newFake(h.l), h.opts()); err != nil {
		h.t.Fatalf("apply: %v", err)
	}
}

const alphaSecret = "tenants/alpha.yaml:7:15 apps.web.secrets[0]"

// TestSecretFiles: systemd's LoadCredential= reads secret files as root,
// so a secret must be a regular file of root's directly in the tenant's own
// root-owned directory; plan and apply refuse anything else at the
// secret's name in the manifest.
func TestSecretFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the files must belong to root")
	}
	t.Run("a regular file is accepted", func(t *testing.T) {
		h := newSecretsHost(t)
		h.write(filepath.Join(h.secrets, "alpha", "stolen"), "mine\n", 0o600)
		h.accepted()
	})
	t.Run("a missing file is refused: systemd would fail the app at every start", func(t *testing.T) {
		newSecretsHost(t).refused(alphaSecret, "does not exist", "install -m 0600 /dev/stdin ")
	})
	t.Run("a missing secrets directory is refused", func(t *testing.T) {
		h := newSecretsHost(t)
		os.RemoveAll(h.secrets)
		h.refused(alphaSecret, "does not exist", "install -d -m 0700")
	})
	t.Run("symlink to another tenant's secret", func(t *testing.T) {
		h := newSecretsHost(t)
		os.Symlink("../beta/token", filepath.Join(h.secrets, "alpha", "stolen"))
		h.refused(alphaSecret, "symbolic link", "replace the link with a copy of the file: install -m 0600 -o root")
	})
	t.Run("symlink to /etc/shadow", func(t *testing.T) {
		h := newSecretsHost(t)
		os.Symlink("/etc/shadow", filepath.Join(h.secrets, "alpha", "stolen"))
		h.refused(alphaSecret, "symbolic link", "install -m 0600 -o root")
	})
	t.Run("dangling symlink", func(t *testing.T) {
		h := newSecretsHost(t)
		os.Symlink("/nonexistent", filepath.Join(h.secrets, "alpha", "stolen"))
		h.refused(alphaSecret, "symbolic link", "install -m 0600 -o root")
	})
	t.Run("hard link to another tenant's secret", func(t *testing.T) {
		h := newSecretsHost(t)
		if err := os.Link(filepath.Join(h.secrets, "beta", "token"), filepath.Join(h.secrets, "alpha", "stolen")); err != nil {
			t.Fatal(err)
		}
		h.refused(alphaSecret, "hard link", "install -m 0600 -o root")
	})
	t.Run("a directory", func(t *testing.T) {
		h := newSecretsHost(t)
		os.Mkdir(filepath.Join(h.secrets, "alpha", "stolen"), 0o700)
		h.refused(alphaSecret, "not a regular file", "")
	})
	t.Run("a file of another user", func(t *testing.T) {
		h := newSecretsHost(t)
		p := filepath.Join(h.secrets, "alpha", "stolen")
		h.write(p, "x\n", 0o600)
		os.Chown(p, 1234, 1234)
		h.refused(alphaSecret, "owned by uid 1234", "chown root")
	})
	t.Run("a file others can read", func(t *testing.T) {
		h := newSecretsHost(t)
		h.write(filepath.Join(h.secrets, "alpha", "stolen"), "x\n", 0o644)
		h.refused(alphaSecret, "readable or writable by group or others (mode 0644)", "chmod 0600")
	})
	t.Run("the tenant directory is a symlink to another tenant's", func(t *testing.T) {
		h := newSecretsHost(t)
		os.RemoveAll(filepath.Join(h.secrets, "alpha"))
		os.Symlink("beta", filepath.Join(h.secrets, "alpha"))
		h.refused(alphaSecret, "symbolic link", "install -d -m 0700 -o root")
	})
	t.Run("the tenant directory is writable by others", func(t *testing.T) {
		h := newSecretsHost(t)
		h.write(filepath.Join(h.secrets, "alpha", "stolen"), "x\n", 0o600)
		os.Chmod(filepath.Join(h.secrets, "alpha"), 0o777)
		h.refused(alphaSecret, "writable by", "chmod 0700")
	})
	t.Run("the tenant directory belongs to another user", func(t *testing.T) {
		h := newSecretsHost(t)
		h.write(filepath.Join(h.secrets, "alpha", "stolen"), "x\n", 0o600)
		os.Chown(filepath.Join(h.secrets, "alpha"), 1234, 1234)
		h.refused(alphaSecret, "owned by uid 1234", "chown root")
	})
	t.Run("a kit's secret is checked for each tenant, at the kit's line", func(t *testing.T) {
		h := newSecretsHost(t)
		h.write(filepath.Join(h.secrets, "alpha", "stolen"), "x\n", 0o600)
		os.Remove(filepath.Join(h.secrets, "alpha", "api_key"))
		os.Symlink("../beta/token", filepath.Join(h.secrets, "alpha", "api_key"))
		h.refused("kits/shop.yaml:4:11 secrets[0]", `tenant "alpha"`, "install -m 0600 -o root")
	})
}

// TestSecretRotated: a secret whose content changed restarts its app, and
// the plan names it without its value.
func TestSecretRotated(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the files must belong to root")
	}
	h := newSecretsHost(t)
	stolen := filepath.Join(h.secrets, "alpha", "stolen")
	h.write(stolen, "first-value\n", 0o600)
	h.accepted()
	p, err := Plan(h.dir, h.opts())
	if err != nil || !p.Empty() {
		t.Fatalf("plan of the applied directory: %v %+v", err, p)
	}
	h.write(stolen, "second-value\n", 0o600)
	p, err = Plan(h.dir, h.opts())
	if err != nil {
		t.Fatal(err)
	}
	if got := p.AppChanges["alpha/web"]; !reflect.DeepEqual(got, []string{"secret stolen rotated"}) {
		t.Errorf("app changes %q", got)
	}
	if !reflect.DeepEqual(p.Restart, []string{"ehecoatl-alpha-web.service"}) {
		t.Errorf("restart %q", p.Restart)
	}
	b, _ := os.ReadFile(RecordPath(h.l))
	if strings.Contains(string(b), "value") {
		t.Errorf("the record holds a secret's value:\n%s", b)
	}
}
