package harness

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// BootT boots a machine for a test. When this host cannot run one
// (ErrUnavailable) the test is skipped with what is missing; any other boot
// error fails it. Progress goes to the test log unless opts.Stdout is set.
// At cleanup, a failed test logs the guest's failed units and the last 200
// journal lines, then the machine is closed.
func BootT(t testing.TB, opts Options) *Machine {
	t.Helper()
	if opts.Stdout == nil {
		opts.Stdout = testLog{t}
	}
	m, err := Boot(t.Context(), opts)
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			failed, _, _ := m.Run(ctx, "systemctl", "list-units", "--failed", "--plain", "--no-legend", "--no-pager")
			t.Logf("guest %s: failed units:\n%s\nlast 200 journal lines:\n%s",
				m.Name(), orNone(failed), m.Journal(ctx, "-n", "200"))
			cancel()
		}
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(none)"
	}
	return s
}

// testLog writes progress lines to the test log.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
