// Package harness boots a disposable, real systemd (252 on Debian 12) for
// integration tests and for `make demo`, following SPEC §7: a tmpfs holds the
// upper and work directories of an overlay over the host's own root, and
// systemd-nspawn boots that overlay as a container.
//
// The container shares the host's network namespace, so services inside are
// reachable from the host on 127.0.0.1 (and ports are shared between all
// machines and the host). Everything else (mounts, PIDs, IPC, hostname) is the
// container's own. Commands run inside with nsenter(1) in all namespaces of
// the container's PID 1, with a clean environment (see Command).
//
// Lifetime and leaks: once the guest's PID 1 runs, the harness detaches its
// host-side mounts (the container's mount namespace keeps them alive), so
// nothing stays mounted on the host even if the test process is killed;
// systemd-nspawn gets SIGTERM when the test process dies (PR_SET_PDEATHSIG),
// SIGINT/SIGTERM/SIGHUP to the test process tear down all live machines, and
// Sweep (also run by every Boot) removes leftovers of runs that died anyway.
//
// Most tests want BootT:
//
//	m := harness.BootT(t, harness.Options{Files: map[string]string{
//		"/usr/local/bin/ehecoatl": bin,
//	}})
//	out, _, err := m.Run(ctx, "systemctl", "is-active", "ehecoatl-router.socket")
package harness
