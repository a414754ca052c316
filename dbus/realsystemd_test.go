package dbus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRealSystemd runs against a real systemd when EHECOATL_TEST_SYSTEMD_ROOT
// names its root: "/" inside the machine (connects like the CLI: system bus,
// then private socket), or "/proc/PID/root" of a container's PID 1 from the
// host (connects to its private socket; run the test binary in the
// container's PID namespace, `nsenter -t PID -p`, as systemd refuses peers
// whose PID it cannot see). As a user other than root it only reads. It writes runtime units named
// ehecoatl-dbustest-* under ROOT/run/systemd/system and removes them after.
func TestRealSystemd(t *testing.T) {
	root := os.Getenv("EHECOATL_TEST_SYSTEMD_ROOT")
	if root == "" {
		t.Skip("EHECOATL_TEST_SYSTEMD_ROOT not set: no real systemd to test against (see tests/)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var c *Conn
	var err error
	if root == "/" {
		c, err = Connect(ctx)
	} else {
		c, err = ConnectPrivate(ctx, filepath.Join(root, PrivateSocket))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after the cleanup below, which needs c
	if os.Geteuid() != 0 {
		realUnprivileged(ctx, t, c)
		return
	}

	dir := filepath.Join(root, "run/systemd/system")
	units := map[string]string{
		"ehecoatl-dbustest-ok.service":   "[Service]\nExecStart=/bin/sleep infinity\n",
		"ehecoatl-dbustest-fail.service": "[Service]\nType=oneshot\nExecStart=/bin/false\n",
		"ehecoatl-dbustest-dep.service":  "[Unit]\nRequires=ehecoatl-dbustest-fail.service\nAfter=ehecoatl-dbustest-fail.service\n[Service]\nExecStart=/bin/sleep infinity\n",
		"ehecoatl-dbustest-slow.service": "[Service]\nType=oneshot\nExecStart=/bin/sleep 3\n",
		"ehecoatl-dbustest.socket":       "[Socket]\nListenStream=/run/ehecoatl-dbustest.sock\n",
		"ehecoatl-dbustest.service":      "[Service]\nExecStart=/bin/sleep infinity\n",
	}
	var names []string
	for name, text := range units {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	t.Cleanup(func() {
		ctx := context.Background()
		if err := c.StopMany(ctx, names); err != nil {
			t.Error(err)
		}
		for _, n := range names {
			if err := c.ResetFailed(ctx, n); err != nil {
				t.Error(err)
			}
			os.Remove(filepath.Join(dir, n))
		}
		if err := c.Reload(ctx); err != nil {
			t.Error(err)
		}
	})
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	before, err := c.ManagerStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("manager: %+v", before)

	if err := c.StartMany(ctx, []string{"ehecoatl-dbustest-ok.service", "ehecoatl-dbustest.socket"}); err != nil {
		t.Fatal(err)
	}
	var je *JobError
	if err := c.Start(ctx, "ehecoatl-dbustest-fail.service"); !errors.As(err, &je) || je.Result != "failed" {
		t.Errorf("failing unit: %v", err)
	} else {
		t.Log(err)
	}
	if err := c.Start(ctx, "ehecoatl-dbustest-dep.service"); !errors.As(err, &je) || je.Result != "dependency" {
		t.Errorf("unit with a failing dependency: %v", err)
	} else {
		t.Log(err)
	}
	if err := c.Start(ctx, "ehecoatl-dbustest-none.service"); !IsNoSuchUnit(err) {
		t.Errorf("missing unit: %v", err)
	} else {
		t.Log(err)
	}
	if err := c.Stop(ctx, "ehecoatl-dbustest-none.service"); err != nil {
		t.Errorf("stop of a unit that is not loaded: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	err = c.Start(short, "ehecoatl-dbustest-slow.service")
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow start past ctx: %v", err)
	}
	if err := c.TryRestart(ctx, "ehecoatl-dbustest.service"); err != nil {
		t.Errorf("try-restart of an inactive unit: %v", err)
	}

	list, err := c.ListUnits(ctx, "ehecoatl-dbustest*")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range list {
		t.Logf("list: %s job=%d/%s", u, u.JobID, u.JobType)
	}
	if i := slices.IndexFunc(list, func(u UnitStatus) bool { return u.Name == "ehecoatl-dbustest-slow.service" }); i < 0 || list[i].JobType != "start" {
		t.Errorf("slow unit should show its queued start job: %v", list)
	}

	infos, err := c.Units(ctx, append(slices.Clone(names), "ehecoatl-dbustest-none.service", "ehecoatl.slice", "-.slice"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range infos {
		t.Logf("unit: %s", dump(u))
	}
	byName := map[string]*UnitInfo{}
	for _, u := range infos {
		byName[u.Name] = u
	}
	ok := byName["ehecoatl-dbustest-ok.service"]
	if ok.ActiveState != "active" || ok.SubState != "running" || ok.MainPID == 0 || ok.Since.IsZero() ||
		ok.FragmentPath != "/run/systemd/system/ehecoatl-dbustest-ok.service" {
		t.Errorf("running service: %s", dump(ok))
	}
	if s := byName["ehecoatl-dbustest.socket"]; s.SubState != "listening" || !slices.Contains(s.Triggers, "ehecoatl-dbustest.service") {
		t.Errorf("socket: %s", dump(s))
	}
	if f := byName["ehecoatl-dbustest-fail.service"]; f.ActiveState != "failed" || f.Result != "exit-code" || f.ExecMainStatus != 1 {
		t.Errorf("failed service: %s", dump(f))
	}
	if n := byName["ehecoatl-dbustest-none.service"]; n.LoadState != "not-found" {
		t.Errorf("missing unit: %s", dump(n))
	}

	after, err := c.ManagerStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.NInstalledJobs <= before.NInstalledJobs || after.NFailedUnits < 1 {
		t.Errorf("manager counters did not move: %+v -> %+v", before, after)
	}
	if err := c.ResetFailed(ctx, "ehecoatl-dbustest-fail.service"); err != nil {
		t.Error(err)
	}
	if err := c.StopMany(ctx, names); err != nil {
		t.Error(err)
	}
}

// realUnprivileged checks what a user other than root may do: read, not act.
func realUnprivileged(ctx context.Context, t *testing.T, c *Conn) {
	if _, err := c.ManagerStats(ctx); err != nil {
		t.Error(err)
	}
	if u, err := c.Unit(ctx, "-.slice"); err != nil || u.ActiveState != "active" {
		t.Errorf("read -.slice: %v %v", u, err)
	}
	if l, err := c.ListUnits(ctx, "*.slice"); err != nil || len(l) == 0 {
		t.Errorf("list slices: %v %v", l, err)
	}
	err := c.Start(ctx, "-.slice")
	if err == nil || !strings.Contains(err.Error(), "permission denied (run as root)") {
		t.Errorf("start as %d: %v", os.Geteuid(), err)
	}
	t.Log(err)
}

func dump(u *UnitInfo) string {
	return fmt.Sprintf("%s %s %s/%s file=%s since=%s result=%s pid=%d restarts=%d mem=%v cpu=%v tasks=%v code=%d status=%d accepted=%d",
		u.Name, u.LoadState, u.ActiveState, u.SubState, u.UnitFileState, u.Since.Format(time.RFC3339), u.Result,
		u.MainPID, u.NRestarts, deref(u.MemoryCurrent), deref(u.CPUUsage), deref(u.TasksCurrent),
		u.ExecMainCode, u.ExecMainStatus, u.NAccepted)
}
