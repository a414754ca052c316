package router

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// upstream is one app socket (one worker) and its pool of idle kept-alive
// connections. The pool is a LIFO stack: the most recently used
// connection is the warmest and the least likely to have been closed by
// the app, and surplus connections at the bottom age out.
type upstream struct {
	path string
	// instance is the worker number, 0 for an app without workers.
	instance int
	maxIdle  int
	// idleTimeout closes connections idle for longer (set from the app's
	// idle timeout so that pooled connections never keep an idle app or
	// its bridge alive).
	idleTimeout atomic.Int64
	dialTimeout time.Duration

	// active counts requests using this upstream (least-connections).
	active atomic.Int64
	// drained: apply is restarting this worker; no new request is sent
	// to it (drain.go).
	drained atomic.Bool
	// serving: for the second slot of an app of one worker (appState.next),
	// a rollout has put it in rotation (drain.go); it never is otherwise.
	serving atomic.Bool
	// health: down instances are skipped by pick (health.go); running is
	// whether its service ran at the last probe round.
	health  instHealth
	running atomic.Bool
	// warm says whether the instance answered since the router started
	// or stopped it (warmUnknown, warmYes, warmNo: metrics.go), for
	// counting cold starts.
	warm atomic.Int32

	mu     sync.Mutex
	idle   []*uconn
	closed bool
	// gen counts the times every pooled connection was dropped (a drain,
	// an idle stop, the upstream's close): the loops' pools (loopapp.go)
	// drop the connections they pooled before.
	gen atomic.Uint64
	// loopIdle counts the connections idle in the loops' pools.
	loopIdle atomic.Int64
}

const (
	upstreamReadBuf  = 8 << 10
	upstreamWriteBuf = 4 << 10
	// probeAfter: a pooled connection idle for longer is probed with a
	// non-blocking peek before use, to catch apps that closed it.
	probeAfter = int64(time.Second)
)

func newUpstream(path string, cfg Config) *upstream {
	u := &upstream{path: path, maxIdle: cfg.MaxIdleConnsPerUpstream, dialTimeout: cfg.DialTimeout}
	u.idleTimeout.Store(int64(cfg.IdleConnTimeout))
	return u
}

// errDial wraps a connect failure: nothing was sent, the app is not there.
type errDial struct{ err error }

func (e *errDial) Error() string { return "dial: " + e.err.Error() }
func (e *errDial) Unwrap() error { return e.err }

// get returns a pooled connection or dials a new one.
func (u *upstream) get() (*uconn, error) {
	now := time.Now().UnixNano()
	for {
		u.mu.Lock()
		n := len(u.idle)
		if n == 0 {
			u.mu.Unlock()
			break
		}
		c := u.idle[n-1]
		u.idle[n-1] = nil
		u.idle = u.idle[:n-1]
		u.mu.Unlock()
		idle := now - c.idleSince
		if idle > u.idleTimeout.Load() || (idle > probeAfter && !c.alive()) {
			c.c.Close()
			continue
		}
		c.reused = true
		return c, nil
	}
	return u.dial()
}

func (u *upstream) dial() (*uconn, error) {
	nc, err := net.DialTimeout("unix", u.path, u.dialTimeout)
	if err != nil {
		return nil, &errDial{err}
	}
	c, err := newUconn(nc.(*net.UnixConn), u)
	if err != nil {
		nc.Close()
		return nil, &errDial{err}
	}
	return c, nil
}

func newUconn(uc *net.UnixConn, u *upstream) (*uconn, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &uconn{c: uc, rc: rc, bw: bufio.NewWriterSize(uc, upstreamWriteBuf), up: u}
	c.br = bufio.NewReaderSize((*uconnReader)(c), upstreamReadBuf)
	return c, nil
}

// put returns a connection whose last response was read completely.
func (u *upstream) put(c *uconn) {
	if c.br.Buffered() > 0 { // the app sent more than the response: unusable
		c.c.Close()
		return
	}
	c.idleSince = time.Now().UnixNano()
	u.mu.Lock()
	if u.closed || len(u.idle) >= u.maxIdle {
		u.mu.Unlock()
		c.c.Close()
		return
	}
	u.idle = append(u.idle, c)
	u.mu.Unlock()
}

// reap closes connections idle for longer than the idle timeout (or all of
// them when all is set). The oldest connections are at the bottom.
func (u *upstream) reap(now int64, all bool) {
	if all {
		u.gen.Add(1)
	}
	u.mu.Lock()
	var drop []*uconn
	limit := u.idleTimeout.Load()
	i := 0
	for ; i < len(u.idle); i++ {
		if !all && now-u.idle[i].idleSince <= limit {
			break
		}
	}
	if i > 0 {
		drop = append(drop, u.idle[:i]...)
		n := copy(u.idle, u.idle[i:])
		clear(u.idle[n:])
		u.idle = u.idle[:n]
	}
	u.mu.Unlock()
	for _, c := range drop {
		c.c.Close()
	}
}

// idleCount is the number of pooled connections (tests).
func (u *upstream) idleCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.idle) + int(u.loopIdle.Load())
}

func (u *upstream) close() {
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
	u.reap(0, true)
}
