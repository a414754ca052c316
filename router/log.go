// Rate-limited logging of an app's upstream errors.

package router

import (
	"fmt"
	"time"
)

// appLogf logs an app's upstream error, at most once per 10 s per app
// (with the number of errors not logged), so that a broken app under load
// cannot flood the journal.
func (rt *Router) appLogf(a *appState, format string, args ...any) {
	now := time.Now().UnixNano()
	last := a.errLoggedAt.Load()
	if now-last < int64(10*time.Second) || !a.errLoggedAt.CompareAndSwap(last, now) {
		a.errSuppressed.Add(1)
		return
	}
	msg := fmt.Sprintf(format, args...)
	if n := a.errSuppressed.Swap(0); n > 0 {
		msg += fmt.Sprintf(" (and %d more errors since the last message)", n)
	}
	rt.cfg.Logger.Warn(msg, "tenant", a.tenant.name, "app", a.name)
}
