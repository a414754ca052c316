package tests

import (
	"encoding/json"
	"strings"
	"testing"
)

// Two tenants with env passwords and secrets, served by the router.
const secretsAlpha = `tenant: alpha
apps:
  web:
    command: [/usr/local/lib/ehecoatl-test/hello]
    listen: activation
    domains: [alpha.test]
    env: {ALPHA_DB_PASSWORD: hunter2-alpha}
    secrets: [api_key]
`

const secretsBeta = `tenant: beta
apps:
  web:
    command: [/usr/local/lib/ehecoatl-test/hello]
    listen: activation
    domains: [beta.test]
    env: {BETA_DB_PASSWORD: hunter2-beta}
    secrets: [token]
`

// TestTenantFilesPrivate: what a tenant writes in its manifest (env
// passwords) and its secrets stay with root, the router and the tenant's
// own app. Other local users read none of the installed files, and a
// secret file that is a link into another tenant's secrets (or to
// /etc/shadow) is refused by apply, which keeps the previous state.
func TestTenantFilesPrivate(t *testing.T) {
	r := bootRouted(t)
	r.sh(`set -e
install -d -m 0700 /etc/ehecoatl/secrets/alpha /etc/ehecoatl/secrets/beta
echo alpha-key | install -m 0600 /dev/stdin /etc/ehecoatl/secrets/alpha/api_key
echo beta-token | install -m 0600 /dev/stdin /etc/ehecoatl/secrets/beta/token
cat > /srv/m/tenants/alpha.yaml <<'EOF'
` + secretsAlpha + `EOF
cat > /srv/m/tenants/beta.yaml <<'EOF'
` + secretsBeta + `EOF`)
	r.run("ehecoatl", "apply", "/srv/m")
	// A second generation, so that apply keeps a previous one.
	r.sh("echo '# second' >> /srv/m/tenants/beta.yaml")
	r.run("ehecoatl", "apply", "/srv/m")
	if gens := strings.Fields(r.sh("ls /etc/ehecoatl/.generations")); len(gens) < 2 {
		t.Fatalf("generations %v, want the current one and at least one previous", gens)
	}

	private := []string{"/etc/ehecoatl/tenants/beta.yaml", "/etc/ehecoatl/env/beta/web.env", "/etc/ehecoatl/current/tenants/beta.yaml"}
	private = append(private, strings.Fields(r.sh("ls -d /etc/ehecoatl/.generations/*/tenants/beta.yaml /etc/ehecoatl/.generations/*/env/beta/web.env"))...)
	nobodyReadsNothing := func(h *host) {
		h.t.Helper()
		for _, p := range private {
			out, errOut, code := h.try("su", "-s", "/bin/sh", "nobody", "-c", "cat "+p)
			if code == 0 || strings.Contains(out, "hunter2") {
				h.t.Errorf("nobody read %s (exit %d):\n%s%s", p, code, out, errOut)
			}
		}
		out, _, _ := h.try("su", "-s", "/bin/sh", "nobody", "-c", "grep -r hunter2 /etc/ehecoatl /var/lib/ehecoatl /run/ehecoatl")
		if strings.Contains(out, "hunter2") {
			h.t.Errorf("nobody found the passwords:\n%s", out)
		}
	}

	t.Run("other users read no installed manifest or env", func(t *testing.T) {
		h := r.on(t).host
		nobodyReadsNothing(h)
		got := h.sh("cd /etc/ehecoatl && stat -c '%n %a %U:%G' .generations .generations/* .generations/*/tenants .generations/*/tenants/beta.yaml .generations/*/env .generations/*/env/beta/web.env /var/lib/ehecoatl/applied.json")
		for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
			f := strings.Fields(l)
			want := "750 root:ehecoatl-router"
			switch {
			case strings.HasSuffix(f[0], ".yaml"):
				want = "640 root:ehecoatl-router"
			case strings.HasSuffix(f[0], "/env"):
				want = "700 root:root"
			case strings.HasSuffix(f[0], ".env"), strings.HasSuffix(f[0], ".json"):
				want = "600 root:root"
			}
			if f[1]+" "+f[2] != want {
				t.Errorf("%s: %s %s, want %s", f[0], f[1], f[2], want)
			}
		}
	})

	t.Run("the router reads the manifests but not the env", func(t *testing.T) {
		r := r.on(t)
		for host, want := range map[string]string{"alpha.test": "hello from alpha/web", "beta.test": "hello from beta/web"} {
			if code, body, err := r.fetch(host, "/"); err != nil || code != 200 || !strings.Contains(body, want) {
				t.Errorf("GET %s through the router: %d %q %v", host, code, body, err)
			}
		}
		if out := r.run("su", "-s", "/bin/sh", "ehecoatl-router", "-c", "ehecoatl routes"); !strings.Contains(out, "beta.test") {
			t.Errorf("ehecoatl routes as the router's user:\n%s", out)
		}
		if out, _, code := r.try("su", "-s", "/bin/sh", "ehecoatl-router", "-c", "cat /etc/ehecoatl/env/beta/web.env"); code == 0 {
			t.Errorf("the router's user read an env file:\n%s", out)
		}
	})

	t.Run("apply tightens an older install's modes", func(t *testing.T) {
		h := r.on(t).host
		// What an install before this fix left: 0644 files, 0755 dirs.
		loosen := func() {
			h.sh("chmod -R go+rX /etc/ehecoatl/.generations")
			if out, _, _ := h.try("su", "-s", "/bin/sh", "nobody", "-c", "cat /etc/ehecoatl/tenants/beta.yaml"); !strings.Contains(out, "hunter2") {
				t.Fatalf("the simulated older install is not readable:\n%s", out)
			}
		}
		// The package's upgrade runs tmpfiles, which closes the
		// generations directory at once...
		loosen()
		h.run("systemd-tmpfiles", "--create", "ehecoatl.conf")
		nobodyReadsNothing(h)
		if got := strings.TrimSpace(h.sh("stat -c '%a %U:%G' /etc/ehecoatl/.generations")); got != "750 root:ehecoatl-router" {
			t.Errorf("after tmpfiles, .generations is %s", got)
		}
		// ...and apply, even with nothing to change, tightens every
		// generation it keeps.
		loosen()
		if out := h.run("ehecoatl", "apply", "/srv/m"); !strings.Contains(out, "nothing changed") {
			t.Errorf("apply of the same directory:\n%s", out)
		}
		nobodyReadsNothing(h)
		if out := h.sh("find /etc/ehecoatl/.generations -perm /o=rwx"); out != "" {
			t.Errorf("still open to others after apply:\n%s", out)
		}
	})

	t.Run("apply refuses a secret linked to another tenant's", func(t *testing.T) {
		r := r.on(t)
		if code, body, err := r.fetch("alpha.test", "/"); err != nil || code != 200 {
			t.Fatalf("alpha before: %d %q %v", code, body, err)
		}
		pid := r.prop("ehecoatl-alpha-web.service", "MainPID")
		snapshot := "cd /etc/ehecoatl && find . -path ./secrets -prune -o -type f -print0 | sort -z | xargs -0 sha256sum; readlink current; systemctl list-units --plain --no-legend --all 'ehecoatl*' | awk '{print $1, $3, $4}'"
		before := r.sh(snapshot)
		for target, line := range map[string]string{"../beta/token": "stolen", "/etc/shadow": "shadow"} {
			r.sh("rm -rf /srv/bad && cp -r /srv/m /srv/bad && sed -i 's/secrets: \\[api_key\\]/secrets: [api_key, " + line + "]/' /srv/bad/tenants/alpha.yaml && ln -sfn " + target + " /etc/ehecoatl/secrets/alpha/" + line)
			out, errOut, code := r.try("ehecoatl", "apply", "/srv/bad")
			t.Logf("apply with %s -> %s:\n%s", line, target, errOut)
			if code == 0 {
				t.Errorf("apply with secret %s -> %s exited 0:\n%s%s", line, target, out, errOut)
			}
			if want := "tenants/alpha.yaml:8:24 apps.web.secrets[1]: "; !strings.Contains(errOut, want) || !strings.Contains(errOut, "symbolic link") || !strings.Contains(errOut, "install -m 0600 -o root") {
				t.Errorf("apply's errors lack %q, the reason and the hint:\n%s", want, errOut)
			}
			if strings.Contains(out+errOut, "beta-token") {
				t.Errorf("apply printed beta's token:\n%s%s", out, errOut)
			}
			// validate (as root) says the same.
			if _, errOut, code := r.try("ehecoatl", "validate", "/srv/bad"); code == 0 || !strings.Contains(errOut, "tenants/alpha.yaml:8:24 apps.web.secrets[1]: ") {
				t.Errorf("validate exited %d:\n%s", code, errOut)
			}
		}
		if after := r.sh(snapshot); after != before {
			t.Errorf("the refused apply changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if p := r.prop("ehecoatl-alpha-web.service", "MainPID"); p != pid {
			t.Errorf("alpha's app was restarted (%s -> %s)", pid, p)
		}
		if c := r.prop("ehecoatl-alpha-web.service", "LoadCredential"); strings.Contains(c, "stolen") || strings.Contains(c, "shadow") {
			t.Errorf("alpha's unit loads the linked secret: %s", c)
		}
		for host, want := range map[string]string{"alpha.test": "hello from alpha/web", "beta.test": "hello from beta/web"} {
			if code, body, err := r.fetch(host, "/"); err != nil || code != 200 || !strings.Contains(body, want) {
				t.Errorf("GET %s after the refused apply: %d %q %v", host, code, body, err)
			}
		}
		// An operator without root cannot see the secrets: validate checks
		// the manifests and says the secret files were not checked.
		out, errOut, code := r.try("su", "-s", "/bin/sh", "nobody", "-c", "ehecoatl validate /srv/bad")
		t.Logf("validate as nobody:\n%s", errOut)
		if code != 0 || !strings.Contains(errOut, "not checked") {
			t.Errorf("validate as nobody exited %d:\n%s%s", code, out, errOut)
		}
	})
}

// writeTenant writes /srv/m/tenants/NAME.yaml.
func (h *host) writeTenant(name, yaml string) {
	h.t.Helper()
	h.sh("mkdir -p /srv/m/tenants && cat > /srv/m/tenants/" + name + ".yaml <<'EOF'\n" + yaml + "EOF")
}

const secretTenant = `tenant: acme
apps:
  web:
    command: [/usr/local/lib/ehecoatl-test/hello]
    listen: activation
    domains: [acme.test]
    secrets: [db_password]
`

// TestSecretMissing: a secret file that does not exist is refused by
// validate, plan and apply run as root, at the secret's name in the
// manifest, before anything changes (it used to surface as "Failed at step
// CREDENTIALS ... Protocol error" after 30 start attempts).
func TestSecretMissing(t *testing.T) {
	h := boot(t)
	h.writeTenant("acme", secretTenant)
	const at = "tenants/acme.yaml:7:15 apps.web.secrets[0]: "
	for _, cmd := range [][]string{{"validate"}, {"plan"}, {"apply"}, {"apply", "--dry-run"}} {
		out, errOut, code := h.try(append(append([]string{"ehecoatl"}, cmd...), "/srv/m")...)
		t.Logf("ehecoatl %s with the secret missing (exit %d):\n%s%s", strings.Join(cmd, " "), code, out, errOut)
		if code != 1 || !strings.Contains(errOut, at) || !strings.Contains(errOut, "does not exist") || !strings.Contains(errOut, "install -m 0600") {
			t.Errorf("ehecoatl %s: exit %d, want 1 and %q, the reason and a hint:\n%s%s", strings.Join(cmd, " "), code, at, out, errOut)
		}
	}
	if out, _, code := h.try("test", "-e", "/etc/ehecoatl/tenants/acme.yaml"); code == 0 {
		t.Fatalf("a refused apply installed the manifest:\n%s", out)
	}
	// As another user validate cannot tell a missing secret from one it
	// may not see: it accepts the directory.
	h.sh("chmod -R a+rX /srv/m")
	if out, errOut, code := h.try("su", "-s", "/bin/sh", "nobody", "-c", "ehecoatl validate /srv/m"); code != 0 {
		t.Errorf("validate as nobody exited %d:\n%s%s", code, out, errOut)
	}
	h.sh(`set -e
install -d -m 0700 /etc/ehecoatl/secrets/acme
printf 'first-s3cret' | install -m 0600 /dev/stdin /etc/ehecoatl/secrets/acme/db_password`)
	// A secret others can read is not root-only.
	h.sh("chmod 0644 /etc/ehecoatl/secrets/acme/db_password")
	if _, errOut, code := h.try("ehecoatl", "apply", "/srv/m"); code != 1 || !strings.Contains(errOut, at) || !strings.Contains(errOut, "chmod 0600") {
		t.Errorf("apply with a secret of mode 0644: exit %d:\n%s", code, errOut)
	}
	h.sh("chmod 0600 /etc/ehecoatl/secrets/acme/db_password")
	h.run("ehecoatl", "apply", "/srv/m")
	h.run("systemctl", "start", "ehecoatl-acme-web.service")
	if st := h.prop("ehecoatl-acme-web.service", "ActiveState"); st != "active" {
		t.Errorf("the app with its secret in place is %s", st)
	}
}

// TestSecretRotated: a secret whose content changed restarts the app on
// the next apply, and plan says so without printing the value.
func TestSecretRotated(t *testing.T) {
	h := boot(t)
	h.writeTenant("acme", secretTenant)
	h.sh(`set -e
install -d -m 0700 /etc/ehecoatl/secrets/acme
printf 'first-s3cret' | install -m 0600 /dev/stdin /etc/ehecoatl/secrets/acme/db_password`)
	h.run("ehecoatl", "apply", "/srv/m")
	h.run("systemctl", "start", "ehecoatl-acme-web.service")
	pid := h.prop("ehecoatl-acme-web.service", "MainPID")
	if out := h.run("ehecoatl", "plan", "/srv/m"); !strings.Contains(out, "no changes") {
		t.Errorf("plan with the same secret:\n%s", out)
	}

	h.sh(`printf 'second-s3cret' | install -m 0600 /dev/stdin /etc/ehecoatl/secrets/acme/db_password`)
	out := h.run("ehecoatl", "plan", "/srv/m")
	t.Logf("plan after the rotation:\n%s", out)
	if !strings.Contains(out, "~ app acme/web: secret db_password rotated\n") || !strings.Contains(out, "restart (if running): ehecoatl-acme-web.service") {
		t.Errorf("plan does not say that the secret rotated and the app restarts:\n%s", out)
	}
	js := h.run("ehecoatl", "plan", "--json", "/srv/m")
	var p struct {
		Changes map[string][]string `json:"app_changes"`
	}
	if err := json.Unmarshal([]byte(js), &p); err != nil || len(p.Changes["acme/web"]) != 1 || p.Changes["acme/web"][0] != "secret db_password rotated" {
		t.Errorf("plan --json: %v app_changes %q:\n%s", err, p.Changes, js)
	}
	applied := h.run("ehecoatl", "apply", "/srv/m")
	t.Logf("apply after the rotation:\n%s", applied)
	for _, o := range []string{out, js, applied, h.sh("cat /var/lib/ehecoatl/applied.json")} {
		if strings.Contains(o, "s3cret") {
			t.Errorf("a secret's value was printed or recorded:\n%s", o)
		}
	}
	if p := h.prop("ehecoatl-acme-web.service", "MainPID"); p == pid || p == "0" {
		t.Errorf("the app was not restarted after the rotation: MainPID %s -> %s", pid, p)
	}
	if out := h.run("ehecoatl", "apply", "/srv/m"); !strings.Contains(out, "nothing changed") {
		t.Errorf("a second apply after the rotation:\n%s", out)
	}
}
