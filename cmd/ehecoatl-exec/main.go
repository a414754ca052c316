// Command ehecoatl-exec is the ExecStart= of every app service
// (/usr/lib/ehecoatl/ehecoatl-exec, visible in the sandbox with /usr): it
// takes the app's command out of the environment systemd built from the
// app's env file (package appexec) and execve(2)s it with the rest of
// that environment, in its own place: the app keeps the PID systemd
// started, so Type=notify, MainPID and signals are the app's, and no
// process of the launcher remains. The unit names only the launcher, so
// a changed command needs a restart but no daemon-reload
// (docs/DESIGN.md "The app's command").
//
// It imports only syscall and appexec: every cold start of an app pays
// for its start-up (measured in main_test.go).
package main

import (
	"syscall"

	"github.com/ehecoatl/ehecoatl/appexec"
)

// exitExec is systemd's own status when it cannot execute a program
// (EXIT_EXEC, systemd.exec(5) "PROCESS EXIT CODES"): status shows the
// same reason as when systemd ran the program itself.
const exitExec = 203

func main() {
	argv, env, err := appexec.Split(syscall.Environ())
	if err != nil {
		fail(err.Error())
	}
	err = syscall.Exec(argv[0], argv, env)
	fail("cannot execute " + argv[0] + ": " + err.Error())
}

// fail reports on stderr (the journal, next to systemd's lines about the
// unit) and exits as systemd does when an exec fails.
func fail(msg string) {
	syscall.Write(2, []byte("ehecoatl-exec: "+msg+"\n"))
	syscall.Exit(exitExec)
}
