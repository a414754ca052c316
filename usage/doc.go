// Package usage reads what each app's services and each tenant's slice
// use, when asked (a Prometheus scrape, `ehecoatl status --json`), not
// sampled in between: CPU time, memory and its peak, tasks, block IO and
// the limits from the unit's cgroup (cgroup v2 files, read directly), and
// from systemd over D-Bus what the cgroup file system does not hold: the
// units' ActiveState (one ListUnitsByPatterns for all), restarts and the
// IP bytes of IPAccounting= (pipelined Gets on one connection).
//
// Collector writes a reading as the "Usage" metrics of docs/METRICS.md.
// Nothing read needs root: cgroup files are world-readable and systemd
// answers property reads from any user on the system bus, so the router
// (user ehecoatl-router, ProtectControlGroups=yes) can serve them.
//
// A leaf: it imports naming, dbus and internal/promtext only, so the
// router links no translator and the CLI no router.
package usage
