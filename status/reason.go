package status

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ehecoatl/ehecoatl/dbus"
)

// Reason says in words why systemd failed an app: what ended its service
// (exit status, signal, OOM kill, a step systemd could not set up) and
// whether systemd gave up on it (a start or trigger limit), from the
// properties status reads anyway; "" when no unit failed. The units are
// the app's, services first (docs/OPERATIONS.md "When an app fails").
func Reason(units []*dbus.UnitInfo) string {
	var parts []string
	add := func(s string) {
		if s != "" && !strings.Contains(strings.Join(parts, "; "), s) {
			parts = append(parts, s)
		}
	}
	for _, u := range units {
		if u != nil && u.ActiveState == "failed" && strings.HasSuffix(u.Name, ".service") {
			if r := serviceReason(u); r != "" && strings.Contains(u.Name, "-bridge") {
				// Names hold no "-" (docs/DESIGN.md), so this is the bridge.
				add("its bridge " + r)
			} else {
				add(r)
			}
		}
	}
	for _, u := range units {
		if u != nil && u.ActiveState == "failed" && strings.HasSuffix(u.Name, ".socket") {
			add(socketReason(u.Result))
		}
	}
	return strings.Join(parts, "; ")
}

// CLD_* of waitid(2), systemd's ExecMainCode.
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

func serviceReason(u *dbus.UnitInfo) string {
	switch u.Result {
	case "exit-code":
		if u.ExecMainCode != cldExited {
			return "exited with failure"
		}
		return exitReason(u.ExecMainStatus)
	case "signal", "core-dump":
		s := "killed by signal " + signalName(u.ExecMainStatus)
		if u.Result == "core-dump" || u.ExecMainCode == cldDumped {
			s += " (core dumped)"
		}
		return s
	case "oom-kill":
		return "killed by the OOM killer: out of memory (memory limit)"
	case "start-limit-hit":
		return "systemd gave up: start limit hit"
	case "timeout":
		return "timed out"
	case "watchdog":
		return "watchdog timeout"
	case "resources":
		return "systemd could not set up its resources (sandbox, credentials, state directory)"
	case "", "success":
		if u.ExecMainCode == cldKilled {
			return "killed by signal " + signalName(u.ExecMainStatus)
		}
		return ""
	}
	return "failed: " + u.Result
}

func socketReason(result string) string {
	switch result {
	case "service-start-limit-hit":
		// templates/service.conf
		return "systemd gave up: start limit hit (5 starts in 5 s)"
	case "trigger-limit-hit":
		// A port: app's bridge failing on its app at once; templates/socket.conf.
		return "systemd gave up: start limit hit (its socket's trigger limit ended the retries)"
	case "resources":
		return "its socket could not be set up"
	case "", "success":
		return ""
	}
	return "socket failed: " + result
}

// exitReason names an exit status; 200-245 are the steps systemd itself
// failed before the program ran (systemd.exec(5), "PROCESS EXIT CODES").
func exitReason(status int32) string {
	if status == 203 {
		return "the program could not be executed (status 203/EXEC: missing, not executable, or not inside the sandbox)"
	}
	if name, ok := execSteps[status]; ok {
		return fmt.Sprintf("systemd could not start the program (status %d/%s)", status, name)
	}
	return fmt.Sprintf("exited with status %d", status)
}

var execSteps = map[int32]string{
	200: "CHDIR", 201: "NICE", 202: "FDS", 204: "MEMORY", 205: "LIMITS", 206: "OOM_ADJUST",
	207: "SIGNAL_MASK", 208: "STDIN", 209: "STDOUT", 210: "CHROOT", 211: "IOPRIO", 212: "TIMERSLACK",
	213: "SECUREBITS", 214: "SETSCHEDULER", 215: "CPUAFFINITY", 216: "GROUP", 217: "USER",
	218: "CAPABILITIES", 219: "CGROUP", 220: "SETSID", 221: "CONFIRM", 222: "STDERR", 224: "PAM",
	225: "NETWORK", 226: "NAMESPACE", 227: "NO_NEW_PRIVILEGES", 228: "SECCOMP", 229: "SELINUX_CONTEXT",
	230: "PERSONALITY", 231: "APPARMOR_PROFILE", 232: "ADDRESS_FAMILIES", 233: "RUNTIME_DIRECTORY",
	235: "CHOWN", 236: "SMACK_PROCESS_LABEL", 237: "KEYRING", 238: "STATE_DIRECTORY",
	239: "CACHE_DIRECTORY", 240: "LOGS_DIRECTORY", 241: "CONFIGURATION_DIRECTORY", 242: "NUMA_POLICY",
	243: "CREDENTIALS", 245: "BPF",
}

func signalName(n int32) string {
	if s := unix.SignalName(unix.Signal(n)); s != "" {
		return s
	}
	return fmt.Sprint(n)
}
