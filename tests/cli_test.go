package tests

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// journalLines writes n journal entries of tenant acme (with the field apps'
// lines carry), so that `ehecoatl logs acme` has more to print than a pipe
// holds.
const journalLines = `import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for i in range(3000):
    s.sendto(b"MESSAGE=filler line %d of a test that closes the pipe early\nEHECOATL_TENANT=acme\nEHECOATL_APP=web\n" % i, "/run/systemd/journal/socket")
`

// TestCLIConventions: the command line as docs/OPERATIONS.md "The command
// line" describes it, in a booted systemd with the examples applied.
func TestCLIConventions(t *testing.T) {
	h := boot(t)
	h.run("ehecoatl", "apply", "/srv/examples")

	t.Run("help CMD", func(t *testing.T) {
		out, errOut, code := h.on(t).try("ehecoatl", "help", "status")
		if code != 0 || !strings.Contains(out, "ehecoatl status [command options] [TENANT[/APP]]") {
			t.Errorf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("status TENANT/APP", func(t *testing.T) {
		rows := h.on(t).statusJSON("acme/web")
		if len(rows) != 1 || rows[0]["tenant"] != "acme" || rows[0]["app"] != "web" {
			t.Errorf("status acme/web: %v", rows)
		}
	})
	t.Run("unknown targets", func(t *testing.T) {
		for _, argv := range [][]string{
			{"ehecoatl", "logs", "nosuch"},
			{"ehecoatl", "status", "nosuch"},
			{"ehecoatl", "restart", "nosuch"},
			{"ehecoatl", "logs", "acme/nosuch"},
		} {
			out, errOut, code := h.on(t).try(argv...)
			if code != 1 || !strings.Contains(errOut, "acme") {
				t.Errorf("%s: exit %d, want 1 naming the installed ones\nstdout: %s\nstderr: %s", strings.Join(argv, " "), code, out, errOut)
			}
		}
	})
	t.Run("logs passes journalctl's flags", func(t *testing.T) {
		h := h.on(t)
		out, errOut, code := h.try("ehecoatl", "logs", "acme", "-p", "info", "--grep", "ehecoatl-acme-web.socket", "--since", "-1h", "--until", "now", "-o", "cat")
		if code != 0 || !strings.Contains(out, "ehecoatl-acme-web.socket") || strings.Contains(out, "ehecoatl-acme-web.service") {
			t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
	})
	t.Run("logs ends quietly", func(t *testing.T) {
		h := h.on(t)
		h.run("python3", "-c", journalLines)
		// Ctrl-C of a follow: SIGINT to ehecoatl, which passes it on.
		out, errOut, code := h.try("timeout", "--preserve-status", "-s", "INT", "2", "ehecoatl", "logs", "acme", "-f")
		if code != 0 || errOut != "" || !strings.Contains(out, "filler line 2999") {
			t.Errorf("Ctrl-C: exit %d, stderr %q (stdout %d bytes)", code, errOut, len(out))
		}
		// A reader that goes away: ehecoatl logs acme | head -n 1.
		out = h.run("bash", "-c", `set -o pipefail; ehecoatl logs acme -o json 2>/tmp/err | head -n 1 >/dev/null; echo "exit=$?"; cat /tmp/err`)
		if strings.TrimSpace(out) != "exit=0" {
			t.Errorf("| head: %s", out)
		}
	})
	t.Run("bash completion", func(t *testing.T) {
		h := h.on(t)
		for _, tc := range []struct{ words, want, not string }{
			{"ehecoatl apply --", "--dry-run", "acme"},
			{"ehecoatl logs a", "acme/web", "--follow"},
			{"ehecoatl st", "status", "acme"},
		} {
			n := len(strings.Fields(tc.words))
			if strings.HasSuffix(tc.words, " ") {
				n++
			}
			out := h.run("bash", "-c", `source /usr/share/bash-completion/completions/ehecoatl
COMP_WORDS=(`+tc.words+`); COMP_CWORD=`+strconv.Itoa(n-1)+`; _ehecoatl_complete; printf '%s\n' "${COMPREPLY[@]}"`)
			got := strings.Fields(out)
			if !slices.Contains(got, tc.want) || slices.Contains(got, tc.not) {
				t.Errorf("%q<TAB>: %v, want %q and not %q", tc.words, got, tc.want, tc.not)
			}
		}
	})
}
