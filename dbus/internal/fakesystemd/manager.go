package fakesystemd

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// manager implements org.freedesktop.systemd1.Manager; godbus exports its
// methods that return *dbus.Error.
type manager struct{ s *Systemd }

func (m manager) StartUnit(name, mode string) (dbus.ObjectPath, *dbus.Error) {
	return m.s.enqueue("StartUnit", "start", name, mode)
}

func (m manager) StopUnit(name, mode string) (dbus.ObjectPath, *dbus.Error) {
	return m.s.enqueue("StopUnit", "stop", name, mode)
}

func (m manager) RestartUnit(name, mode string) (dbus.ObjectPath, *dbus.Error) {
	return m.s.enqueue("RestartUnit", "restart", name, mode)
}

func (m manager) TryRestartUnit(name, mode string) (dbus.ObjectPath, *dbus.Error) {
	return m.s.enqueue("TryRestartUnit", "try-restart", name, mode)
}

func (m manager) Reload() *dbus.Error {
	s := m.s
	s.mu.Lock()
	s.record("Reload")
	delay, err := s.reloadDelay, s.reloadErr
	s.mu.Unlock()
	time.Sleep(delay) // systemd answers Reload only once it is done
	return err
}

func (m manager) ResetFailedUnit(name string) *dbus.Error {
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("ResetFailedUnit %s", name)
	u, ok := s.units[name]
	if !ok {
		return noSuchUnit("Unit %s not loaded.", name)
	}
	if u.Props["Unit"]["ActiveState"] == "failed" {
		setState(u, "inactive", "dead")
	}
	return nil
}

// unitStatus is one entry of ListUnits*: signature (ssssssouso).
type unitStatus struct {
	Name, Description, LoadState, ActiveState, SubState, Followed string
	Path                                                          dbus.ObjectPath
	JobID                                                         uint32
	JobType                                                       string
	JobPath                                                       dbus.ObjectPath
}

func (m manager) ListUnitsByPatterns(states, patterns []string) ([]unitStatus, *dbus.Error) {
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("ListUnitsByPatterns %v %v", states, patterns)
	out := []unitStatus{} // never nil: godbus cannot marshal a nil slice of structs
	for _, name := range slices.Sorted(maps.Keys(s.units)) {
		p := s.units[name].Props["Unit"]
		st := unitStatus{
			Name: name, Description: p["Description"].(string),
			LoadState: p["LoadState"].(string), ActiveState: p["ActiveState"].(string), SubState: p["SubState"].(string),
			Path: unitPath(name), JobPath: "/", // systemd says "/" for no job; "" is no valid object path
		}
		if len(states) > 0 && !slices.Contains(states, st.LoadState) && !slices.Contains(states, st.ActiveState) && !slices.Contains(states, st.SubState) {
			continue
		}
		if len(patterns) > 0 && !slices.ContainsFunc(patterns, func(pat string) bool { ok, _ := path.Match(pat, name); return ok }) {
			continue
		}
		if typ, ok := s.running[name]; ok {
			st.JobID, st.JobType, st.JobPath = 1, typ, "/org/freedesktop/systemd1/job/1"
		}
		out = append(out, st)
	}
	return out, nil
}

// enqueue records a job and sends its JobRemoved as the test scripted it.
func (s *Systemd) enqueue(method, typ, name, mode string) (dbus.ObjectPath, *dbus.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("%s %s %s", method, name, mode)
	j, ok := s.jobs[method+" "+name]
	if !ok {
		j = s.jobs[method]
	}
	if j.Err != nil {
		return "", j.Err
	}
	u, ok := s.units[name]
	if !ok {
		if typ == "stop" {
			return "", noSuchUnit("Unit %s not loaded.", name)
		}
		return "", noSuchUnit("Unit %s not found.", name)
	}
	if j.Result == "" {
		j.Result = "done"
	}
	s.nextID++
	s.installed++
	id := s.nextID
	jobPath := dbus.ObjectPath(fmt.Sprintf("/org/freedesktop/systemd1/job/%d", id))
	s.running[name] = typ
	s.maxRunning = max(s.maxRunning, len(s.running))
	if j.Never {
		return jobPath, nil
	}
	go func() {
		time.Sleep(j.Delay)
		s.mu.Lock()
		delete(s.running, name)
		finish(u, typ, j.Result)
		s.mu.Unlock()
		s.conn.Emit(managerPath, managerIf+".JobRemoved", id, jobPath, name, j.Result)
	}()
	return jobPath, nil
}

// finish changes a unit's state as a job with result would.
func finish(u *Unit, typ, result string) {
	active := u.Props["Unit"]["ActiveState"]
	switch {
	case result == "failed":
		setState(u, "failed", "failed")
	case result != "done":
	case typ == "stop":
		setState(u, "inactive", "dead")
	case typ == "try-restart" && active != "active":
	default:
		sub := "running"
		if strings.HasSuffix(u.Props["Unit"]["Id"].(string), ".socket") {
			sub = "listening"
		}
		setState(u, "active", sub)
	}
}

func setState(u *Unit, active, sub string) {
	u.Props["Unit"]["ActiveState"] = active
	u.Props["Unit"]["SubState"] = sub
	u.Props["Unit"]["StateChangeTimestamp"] = uint64(time.Now().UnixMicro())
}

func noSuchUnit(format, name string) *dbus.Error {
	return dbus.NewError("org.freedesktop.systemd1.NoSuchUnit", []any{fmt.Sprintf(format, name)})
}
