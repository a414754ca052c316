package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestOperatorStop: `ehecoatl stop` lasts (issue 13, point 1). A stopped
// tenant stays down through an apply of another tenant's change and
// through a start of ehecoatl.target (what a boot does), its domains get
// 503 with Retry-After and a plain page, status says who stopped it and
// since when, and `ehecoatl start` serves it again. `suspended: true` in
// the manifest does the same as desired state and wins over start.
func TestOperatorStop(t *testing.T) {
	r := bootRouted(t, "/srv/testdata/stop")
	const sock = "ehecoatl-delta-site.socket"
	if code, body, err := r.fetch("delta.test", "/"); code != 200 {
		t.Fatalf("delta before stop: %d %v %q", code, err, body)
	}
	t.Logf("ehecoatl stop delta:\n%s", r.run("ehecoatl", "stop", "delta"))

	// The router answers a stopped tenant's domains with 503.
	held := func(when string) {
		t.Helper()
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", r.port), nil)
		req.Host = "delta.test"
		resp, err := r.client.Do(req)
		if err != nil {
			t.Errorf("%s: GET delta.test: %v", when, err)
			return
		}
		defer resp.Body.Close()
		t.Logf("%s: GET delta.test: %d Retry-After: %s", when, resp.StatusCode, resp.Header.Get("Retry-After"))
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: GET delta.test: %d Retry-After=%q Content-Type=%q, want 503 with Retry-After, text/plain",
				when, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
		}
	}
	held("after stop")

	// An env change of another tenant does not start it again.
	r.sh("sed -i 's/GREETING: one/GREETING: two/' /srv/m/tenants/bravo.yaml")
	out := r.run("ehecoatl", "apply", "/srv/m")
	t.Logf("apply of bravo's env change:\n%s", out)
	if strings.Contains(out, sock) || !strings.Contains(out, "left 1 app(s) stopped: delta/site (stopped)") {
		t.Errorf("apply after stop:\n%s\nwant no start of %s and a line naming delta/site as left stopped", out, sock)
	}
	if st := r.prop(sock, "ActiveState"); st != "inactive" {
		t.Errorf("after apply: %s is %s, want inactive", sock, st)
	}
	held("after apply")

	// A boot starts ehecoatl.target from the generator's links: the
	// generator leaves the stopped tenant out.
	r.run("systemctl", "daemon-reload")
	if out := r.sh("ls /run/systemd/generator/ehecoatl.target.wants/"); strings.Contains(out, sock) || !strings.Contains(out, "ehecoatl-bravo-web.socket") {
		t.Errorf("ehecoatl.target.wants after daemon-reload: %q, want bravo's socket and not %s", out, sock)
	}
	r.run("systemctl", "start", "ehecoatl.target")
	if st := r.prop(sock, "ActiveState"); st != "inactive" {
		t.Errorf("after starting ehecoatl.target: %s is %s, want inactive", sock, st)
	}

	// status: stopped by operator since ..., in the table and in --json.
	table, _, code := r.try("ehecoatl", "status", "delta")
	t.Logf("ehecoatl status delta (exit %d):\n%s", code, table)
	if !strings.Contains(table, "stopped by operator since") {
		t.Errorf("status delta:\n%s\nwant 'stopped by operator since'", table)
	}
	row := statusRow(r.host, "delta", "site")
	if row["state"] != "stopped" || row["stopped_by"] == nil || row["stopped_since"] == nil {
		t.Errorf("status --json delta/site: %v, want state stopped with stopped_by and stopped_since", row)
	}

	// start clears the stop.
	r.run("ehecoatl", "start", "delta")
	if code, body, err := r.fetch("delta.test", "/"); code != 200 {
		t.Errorf("after start: %d %v %q", code, err, body)
	}
	if out := r.run("ehecoatl", "apply", "/srv/m"); strings.Contains(out, "left") {
		t.Errorf("apply after start still leaves an app stopped:\n%s", out)
	}

	// suspended: true is the same as desired state, and wins over start.
	r.sh("printf 'suspended: true\\n' >> /srv/m/tenants/delta.yaml")
	out = r.run("ehecoatl", "apply", "/srv/m")
	if !strings.Contains(out, "delta/site (suspended)") {
		t.Errorf("apply of a suspended tenant:\n%s\nwant delta/site named as suspended", out)
	}
	if st := r.prop(sock, "ActiveState"); st != "inactive" {
		t.Errorf("suspended: %s is %s, want inactive", sock, st)
	}
	held("suspended")
	if row := statusRow(r.host, "delta", "site"); row["state"] != "suspended" {
		t.Errorf("status --json of a suspended app: %v, want state suspended", row)
	}
	_, errOut, code := r.try("ehecoatl", "start", "delta")
	t.Logf("ehecoatl start delta (suspended): exit %d: %s", code, errOut)
	if code == 0 || !strings.Contains(errOut, "suspended: true") {
		t.Errorf("start of a suspended tenant: exit %d, %q; want refused naming suspended: true", code, errOut)
	}
	r.sh("sed -i '/^suspended:/d' /srv/m/tenants/delta.yaml")
	r.run("ehecoatl", "apply", "/srv/m")
	if code, body, err := r.fetch("delta.test", "/"); code != 200 {
		t.Errorf("after unsuspending: %d %v %q", code, err, body)
	}
}

// statusRow is one app's row of `ehecoatl status --json`, whatever the
// exit code (non-zero when something is down).
func statusRow(h *host, tenant, app string) map[string]any {
	h.t.Helper()
	out, errOut, _ := h.try("ehecoatl", "status", "--json", tenant)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		var doc struct {
			Apps []map[string]any `json:"apps"`
		}
		if err2 := json.Unmarshal([]byte(out), &doc); err2 != nil {
			h.t.Fatalf("status --json: %v\n%s%s", err, out, errOut)
		}
		rows = doc.Apps
	}
	for _, r := range rows {
		if r["tenant"] == tenant && r["app"] == app {
			return r
		}
	}
	h.t.Fatalf("status --json: no row %s/%s\n%s", tenant, app, out)
	return nil
}
