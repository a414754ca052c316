// Package bridge is `ehecoatl bridge`: it carries connections from the
// socket systemd activated (/run/ehecoatl/<tenant>/<app>.sock) to a plain
// `port:` app listening on 127.0.0.1:PORT inside the app's private network
// namespace (see docs/DESIGN.md, "Port apps").
//
// Unlike systemd-socket-proxyd, which drops a client whose backend connect
// fails, the bridge retries the connect with a short backoff until the app
// has bound its port or ConnectTimeout passes, so the first request to a
// cold app is held, not dropped. Bytes are copied with io.Copy between the
// unix and the TCP connection, which Go turns into splice(2) both ways;
// each direction is half-closed when its source ends. After IdleTimeout
// with no connection open the bridge exits 0, and StopWhenUnneeded=yes on
// the app service then stops the app too. If the app never accepts within
// ConnectTimeout, the bridge fails (Run returns ErrAppNeverAccepted): the
// bridge unit is then failed, not a healthy-looking idle app whose
// StopWhenUnneeded= stop hid its crash loop (docs/DESIGN.md "Start limits").
package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
)

// Config configures Run.
type Config struct {
	// To is the app's address, e.g. 127.0.0.1:8080 (required).
	To string
	// IdleTimeout: exit after this long with no open connection; 0 never.
	IdleTimeout time.Duration
	// ConnectTimeout bounds the wait for the app to accept on To (30s).
	ConnectTimeout time.Duration
	// Listeners to accept on; nil takes the sockets systemd passed
	// (LISTEN_FDS).
	Listeners []net.Listener
	// Logger for the bridge's messages; nil: slog to stderr.
	Logger *slog.Logger
}

// DefaultConnectTimeout is Config.ConnectTimeout's default.
const DefaultConnectTimeout = 30 * time.Second

// ErrAppNeverAccepted is Run's error when a connection waited
// ConnectTimeout for an app that has not accepted once since the bridge
// started: it does not start, and serving on would hold every visitor
// for ConnectTimeout.
var ErrAppNeverAccepted = errors.New("bridge: the app never accepted a connection on its port")

// Run accepts on the listeners and bridges every connection to cfg.To
// until ctx is done or the bridge has been idle for cfg.IdleTimeout; both
// return nil after the open connections (if any, on ctx) are closed.
func Run(ctx context.Context, cfg Config) error {
	if cfg.To == "" {
		return errors.New("bridge: no --to address")
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Listeners == nil {
		ls, err := activation.Listeners()
		if err != nil {
			return fmt.Errorf("bridge: socket activation: %w", err)
		}
		for _, l := range ls {
			if l != nil {
				cfg.Listeners = append(cfg.Listeners, l)
			}
		}
		if len(cfg.Listeners) == 0 {
			return errors.New("bridge: no listening socket from systemd (LISTEN_FDS)")
		}
	}
	b := &bridge{cfg: cfg, conns: map[net.Conn]struct{}{}, idle: make(chan struct{}, 1), never: make(chan struct{}, 1)}
	return b.run(ctx)
}

type bridge struct {
	cfg Config

	mu     sync.Mutex
	open   int
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
	closed bool
	// idle is signalled whenever the number of open connections drops
	// to zero.
	idle chan struct{}
	// reached: a connection to the app succeeded once; never is
	// signalled when a connect timed out before that.
	reached atomic.Bool
	never   chan struct{}
}

func (b *bridge) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	acceptErr := make(chan error, len(b.cfg.Listeners))
	for _, l := range b.cfg.Listeners {
		go func() { acceptErr <- b.acceptLoop(ctx, l) }()
	}
	var timer *time.Timer
	var timerC <-chan time.Time
	if b.cfg.IdleTimeout > 0 {
		timer = time.NewTimer(b.cfg.IdleTimeout)
		timerC = timer.C
		defer timer.Stop()
	}
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err = <-acceptErr:
			break loop
		case <-b.never:
			err = fmt.Errorf("%w within %s (%s)", ErrAppNeverAccepted, b.cfg.ConnectTimeout, b.cfg.To)
			cancel()
			break loop
		case <-b.idle:
			if timer != nil {
				timer.Reset(b.cfg.IdleTimeout)
			}
		case <-timerC:
			b.mu.Lock()
			if b.open == 0 {
				// Stop accepting while still holding the lock, so no
				// connection slips in between the check and the exit;
				// what is queued stays in systemd's socket for the next
				// activation.
				b.closed = true
				b.mu.Unlock()
				b.cfg.Logger.Info("idle, exiting", "idle_timeout", b.cfg.IdleTimeout)
				break loop
			}
			b.mu.Unlock()
		}
	}
	for _, l := range b.cfg.Listeners {
		l.Close()
	}
	b.mu.Lock()
	b.closed = true
	if ctx.Err() != nil {
		for c := range b.conns {
			c.Close()
		}
	}
	b.mu.Unlock()
	b.wg.Wait()
	if errors.Is(err, ErrAppNeverAccepted) {
		return err
	}
	if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (b *bridge) acceptLoop(ctx context.Context, l net.Listener) error {
	delay := 5 * time.Millisecond
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of file descriptors or a transient error: back off.
				time.Sleep(delay)
				delay = min(2*delay, time.Second)
				continue
			}
			return err
		}
		delay = 5 * time.Millisecond
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			c.Close()
			return nil
		}
		b.open++
		b.conns[c] = struct{}{}
		b.wg.Add(1)
		b.mu.Unlock()
		go b.serve(ctx, c)
	}
}

func (b *bridge) done(c net.Conn) {
	b.mu.Lock()
	delete(b.conns, c)
	b.open--
	zero := b.open == 0
	b.mu.Unlock()
	if zero {
		select {
		case b.idle <- struct{}{}:
		default:
		}
	}
	b.wg.Done()
}

// serve connects c to the app and copies both ways.
func (b *bridge) serve(ctx context.Context, c net.Conn) {
	defer b.done(c)
	defer c.Close()
	back, err := dialRetry(ctx, b.cfg.To, b.cfg.ConnectTimeout)
	if err != nil {
		b.cfg.Logger.Warn("app did not accept in time", "to", b.cfg.To, "connect_timeout", b.cfg.ConnectTimeout, "err", err)
		if !b.reached.Load() && ctx.Err() == nil {
			select {
			case b.never <- struct{}{}:
			default:
			}
		}
		return
	}
	b.reached.Store(true)
	defer back.Close()
	b.mu.Lock()
	b.conns[back] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.conns, back)
		b.mu.Unlock()
	}()
	Splice(c, back)
}

// dialRetry connects to addr, retrying with a short backoff (10 ms
// doubling to 200 ms) until it succeeds or timeout passes: a starting app
// has not bound its port yet and refuses.
func dialRetry(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 10 * time.Millisecond
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// Splice copies a to b and b to a until both directions end, half-closing
// each direction when its source reaches EOF (so request/response
// protocols that shut down their write side work), then closes both.
func Splice(a, b net.Conn) {
	done := make(chan struct{})
	go func() {
		io.Copy(b, a)
		closeWrite(b)
		close(done)
	}()
	io.Copy(a, b)
	closeWrite(a)
	<-done
	a.Close()
	b.Close()
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	c.Close()
}
