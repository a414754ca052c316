package harness

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// live tracks the machines of this process, from the first mount of Boot to
// the end of Close, so that an interrupted test still tears them down: while
// any machine is live, SIGINT, SIGTERM and SIGHUP close them all and are then
// re-raised with this handler removed (the process dies of the signal as it
// would have, unless someone else also handles it).
var live struct {
	sync.Mutex
	machines map[*Machine]struct{}
	sigs     chan os.Signal
	stop     chan struct{}
}

var teardownSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

func register(m *Machine) error {
	live.Lock()
	defer live.Unlock()
	for other := range live.machines {
		if other.name == m.name {
			return fmt.Errorf("a machine named %s is already running in this process", m.name)
		}
	}
	if live.machines == nil {
		live.machines = map[*Machine]struct{}{}
	}
	live.machines[m] = struct{}{}
	if len(live.machines) == 1 {
		live.sigs = make(chan os.Signal, 1)
		live.stop = make(chan struct{})
		signal.Notify(live.sigs, teardownSignals...)
		go handleSignals(live.sigs, live.stop)
	}
	return nil
}

func unregister(m *Machine) {
	live.Lock()
	defer live.Unlock()
	if _, ok := live.machines[m]; !ok {
		return
	}
	delete(live.machines, m)
	if len(live.machines) == 0 {
		signal.Stop(live.sigs)
		close(live.stop)
		live.sigs, live.stop = nil, nil
	}
}

func handleSignals(sigs chan os.Signal, stop chan struct{}) {
	select {
	case <-stop:
		return
	case sig := <-sigs:
		signal.Stop(sigs)
		live.Lock()
		ms := make([]*Machine, 0, len(live.machines))
		for m := range live.machines {
			ms = append(ms, m)
		}
		live.Unlock()
		var wg sync.WaitGroup
		for _, m := range ms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.quiet.Store(true) // a test's log may be gone by now
				m.Close()
			}()
		}
		wg.Wait()
		if s, ok := sig.(syscall.Signal); ok {
			syscall.Kill(os.Getpid(), s)
		}
	}
}
