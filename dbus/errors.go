package dbus

import (
	"errors"
	"fmt"

	godbus "github.com/godbus/dbus/v5"
)

// D-Bus error names we react to.
const (
	errNoSuchUnit    = "org.freedesktop.systemd1.NoSuchUnit"
	errAccessDenied  = "org.freedesktop.DBus.Error.AccessDenied"
	errInteractiveAu = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
)

// JobError is a systemd job that ended with a result other than "done".
type JobError struct {
	Unit   string // e.g. "ehecoatl-acme-web.socket"
	Op     string // "start", "stop", "restart" or "try-restart"
	Result string // systemd's job result: "failed", "timeout", "dependency", "canceled", "skipped", ...
	JobID  int    // systemd's job id; 0 if unknown
}

func (e *JobError) Error() string {
	u := e.Unit
	prefix := e.Op + " " + u + ": "
	switch e.Result {
	case "failed":
		return prefix + "job failed (see: journalctl -u " + u + ")"
	case "timeout":
		return prefix + "job timed out (see: journalctl -u " + u + ")"
	case "dependency":
		return prefix + "a dependency failed (see: systemctl list-dependencies " + u + ")"
	case "canceled":
		return prefix + "job canceled before it finished (another job replaced it, or it was canceled)"
	case "skipped":
		return prefix + "job skipped (it does not apply to the unit's current state)"
	case "assert":
		return prefix + "an Assert condition of the unit failed (see: systemctl status " + u + ")"
	case "unsupported":
		return prefix + "the unit does not support this operation"
	case "invalid":
		return prefix + "job not applicable to the unit's current state"
	case "frozen":
		return prefix + "the unit is frozen"
	}
	return fmt.Sprintf("%sjob ended with result %q (see: journalctl -u %s)", prefix, e.Result, u)
}

// IsNoSuchUnit reports whether err is systemd's NoSuchUnit: the unit is not
// loaded ("Unit x not loaded.") or has no unit file ("Unit x not found.").
func IsNoSuchUnit(err error) bool {
	return dbusErrorName(err) == errNoSuchUnit
}

// opError wraps a failed method call as "OP UNIT: message", with a hint when
// systemd refused for lack of privileges.
func opError(op, unit string, err error) error {
	what := op
	if unit != "" {
		what += " " + unit
	}
	switch dbusErrorName(err) {
	case errAccessDenied, errInteractiveAu:
		return fmt.Errorf("%s: permission denied (run as root): %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func dbusErrorName(err error) string {
	var de godbus.Error
	if errors.As(err, &de) {
		return de.Name
	}
	var dep *godbus.Error
	if errors.As(err, &dep) && dep != nil {
		return dep.Name
	}
	return ""
}
