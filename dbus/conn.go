package dbus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	sd "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

const (
	// PrivateSocket is systemd's own D-Bus socket. Root can talk to PID 1
	// through it without a bus daemon (early boot, minimal containers).
	PrivateSocket = "/run/systemd/private"

	// defaultSystemBus is used when DBUS_SYSTEM_BUS_ADDRESS is unset.
	defaultSystemBus = "unix:path=/run/dbus/system_bus_socket"

	systemdDest  = "org.freedesktop.systemd1"
	systemdPath  = godbus.ObjectPath("/org/freedesktop/systemd1")
	managerIface = "org.freedesktop.systemd1.Manager"
	propsGet     = "org.freedesktop.DBus.Properties.Get"
	propsGetAll  = "org.freedesktop.DBus.Properties.GetAll"
)

// Conn is a connection to systemd's manager. It is safe for concurrent use.
type Conn struct {
	sd *sd.Conn // go-systemd: method calls plus JobRemoved tracking
	// bus and sig are the two godbus connections go-systemd dialed; bus serves
	// our typed property reads, and both are watched so that a job waiter
	// learns when the connection is lost (no JobRemoved will ever come then).
	bus, sig *godbus.Conn
}

// Connect connects to the host's systemd: the system bus first, then, when
// running as root, systemd's private socket (like go-systemd's
// NewWithContext). The error names every address tried.
//
// ctx bounds connecting only; the connection lives until Close.
func Connect(ctx context.Context) (*Conn, error) {
	addr := os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	if addr == "" {
		addr = defaultSystemBus
	}
	c, err := dial(ctx, addr, true)
	if err == nil {
		return c, nil
	}
	tried := fmt.Sprintf("system bus %s: %v", addr, err)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("connect to systemd: %s", tried)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("connect to systemd: %s (the private socket %s needs root)", tried, PrivateSocket)
	}
	c, perr := dial(ctx, "unix:path="+PrivateSocket, false)
	if perr == nil {
		return c, nil
	}
	return nil, fmt.Errorf("connect to systemd: %s; private socket %s: %v", tried, PrivateSocket, perr)
}

// ConnectAddress connects to systemd through the bus daemon at address, e.g.
// "unix:path=/tmp/x/bus" (tests run a fake systemd on a private dbus-daemon).
func ConnectAddress(ctx context.Context, address string) (*Conn, error) {
	c, err := dial(ctx, address, true)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd at %s: %w", address, err)
	}
	return c, nil
}

// ConnectPrivate connects directly to a systemd private socket at path, without
// a bus daemon. Only root may, and systemd refuses a peer whose PID it cannot
// see: to reach a container's PID 1 from the host at
// "/proc/PID/root/run/systemd/private", run in its PID namespace
// (`nsenter -t PID -p`).
func ConnectPrivate(ctx context.Context, path string) (*Conn, error) {
	c, err := dial(ctx, "unix:path="+godbus.EscapeBusAddressValue(path), false)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd at %s: %w", path, err)
	}
	return c, nil
}

// Close closes both underlying connections. Waiting jobs return an error.
func (c *Conn) Close() {
	c.sd.Close()
}

// dial opens go-systemd's pair of connections to address and checks that
// systemd answers on it. hello is false for direct (bus-less) sockets.
func dial(ctx context.Context, address string, hello bool) (*Conn, error) {
	// godbus.WithContext would tie the connection's lifetime to ctx; instead,
	// ctx only aborts the handshake by closing what was dialed so far.
	d := &dialed{}
	stop := context.AfterFunc(ctx, d.closeAll)
	defer stop()

	s, err := sd.NewConnection(func() (*godbus.Conn, error) {
		bc, err := godbus.Dial(address)
		if err != nil {
			return nil, err
		}
		if !d.add(bc) {
			return nil, ctx.Err()
		}
		uid := strconv.Itoa(os.Getuid()) // no user name lookup: works static and in any container
		if err := bc.Auth([]godbus.Auth{godbus.AuthExternal(uid)}); err != nil {
			bc.Close()
			return nil, fmt.Errorf("authenticate: %w", err)
		}
		if hello {
			if err := bc.Hello(); err != nil {
				bc.Close()
				return nil, fmt.Errorf("hello: %w", err)
			}
		}
		return bc, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	c := &Conn{sd: s, bus: d.conns[0], sig: d.conns[1]}
	if err := c.ping(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if !stop() { // ctx ended meanwhile and closed the connections
		c.Close()
		return nil, ctx.Err()
	}
	return c, nil
}

// ping reads the manager's Version: it proves systemd (not only a bus) answers.
func (c *Conn) ping(ctx context.Context) error {
	var v godbus.Variant
	err := c.bus.Object(systemdDest, systemdPath).CallWithContext(ctx, propsGet, 0, managerIface, "Version").Store(&v)
	var de godbus.Error
	if errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
		return fmt.Errorf("no systemd on this bus (%s is not provided; is systemd PID 1?)", systemdDest)
	}
	return err
}

// dialed collects the connections go-systemd dials so that a cancelled ctx can
// close them (which unblocks any call in flight on them).
type dialed struct {
	mu     sync.Mutex
	conns  []*godbus.Conn
	closed bool
}

func (d *dialed) add(bc *godbus.Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		bc.Close()
		return false
	}
	d.conns = append(d.conns, bc)
	return true
}

func (d *dialed) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for _, bc := range d.conns {
		bc.Close()
	}
}

// connected reports whether both underlying connections are still open.
func (c *Conn) connected() bool {
	return c.bus.Connected() && c.sig.Connected()
}
