package dbus

import (
	"context"
	"sync"
	"time"
)

// Client is how every command and the router reach systemd: apply,
// start/stop/restart, status and the router's idle stops all hold one.
// It connects on first use, so a command that fails before its first
// systemd call (an invalid manifest directory) needs no systemd and costs
// no connection; and it connects again once the connection is lost (a
// restarted dbus-daemon or systemd), so a router that runs for months is
// not left unable to stop idle apps.
//
// The zero value is ready to use and connects with Connect.
type Client struct {
	// Dial connects; nil means Connect. Tests dial a fake systemd.
	Dial func(ctx context.Context) (*Conn, error)

	mu   sync.Mutex
	conn *Conn
}

// Conn returns the connection, making one when there is none or the last
// one was lost.
func (c *Client) Conn(ctx context.Context) (*Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && !c.conn.connected() {
		c.conn.Close()
		c.conn = nil
	}
	if c.conn == nil {
		dial := c.Dial
		if dial == nil {
			dial = Connect
		}
		conn, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		c.conn = conn
	}
	return c.conn, nil
}

// Close closes the connection, if one was made. The Client stays usable:
// the next call connects again.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// The methods below are those of Conn, each on the current connection.

func (c *Client) Reload(ctx context.Context) error {
	return with(c, ctx, func(x *Conn) error { return x.Reload(ctx) })
}

func (c *Client) ResetFailed(ctx context.Context, unit string) error {
	return with(c, ctx, func(x *Conn) error { return x.ResetFailed(ctx, unit) })
}

func (c *Client) ReloadUnit(ctx context.Context, unit string) error {
	return with(c, ctx, func(x *Conn) error { return x.ReloadUnit(ctx, unit) })
}

func (c *Client) Stop(ctx context.Context, unit string) error {
	return with(c, ctx, func(x *Conn) error { return x.Stop(ctx, unit) })
}

func (c *Client) StartMany(ctx context.Context, units []string) error {
	return with(c, ctx, func(x *Conn) error { return x.StartMany(ctx, units) })
}

func (c *Client) StopMany(ctx context.Context, units []string) error {
	return with(c, ctx, func(x *Conn) error { return x.StopMany(ctx, units) })
}

func (c *Client) RestartMany(ctx context.Context, units []string) error {
	return with(c, ctx, func(x *Conn) error { return x.RestartMany(ctx, units) })
}

func (c *Client) TryRestartMany(ctx context.Context, units []string) error {
	return with(c, ctx, func(x *Conn) error { return x.TryRestartMany(ctx, units) })
}

func (c *Client) ListUnits(ctx context.Context, patterns ...string) (l []UnitStatus, err error) {
	err = with(c, ctx, func(x *Conn) (err error) { l, err = x.ListUnits(ctx, patterns...); return })
	return l, err
}

func (c *Client) ListUnitsIn(ctx context.Context, states []string, patterns ...string) (l []UnitStatus, err error) {
	err = with(c, ctx, func(x *Conn) (err error) { l, err = x.ListUnitsIn(ctx, states, patterns...); return })
	return l, err
}

func (c *Client) Units(ctx context.Context, names []string) (l []*UnitInfo, err error) {
	err = with(c, ctx, func(x *Conn) (err error) { l, err = x.Units(ctx, names); return })
	return l, err
}

func (c *Client) StateSince(ctx context.Context, names []string) (l []time.Time, err error) {
	err = with(c, ctx, func(x *Conn) (err error) { l, err = x.StateSince(ctx, names); return })
	return l, err
}

func (c *Client) ManagerStats(ctx context.Context) (s ManagerStats, err error) {
	err = with(c, ctx, func(x *Conn) (err error) { s, err = x.ManagerStats(ctx); return })
	return s, err
}

func with(c *Client, ctx context.Context, f func(*Conn) error) error {
	conn, err := c.Conn(ctx)
	if err != nil {
		return err
	}
	return f(conn)
}

func (c *Client) ServiceCounters(ctx context.Context, names []string, ip []bool) (l []ServiceCounters, err error) {
	err = with(c, ctx, func(x *Conn) (err error) { l, err = x.ServiceCounters(ctx, names, ip); return })
	return l, err
}
