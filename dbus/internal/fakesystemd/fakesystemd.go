// Package fakesystemd is a scriptable stand-in for systemd's D-Bus API, for
// fast unit tests of package dbus. It runs a private dbus-daemon, claims
// org.freedesktop.systemd1 on it and implements the manager methods and unit
// properties package dbus uses. Jobs end with JobRemoved signals whose result
// and delay each test chooses.
package fakesystemd

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

const (
	busName     = "org.freedesktop.systemd1"
	managerPath = dbus.ObjectPath("/org/freedesktop/systemd1")
	managerIf   = "org.freedesktop.systemd1.Manager"
	unitPrefix  = "/org/freedesktop/systemd1/unit/"

	// NotSet is systemd's UINT64_MAX "[not set]".
	NotSet = ^uint64(0)
	// Version is what the fake reports as systemd's version.
	Version = "252-fake"
)

// Job scripts how the fake answers one job method for one unit.
type Job struct {
	Result string        // JobRemoved result; "" means "done"
	Delay  time.Duration // time before JobRemoved is sent
	Never  bool          // never send JobRemoved: a job that hangs
	Err    *dbus.Error   // refuse the method call itself with this error
}

// Unit is a unit the fake knows, with its properties per interface short
// name ("Unit", "Service", "Socket", "Slice").
type Unit struct {
	Props map[string]map[string]any
}

// Systemd is a running fake. Its methods are safe for concurrent use.
type Systemd struct {
	Address string // D-Bus address of the private bus, for dbus.ConnectAddress

	d    *daemon
	conn *dbus.Conn

	mu          sync.Mutex
	units       map[string]*Unit
	jobs        map[string]Job // by "Method unit" or "Method" (any unit)
	reloadDelay time.Duration
	reloadErr   *dbus.Error
	nextID      uint32
	installed   uint32            // NInstalledJobs
	running     map[string]string // unit -> type of its pending job
	maxRunning  int               // most jobs pending at once
	calls       []string
}

// New starts a fake systemd for t and stops it when t ends. It skips t when
// dbus-daemon is not installed.
func New(t testing.TB) *Systemd {
	t.Helper()
	d := startDaemon(t)
	s := &Systemd{
		Address: d.address,
		d:       d,
		units:   map[string]*Unit{},
		jobs:    map[string]Job{},
		running: map[string]string{},
		nextID:  100,
	}
	t.Cleanup(s.Close)
	conn, err := dbus.Connect(d.address)
	if err != nil {
		t.Fatalf("fakesystemd: connect to %s: %v", d.address, err)
	}
	s.conn = conn
	if err := conn.Export(manager{s}, managerPath, managerIf); err != nil {
		t.Fatal(err)
	}
	// Properties of the manager and of every unit path below it.
	if err := conn.ExportSubtree(properties{s}, managerPath, "org.freedesktop.DBus.Properties"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName(busName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("fakesystemd: claim %s: %v %v", busName, reply, err)
	}
	return s
}

// NewBus starts a private bus on which nobody provides systemd and returns its
// address; it stops when t ends.
func NewBus(t testing.TB) string {
	t.Helper()
	d := startDaemon(t)
	t.Cleanup(d.stop)
	return d.address
}

// Close stops the fake and its bus: clients see the connection drop.
func (s *Systemd) Close() {
	if s.conn != nil {
		s.conn.Close()
	}
	s.d.stop()
}

// AddUnit adds (or replaces) a unit. props, by interface short name, override
// the defaults: loaded, inactive/dead, generated, accounting values not set.
func (s *Systemd) AddUnit(name string, props map[string]map[string]any) {
	u := &Unit{Props: defaultProps(name)}
	for iface, m := range props {
		if u.Props[iface] == nil {
			u.Props[iface] = map[string]any{}
		}
		maps.Copy(u.Props[iface], m)
	}
	s.mu.Lock()
	s.units[name] = u
	s.mu.Unlock()
}

// AddUnits adds units with default properties.
func (s *Systemd) AddUnits(names ...string) {
	for _, n := range names {
		s.AddUnit(n, nil)
	}
}

// SetJob scripts method ("StartUnit", "StopUnit", "RestartUnit",
// "TryRestartUnit") for unit, or for every unit when unit is "".
func (s *Systemd) SetJob(method, unit string, j Job) {
	key := method
	if unit != "" {
		key += " " + unit
	}
	s.mu.Lock()
	s.jobs[key] = j
	s.mu.Unlock()
}

// SetReload makes Reload take delay and then fail with err (if not nil).
func (s *Systemd) SetReload(delay time.Duration, err *dbus.Error) {
	s.mu.Lock()
	s.reloadDelay, s.reloadErr = delay, err
	s.mu.Unlock()
}

// State returns a unit's ActiveState and SubState.
func (s *Systemd) State(name string) (active, sub string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.units[name]
	if !ok {
		return "", ""
	}
	active, _ = u.Props["Unit"]["ActiveState"].(string)
	sub, _ = u.Props["Unit"]["SubState"].(string)
	return active, sub
}

// Calls returns the manager methods called so far, e.g.
// "StartUnit a.service replace", in order of arrival.
func (s *Systemd) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// MaxRunning is the largest number of jobs that were pending at once.
func (s *Systemd) MaxRunning() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxRunning
}

// Installed is NInstalledJobs: how many jobs were enqueued.
func (s *Systemd) Installed() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.installed
}

func (s *Systemd) record(format string, args ...any) {
	s.calls = append(s.calls, fmt.Sprintf(format, args...))
}

// defaultProps are the properties of an inactive generated unit.
func defaultProps(name string) map[string]map[string]any {
	p := map[string]map[string]any{
		"Unit": {
			"Id":                     name,
			"Names":                  []string{name},
			"Description":            "fake " + name,
			"LoadState":              "loaded",
			"ActiveState":            "inactive",
			"SubState":               "dead",
			"UnitFileState":          "generated",
			"FragmentPath":           "/run/systemd/generator/" + name,
			"SourcePath":             "",
			"DropInPaths":            []string{},
			"NeedDaemonReload":       false,
			"StateChangeTimestamp":   uint64(0),
			"ActiveEnterTimestamp":   uint64(0),
			"InactiveEnterTimestamp": uint64(0),
			"Triggers":               []string{},
			"TriggeredBy":            []string{},
		},
	}
	cgroup := map[string]any{"MemoryCurrent": NotSet, "CPUUsageNSec": NotSet, "TasksCurrent": NotSet}
	switch unitType(name) {
	case "service":
		p["Service"] = map[string]any{"MainPID": uint32(0), "NRestarts": uint32(0), "Result": "success",
			"ExecMainCode": int32(0), "ExecMainStatus": int32(0)}
		maps.Copy(p["Service"], cgroup)
	case "socket":
		p["Socket"] = map[string]any{"NAccepted": uint32(0), "NConnections": uint32(0), "Result": "success"}
		maps.Copy(p["Socket"], cgroup)
	case "slice":
		p["Slice"] = cgroup
	}
	return p
}
