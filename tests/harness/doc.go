// Package harness boots a disposable, real systemd (252 on Debian 12) for
// integration tests and for `make demo`, as README.md's testing section describes: a tmpfs holds the
// upper and work directories of an overlay over the host's own root, and
// systemd-nspawn boots that overlay as a container. A boot takes about 0.3 s
// on an idle development machine (2-3 s when the host is busy).
//
// Most tests want BootT:
//
//	m := harness.BootT(t, harness.Options{Files: map[string]string{
//		"/usr/bin/ehecoatl": bin, // copied into the guest before boot
//	}})
//	out, _, err := m.Run(t.Context(), "systemctl", "is-active", "ehecoatl-router.socket")
//
// # What the guest is
//
// The guest boots the host's own configuration (same packages, same
// /etc), minus the units in DefaultMask and a few generators; see
// Options.Mask. It has its own machine ID, its hostname is the machine name,
// and writes never reach the host. Files the host changes after boot may or
// may not show through (overlayfs leaves that undefined): copy what the test
// needs with Options.Files or CopyIn.
//
// /tmp and /run inside are the guest's own tmpfs, so Options.Files refuses
// them; WriteFile, ReadFile and CopyIn work there after boot.
//
// # Network
//
// The guest shares the host's network namespace: a service inside listening
// on 127.0.0.1:8080 is reached from the host (and from the test) at
// 127.0.0.1:8080, and ports are shared by all machines and the host. Tests
// that run in parallel must not use fixed ports, and the router's :80 can be
// bound by one machine at a time. Unix sockets inside are reachable from the
// host at Root()+path (e.g. /proc/PID/root/run/ehecoatl/acme/web.sock).
//
// # Commands
//
// Run and Command use nsenter(1) into all namespaces of the guest's PID 1:
// as root, in /, with GuestEnv (PATH=/usr/local/sbin:/usr/local/bin:
// /usr/sbin:/usr/bin:/sbin:/bin, not the test's). Such a process is not part
// of any unit of the guest (use systemd-run for that), and it stays in the
// test's host cgroup. `systemd-run --wait` without --pipe sends the output to
// the guest's journal, not to Run's stdout.
//
// # Leaks
//
// None, by construction: once the guest's PID 1 runs, the harness lazily
// unmounts its host-side mounts and removes the host directory (the guest's
// mount namespace keeps the file systems alive), so nothing stays mounted on
// the host however the test process ends. systemd-nspawn gets SIGTERM when
// the test process dies (PR_SET_PDEATHSIG) and powers the guest off;
// SIGINT, SIGTERM and SIGHUP to the test process kill all live machines
// before the signal takes effect; and Sweep, which every Boot runs first,
// removes what runs that died anyway left behind (processes, mounts,
// directories, cgroups), never touching machines of live processes.
//
// Each machine runs in a cgroup of its own (see cgroup.go): guests started
// from one cgroup would otherwise share a cgroup tree and kill each other's
// units. Cgroup resource limits are not enforced in these guests (the VM tier, tests/vm, proves them).
package harness
