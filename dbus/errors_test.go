package dbus

import (
	"errors"
	"fmt"
	"testing"

	godbus "github.com/godbus/dbus/v5"
)

func TestJobErrorMessages(t *testing.T) {
	const u = "ehecoatl-acme-web.socket"
	tests := []struct {
		op, result, want string
	}{
		{"start", "failed", "start ehecoatl-acme-web.socket: job failed (see: journalctl -u ehecoatl-acme-web.socket)"},
		{"restart", "timeout", "restart ehecoatl-acme-web.socket: job timed out (see: journalctl -u ehecoatl-acme-web.socket)"},
		{"start", "dependency", "start ehecoatl-acme-web.socket: a dependency failed (see: systemctl list-dependencies ehecoatl-acme-web.socket)"},
		{"stop", "canceled", "stop ehecoatl-acme-web.socket: job canceled before it finished (another job replaced it, or it was canceled)"},
		{"try-restart", "skipped", "try-restart ehecoatl-acme-web.socket: job skipped (it does not apply to the unit's current state)"},
		{"start", "assert", "start ehecoatl-acme-web.socket: an Assert condition of the unit failed (see: systemctl status ehecoatl-acme-web.socket)"},
		{"start", "brand-new", `start ehecoatl-acme-web.socket: job ended with result "brand-new" (see: journalctl -u ehecoatl-acme-web.socket)`},
	}
	for _, tt := range tests {
		t.Run(tt.result, func(t *testing.T) {
			var err error = &JobError{Unit: u, Op: tt.op, Result: tt.result}
			if got := err.Error(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			var je *JobError
			if !errors.As(fmt.Errorf("wrapped: %w", err), &je) || je.Result != tt.result {
				t.Errorf("errors.As lost the JobError")
			}
		})
	}
}

func TestOpError(t *testing.T) {
	tests := []struct {
		name   string
		op     string
		unit   string
		err    error
		want   string
		noSuch bool
	}{
		{"no such unit", "start", "a.service", godbus.Error{Name: errNoSuchUnit, Body: []any{"Unit a.service not found."}},
			"start a.service: Unit a.service not found.", true},
		{"polkit", "stop", "a.service", godbus.Error{Name: errInteractiveAu, Body: []any{"Interactive authentication required."}},
			"stop a.service: permission denied (run as root): Interactive authentication required.", false},
		{"access denied pointer", "restart", "a.service", &godbus.Error{Name: errAccessDenied, Body: []any{"Access denied"}},
			"restart a.service: permission denied (run as root): Access denied", false},
		{"no unit", "daemon-reload", "", errors.New("boom"), "daemon-reload: boom", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := opError(tt.op, tt.unit, tt.err)
			if err.Error() != tt.want {
				t.Errorf("got  %q\nwant %q", err, tt.want)
			}
			if IsNoSuchUnit(err) != tt.noSuch {
				t.Errorf("IsNoSuchUnit = %v, want %v", !tt.noSuch, tt.noSuch)
			}
		})
	}
}
