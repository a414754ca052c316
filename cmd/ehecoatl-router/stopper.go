package main

import (
	"context"
	"sync"

	"github.com/ehecoatl/ehecoatl/dbus"
	"github.com/ehecoatl/ehecoatl/router"
)

// busStopper stops idle apps over the system bus. The connection is made
// on first use and dropped after an error, so a restarted dbus-daemon or
// systemd does not leave the router unable to stop apps. The polkit rule
// 50-ehecoatl-router.rules is what allows the unprivileged router to stop
// (only) app services.
type busStopper struct {
	mu   sync.Mutex
	conn *dbus.Conn
}

var _ router.IdleStopper = (*busStopper)(nil)

func (s *busStopper) Stop(ctx context.Context, unit string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		c, err := dbus.Connect(ctx)
		if err != nil {
			return err
		}
		s.conn = c
	}
	err := s.conn.Stop(ctx, unit)
	if err != nil {
		s.conn.Close()
		s.conn = nil
	}
	return err
}
