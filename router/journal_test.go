package router

import (
	"crypto/tls"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// With a journal (systemd hosts, the nspawn integration container) the
// access log lands there with its fields.
func TestJournalAccessLog(t *testing.T) {
	if !journal.Enabled() {
		t.Skip("no journald socket (/run/systemd/journal/socket): the journal sink cannot be checked here")
	}
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Skip("journalctl not installed")
	}
	path := "/ehecoatl-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	l := NewAccessLog(nil)
	l.Log(AccessEntry{Time: time.Now(), Tenant: "acme", App: "web", Method: "GET", Host: "acme.test", Path: path, Status: 201, Duration: 1500 * time.Microsecond,
		BytesIn: 78, BytesOut: 1234, Client: "192.0.2.1", UserAgent: "curl/8.5.0\tx", Proto: "HTTP/2.0", TLSVersion: tls.VersionTLS13,
		RequestID: RequestID{Kept: "edge-1"}})
	l.Close()
	var out []byte
	for i := 0; i < 50; i++ {
		// By MESSAGE_ID, as docs/OPERATIONS.md selects access lines.
		out, _ = exec.Command("journalctl", "-o", "json", "MESSAGE_ID="+AccessMessageID, "PATH="+path).Output()
		if len(out) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(string(out), "\n", 2)[0]), &e); err != nil {
		t.Fatalf("journal entry for %s: %v (%q)", path, err, out)
	}
	for k, v := range map[string]string{"EHECOATL_TENANT": "acme", "EHECOATL_APP": "web", "STATUS": "201", "DURATION_MS": "1.500", "HOST": "acme.test", "METHOD": "GET",
		"MESSAGE_ID": AccessMessageID, "BYTES_IN": "78", "BYTES_OUT": "1234", "CLIENT_ADDRESS": "192.0.2.1", "USER_AGENT": "curl/8.5.0\uFFFDx",
		"PROTOCOL": "HTTP/2.0", "TLS_VERSION": "TLSv1.3", "REQUEST_ID": "edge-1"} {
		if e[k] != v {
			t.Errorf("%s = %v, want %s", k, e[k], v)
		}
	}
}

// Every field the journal sink writes has a name journald accepts
// (systemd.journal-fields(7): uppercase letters, digits and underscores,
// not starting with an underscore or a digit; journald drops others).
func TestJournalFieldNames(t *testing.T) {
	s := &journalSink{vars: map[string]string{}}
	e := AccessEntry{Tenant: "a", App: "b", UserAgent: "x", Proto: "HTTP/1.1", TLSVersion: tls.VersionTLS12, RequestID: RequestID{Seq: 1}}
	s.fields(&e)
	valid := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	if len(s.vars) != 15 {
		t.Errorf("%d fields, want 15: %v", len(s.vars), s.vars)
	}
	for k := range s.vars {
		if !valid.MatchString(k) || len(k) > 64 {
			t.Errorf("field name %q", k)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(AccessMessageID) {
		t.Errorf("MESSAGE_ID %q is not a 128-bit id in hex", AccessMessageID)
	}
}

// The catalog entry the packages ship (packaging/catalog) is for the
// access lines' MESSAGE_ID, and journalctl builds a catalog of it.
func TestAccessCatalog(t *testing.T) {
	b, err := os.ReadFile("../packaging/catalog/ehecoatl.catalog")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\n-- "+AccessMessageID+"\n") {
		t.Fatalf("the catalog has no entry -- %s", AccessMessageID)
	}
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Skip("journalctl not installed: the catalog's syntax is not checked")
	}
	root := t.TempDir()
	dir := filepath.Join(root, "usr/lib/systemd/catalog")
	os.MkdirAll(dir, 0o755)
	os.MkdirAll(filepath.Join(root, "var/lib/systemd/catalog"), 0o755)
	os.WriteFile(filepath.Join(dir, "ehecoatl.catalog"), b, 0o644)
	if out, err := exec.Command("journalctl", "--root", root, "--update-catalog").CombinedOutput(); err != nil {
		t.Fatalf("journalctl --update-catalog: %v\n%s", err, out)
	}
	out, err := exec.Command("journalctl", "--root", root, "--list-catalog").CombinedOutput()
	if err != nil || !strings.Contains(string(out), AccessMessageID+" ehecoatl: @EHECOATL_TENANT@/@EHECOATL_APP@") {
		t.Errorf("journalctl --list-catalog: %v\n%s", err, out)
	}
}
