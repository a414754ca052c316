package tests

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestRollback: apply v1, apply v2 with a changed response, roll back, and
// the router serves v1's response again; history names who applied what;
// rollback to the current generation, the prune guard and the kept count
// (docs/OPERATIONS.md "History and rollback"). One booted systemd: each
// step builds on the last.
func TestRollback(t *testing.T) {
	const data = "/srv/testdata/rollback"
	r := bootRouted(t, data+"/v1")
	greeting := func(t *testing.T, host, want string) {
		t.Helper()
		code, body, err := r.fetch(host, "/")
		if err != nil || code != 200 || !strings.HasPrefix(body, want) {
			t.Fatalf("GET %s: %d %v %q, want 200 starting with %q", host, code, err, body, want)
		}
	}
	type gen struct {
		N          int    `json:"n"`
		Generation string `json:"generation"`
		By         string `json:"by"`
		Command    string `json:"command"`
		Summary    string `json:"summary"`
		Current    bool   `json:"current"`
	}
	history := func(t *testing.T) []gen {
		t.Helper()
		var gens []gen
		out := r.run("ehecoatl", "history", "--json")
		if err := json.Unmarshal([]byte(out), &gens); err != nil {
			t.Fatalf("history --json: %v\n%s", err, out)
		}
		return gens
	}
	greeting(t, "roll.test", "greeting v1")
	r.run("ehecoatl", "apply", data+"/v2")
	greeting(t, "roll.test", "greeting v2")

	gens := history(t)
	if len(gens) != 2 || !gens[0].Current || gens[1].Current {
		t.Fatalf("history after two applies: %+v, want v2 current, then v1", gens)
	}
	v2, v1 := gens[0].Generation, gens[1].Generation
	if g := gens[0]; g.By != "root" || g.Command != "apply "+data+"/v2" || g.Summary != "~app roll/web (env.GREETING)" {
		t.Errorf("history of v2: %+v, want by root, apply %s/v2, ~app roll/web (env.GREETING)", g, data)
	}
	if g := gens[1]; g.Command != "apply /srv/m" || g.Summary != "+tenant roll; +app roll/web" {
		t.Errorf("history of v1: %+v", g)
	}
	if cur := strings.TrimSpace(r.run("readlink", "/etc/ehecoatl/current")); cur != ".generations/"+v2 {
		t.Errorf("current -> %s, want the listed current %s", cur, v2)
	}
	text := r.run("ehecoatl", "history")
	t.Logf("ehecoatl history:\n%s", text)
	if !regexp.MustCompile(`(?m)^\* 0 +`+v2+` .* root +apply `+data+`/v2 +~app roll/web \(env\.GREETING\)$`).MatchString(text) ||
		!regexp.MustCompile(`(?m)^  1 +`+v1+` `).MatchString(text) {
		t.Errorf("history does not list v2 current (*) then v1:\n%s", text)
	}
	if mode := strings.TrimSpace(r.run("stat", "-c", "%a %U", "/var/lib/ehecoatl/history.json")); mode != "600 root" {
		t.Errorf("history.json is %s, want 600 root", mode)
	}

	t.Run("dry-run prints the plan and changes nothing", func(t *testing.T) {
		out := r.on(t).run("ehecoatl", "rollback", "--dry-run")
		if !strings.Contains(out, "rollback to "+v1) || !strings.Contains(out, "~ app roll/web: env.GREETING") {
			t.Errorf("rollback --dry-run:\n%s", out)
		}
		greeting(t, "roll.test", "greeting v2")
	})

	out := r.run("ehecoatl", "rollback")
	t.Logf("ehecoatl rollback:\n%s", out)
	plan, done := strings.Index(out, "~ app roll/web: env.GREETING"), strings.Index(out, "rolled back to "+v1)
	if plan < 0 || done < plan {
		t.Errorf("rollback does not print the plan, then that it rolled back to %s:\n%s", v1, out)
	}
	greeting(t, "roll.test", "greeting v1")
	gens = history(t)
	if len(gens) != 2 || gens[0].Generation != v1 || !gens[0].Current || gens[0].Command != "rollback from "+v2 ||
		gens[0].Summary != "~app roll/web (env.GREETING)" || gens[1].Generation != v2 {
		t.Errorf("history after the rollback: %+v, want v1 current (rollback from v2), then v2", gens)
	}

	t.Run("rollback to the current generation changes nothing", func(t *testing.T) {
		r := r.on(t)
		out, errOut, code := r.try("ehecoatl", "rollback", "0")
		if code != 0 || !strings.Contains(out, v1+" is the current generation") {
			t.Errorf("rollback 0: exit %d\n%s%s", code, out, errOut)
		}
		if _, errOut, code := r.try("ehecoatl", "rollback", "zzzz"); code != 1 || !strings.Contains(errOut, `no kept generation "zzzz"`) {
			t.Errorf("rollback zzzz: exit %d, %s", code, errOut)
		}
		greeting(t, "roll.test", "greeting v1")
	})

	t.Run("the prune guard holds for rollback", func(t *testing.T) {
		r := r.on(t)
		r.run("ehecoatl", "apply", data+"/v3")
		greeting(t, "more.test", "hello from more/web")
		// The previous generation is v1: only roll, 2 of 3 tenants gone.
		out, errOut, code := r.try("ehecoatl", "rollback")
		if code != 1 || !strings.Contains(errOut, "rollback: this plan removes 2 of the 3 installed tenants") || !strings.Contains(errOut, "nothing was changed") {
			t.Errorf("rollback removing 2 of 3 tenants: exit %d\n%s%s", code, out, errOut)
		}
		greeting(t, "more.test", "hello from more/web")
		if g := history(t); !strings.HasPrefix(g[0].Command, "apply "+data+"/v3") {
			t.Errorf("a refused rollback changed the history: %+v", g[0])
		}
		// With --prune, and a generation named by a prefix of its id.
		out = r.run("ehecoatl", "rollback", "--prune", v2[:6])
		if !strings.Contains(out, "rolled back to "+v2) {
			t.Errorf("rollback --prune %s:\n%s", v2[:6], out)
		}
		greeting(t, "roll.test", "greeting v2")
		if code, _, err := r.fetch("more.test", "/"); err != nil || code != 404 {
			t.Errorf("more.test after rolling back to v2: %d %v, want 404", code, err)
		}
	})

	t.Run("the kept count is the host's setting", func(t *testing.T) {
		r := r.on(t)
		if n := len(history(t)); n != 3 {
			t.Fatalf("%d generations before the setting, want 3 (v2, v3, v1)", n)
		}
		r.sh("echo EHECOATL_KEEP_GENERATIONS=bogus > /etc/default/ehecoatl")
		if _, errOut, code := r.try("ehecoatl", "apply", data+"/v1"); code != 1 || !strings.Contains(errOut, "EHECOATL_KEEP_GENERATIONS") {
			t.Errorf("apply with a bad setting: exit %d, %s", code, errOut)
		}
		greeting(t, "roll.test", "greeting v2")
		r.sh("echo EHECOATL_KEEP_GENERATIONS=1 > /etc/default/ehecoatl")
		r.run("ehecoatl", "apply", data+"/v1")
		greeting(t, "roll.test", "greeting v1")
		gens := history(t)
		dirs := strings.Fields(r.sh("ls /etc/ehecoatl/.generations"))
		if len(gens) != 2 || gens[0].Generation != v1 || gens[1].Generation != v2 || len(dirs) != 2 {
			t.Errorf("with EHECOATL_KEEP_GENERATIONS=1: history %+v, directories %v; want v1 and v2 only", gens, dirs)
		}
	})
}
