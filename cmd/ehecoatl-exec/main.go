// Command ehecoatl-exec is the ExecStart= of the previous release's app
// services (/usr/lib/ehecoatl/ehecoatl-exec, visible in the sandbox with
// /usr): it takes the app's command out of the environment systemd built
// from the app's env file (package appexec) and execve(2)s it with the
// rest of that environment, in its own place. The generator now writes
// "ExecStart=PROGRAM $EHECOATL_ARGS" instead, which costs a start one exec
// less (docs/DESIGN.md "The app's command"); the package keeps this for
// units that systemd loaded before an upgrade's daemon-reload.
//
// It imports only syscall and appexec; main_test.go measures what it
// added to every start.
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
