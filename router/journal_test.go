package router

import (
	"encoding/json"
	"os/exec"
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
	l.Log(AccessEntry{Time: time.Now(), Tenant: "acme", App: "web", Method: "GET", Host: "acme.test", Path: path, Status: 201, Duration: 1500 * time.Microsecond})
	l.Close()
	var out []byte
	for i := 0; i < 50; i++ {
		out, _ = exec.Command("journalctl", "-o", "json", "PATH="+path).Output()
		if len(out) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(string(out), "\n", 2)[0]), &e); err != nil {
		t.Fatalf("journal entry for %s: %v (%q)", path, err, out)
	}
	for k, v := range map[string]string{"EHECOATL_TENANT": "acme", "EHECOATL_APP": "web", "STATUS": "201", "DURATION_MS": "1.500", "HOST": "acme.test", "METHOD": "GET"} {
		if e[k] != v {
			t.Errorf("%s = %v, want %s", k, e[k], v)
		}
	}
}
