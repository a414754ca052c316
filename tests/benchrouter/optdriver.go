package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
)

// startSample is one start of a unit by optDriverMain, in µs of
// CLOCK_MONOTONIC (the guest shares the host's).
type startSample struct {
	Unit   string `json:"unit"`
	Call   int64  `json:"call"`   // before StartUnit
	Done   int64  `json:"done"`   // the job's JobRemoved signal
	Fork   int64  `json:"fork"`   // ExecMainStartTimestampMonotonic: PID 1 forked
	Active int64  `json:"active"` // ActiveEnterTimestampMonotonic: execve succeeded (Type=exec)
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

// optDriverMain is `benchrouter optstart UNIT...`, run inside the guest by
// the option-cost section: it starts each unit in turn over systemd's
// private D-Bus socket, waits for the job, reads systemd's timestamps of
// that start, stops it again (RemainAfterExit=yes keeps it active) and
// prints one JSON line per start. A client inside the guest adds no
// nsenter or systemctl fork to the measured job time.
func optDriverMain(units []string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	conn, err := sd.NewSystemdConnectionContext(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "optstart: %v\n", err)
		return 1
	}
	defer conn.Close()
	enc := json.NewEncoder(os.Stdout)
	for _, u := range units {
		s := startOne(ctx, conn, u)
		if err := enc.Encode(s); err != nil {
			return 1
		}
	}
	return 0
}

func startOne(ctx context.Context, conn *sd.Conn, unit string) startSample {
	s := startSample{Unit: unit}
	ch := make(chan string, 1)
	s.Call = monotonicUsec()
	if _, err := conn.StartUnitContext(ctx, unit, "replace", ch); err != nil {
		s.Error = err.Error()
		return s
	}
	s.Result = <-ch
	s.Done = monotonicUsec()
	up, err := conn.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	sp, err := conn.GetUnitTypePropertiesContext(ctx, unit, "Service")
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Active = u64(up["ActiveEnterTimestampMonotonic"])
	s.Fork = u64(sp["ExecMainStartTimestampMonotonic"])
	// The next start (another unit) should not share the CPU with this
	// one's teardown (unmounts, user release, cgroup removal).
	if _, err := conn.StopUnitContext(ctx, unit, "replace", ch); err != nil {
		s.Error = err.Error()
		return s
	}
	if r := <-ch; r != "done" {
		s.Error = "stop: " + r
	}
	time.Sleep(10 * time.Millisecond)
	return s
}

func u64(v any) int64 {
	if x, ok := v.(uint64); ok {
		return int64(x)
	}
	return 0
}
