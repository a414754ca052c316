package tests

import (
	"encoding/json"
	"strings"
	"testing"
)

const fieldsTenant = `tenant: acme
apps:
  web:
    command: [/usr/local/lib/ehecoatl-test/hello]
    listen: activation
    domains: [acme.example.com]
    env: {SHOP_MODE: live-value-1, OTHER: same}
  api:
    command: [/usr/local/lib/ehecoatl-test/hello]
    listen: activation
`

// TestPlanNamesChangedFields: plan names what changed per app, never the
// values of env; a plan that removes every installed tenant, or more than
// half, needs --prune; apply without DIR in a directory holding tenants/
// warns that it applies /etc/ehecoatl; plan and apply print validate's
// warnings.
func TestPlanNamesChangedFields(t *testing.T) {
	h := boot(t)
	h.writeTenant("acme", fieldsTenant)
	h.writeTenant("beta", "tenant: beta\napps:\n  www:\n    command: [/usr/local/lib/ehecoatl-test/hello]\n    listen: activation\n    domains: [beta.test]\n")
	h.writeTenant("gamma", "tenant: gamma\napps:\n  www:\n    command: [/usr/local/lib/ehecoatl-test/hello]\n    listen: activation\n    domains: [gamma.test]\n")

	t.Run("plan and apply print validate's warnings", func(t *testing.T) {
		h := h.on(t)
		const warn = "tenants/acme.yaml:8:3 apps.api: "
		_, vErr, _ := h.try("ehecoatl", "validate", "/srv/m")
		if !strings.Contains(vErr, warn) {
			t.Fatalf("validate does not warn %q:\n%s", warn, vErr)
		}
		for _, cmd := range [][]string{{"plan"}, {"apply"}} {
			out, errOut, code := h.try(append(append([]string{"ehecoatl"}, cmd...), "/srv/m")...)
			if code != 0 || !strings.Contains(errOut, warn) {
				t.Errorf("ehecoatl %s: exit %d, no warning %q:\n%s%s", cmd[0], code, warn, out, errOut)
			}
		}
	})

	t.Run("plan names the changed fields", func(t *testing.T) {
		h := h.on(t)
		h.sh(`sed -i -e 's|command: \[/usr/local/lib/ehecoatl-test/hello\]|command: [/usr/local/lib/ehecoatl-test/hello, --x]|' -e '0,/--x/!s|, --x||' -e 's/live-value-1/live-value-2/' -e 's/domains: \[acme.example.com\]/domains: [acme.example.com, www.acme.example.com]/' /srv/m/tenants/acme.yaml`)
		t.Logf("the changed manifest:\n%s", h.sh("cat /srv/m/tenants/acme.yaml"))
		out := h.run("ehecoatl", "plan", "/srv/m")
		t.Logf("plan:\n%s", out)
		if want := "~ app acme/web: command, env.SHOP_MODE, domains +www.acme.example.com\n"; !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
		js := h.run("ehecoatl", "plan", "--json", "/srv/m")
		var p struct {
			Changes map[string][]string `json:"app_changes"`
		}
		if err := json.Unmarshal([]byte(js), &p); err != nil || strings.Join(p.Changes["acme/web"], ", ") != "command, env.SHOP_MODE, domains +www.acme.example.com" {
			t.Errorf("plan --json: %v, app_changes %q", err, p.Changes)
		}
		for _, o := range []string{out, js} {
			if strings.Contains(o, "live-value") {
				t.Errorf("plan printed an env value:\n%s", o)
			}
		}
		h.run("ehecoatl", "apply", "/srv/m")
	})

	t.Run("removing more than half of the tenants needs --prune", func(t *testing.T) {
		h := h.on(t)
		h.sh("mkdir -p /srv/keep && mv /srv/m/tenants/beta.yaml /srv/m/tenants/gamma.yaml /srv/keep/")
		for _, cmd := range [][]string{{"plan"}, {"apply"}} {
			out, errOut, code := h.try(append(append([]string{"ehecoatl"}, cmd...), "/srv/m")...)
			t.Logf("ehecoatl %s removing 2 of 3 tenants (exit %d):\n%s%s", cmd[0], code, out, errOut)
			if !strings.Contains(out+errOut, "--prune") || (cmd[0] == "apply" && code != 1) {
				t.Errorf("ehecoatl %s: exit %d, no --prune hint:\n%s%s", cmd[0], code, out, errOut)
			}
		}
		if got := h.sh("ls /etc/ehecoatl/tenants"); !strings.Contains(got, "gamma.yaml") {
			t.Errorf("the refused apply removed tenants: %s", got)
		}
		if got := h.prop("ehecoatl-gamma-www.socket", "ActiveState"); got != "active" {
			t.Errorf("gamma's socket after the refused apply: %s", got)
		}
		h.run("ehecoatl", "apply", "--prune", "/srv/m")
		if got := h.prop("ehecoatl-gamma-www.socket", "ActiveState"); got == "active" {
			t.Errorf("gamma's socket after apply --prune: %s", got)
		}
		h.sh("mv /srv/keep/*.yaml /srv/m/tenants/")
		h.run("ehecoatl", "apply", "/srv/m")
	})

	t.Run("apply without DIR next to tenants/ warns", func(t *testing.T) {
		h := h.on(t)
		out, errOut, code := h.try("/bin/sh", "-c", "cd /srv/m && ehecoatl apply")
		t.Logf("apply in /srv/m (exit %d):\n%s%s", code, out, errOut)
		if !strings.Contains(errOut, "warning:") || !strings.Contains(errOut, "/etc/ehecoatl") || !strings.Contains(errOut, "ehecoatl apply .") {
			t.Errorf("no warning that apply applies /etc/ehecoatl:\n%s", errOut)
		}
	})
}
