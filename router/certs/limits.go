package certs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ehecoatl/ehecoatl/atomicfile"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
)

// watchedEvents are the certmagic events onEvent handles (certmagic skips
// building the others).
var watchedEvents = map[string]bool{
	"cert_obtaining":      true,
	"cert_obtained":       true,
	"cert_failed":         true,
	"cached_managed_cert": true,
}

const (
	// failureWindow and maxFailures: a name that failed maxFailures
	// attempts within failureWindow gets no new attempt until the oldest
	// one leaves the window. An attempt places at most two orders (acmez
	// tries the other challenge type once), so this keeps a failing name at
	// four failed validations an hour, below Let's Encrypt's five.
	failureWindow = time.Hour
	maxFailures   = 2

	failuresFile = "ehecoatl-failures.json"

	// slotLease bounds how long a name holds its slot without
	// cert_obtained or cert_failed. certmagic emits neither when an attempt
	// ends on a local error after cert_obtaining (a key or CSR that cannot
	// be made, storage that refuses the certificate), and then sleeps
	// through its retry backoff (minutes to hours): without the lease the
	// slot would stay taken for that long and starve every other name. An
	// ACME order that runs this long has failed anyway (acmez gives up on
	// an authorization after a few minutes).
	slotLease = 15 * time.Minute
)

// slot is an issuance slot held by a name.
type slot struct {
	tenant string
	since  time.Time // taken, or taken again by a retry of the same name
}

// onEvent is certmagic's Config.OnEvent. cert_obtaining is emitted before
// every obtain and renewal attempt reaches the issuer (an error aborts the
// attempt); cert_obtained or cert_failed follow it.
func (m *Manager) onEvent(ctx context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	name = normalize(name)
	renewal, _ := data["renewal"].(bool)
	switch event {
	case "cert_obtaining":
		e, ok := m.tbl.Load().isAuto(name)
		if !ok {
			m.log.Warn("certs: refused an ACME order for a name that is not listed with tls: auto", "domain", name)
			return certmagic.ErrNoRetry{Err: fmt.Errorf("%s is not listed with tls: auto", name)}
		}
		if n, wait := m.holdOff(name, time.Now()); wait > 0 {
			m.log.Warn("certs: holding off a failing name", "domain", name, "tenant", e.Tenant,
				"failed_attempts", n, "window", failureWindow, "next_attempt_in", wait.Round(time.Second))
			m.mu.Lock()
			if _, ok := m.failed[name]; !ok { // e.g. after a restart
				m.failed[name] = fmt.Sprintf("%d failed ACME attempts within %s; next attempt after %s",
					n, failureWindow, time.Now().Add(wait).UTC().Format(time.RFC3339))
			}
			m.mu.Unlock()
			return fmt.Errorf("%s failed %d ACME attempts within %s: next attempt allowed in %s",
				name, n, failureWindow, wait.Round(time.Second))
		}
		if err := m.acquire(ctx, name, e.Tenant); err != nil {
			return err
		}
		m.log.Info("certs: ACME order starting", "domain", name, "tenant", e.Tenant, "renewal", renewal)
	case "cert_obtained":
		m.release(name)
		m.mu.Lock()
		delete(m.failed, name)
		m.mu.Unlock()
		m.log.Info("certs: certificate obtained", "domain", name, "renewal", renewal)
	case "cert_failed":
		m.release(name)
		err, _ := data["error"].(error)
		if err == nil || errors.Is(err, context.Canceled) {
			return nil
		}
		reason := failReason(err)
		m.mu.Lock()
		m.failed[name] = reason
		m.failures[name] = append(m.failures[name], time.Now())
		m.mu.Unlock()
		m.saveFailures()
		m.log.Warn("certs: ACME attempt failed", "domain", name, "renewal", renewal, "reason", reason)
	case "cached_managed_cert":
		m.dropUnlisted(data)
	}
	return nil
}

// dropUnlisted takes a certificate certmagic has just cached out of the
// cache again when its name left the list meanwhile: SetNames unmanages a
// name while its order is in flight, the order completes, and certmagic
// caches the result after SetNames emptied the cache of that name. The
// certificate stays in storage (a name added back is served from there).
func (m *Manager) dropUnlisted(data map[string]any) {
	sans, _ := data["sans"].([]string)
	t := m.tbl.Load()
	var gone []certmagic.SubjectIssuer
	for _, s := range sans {
		if _, ok := t.isAuto(normalize(s)); !ok {
			gone = append(gone, certmagic.SubjectIssuer{Subject: s})
		}
	}
	if len(gone) > 0 {
		m.cache.RemoveManaged(gone)
		m.log.Info("certs: dropped a certificate cached for a name no longer listed", "domains", sans)
	}
}

// failReason is the CA's problem detail in err, else err's text.
func failReason(err error) string {
	var prob acme.Problem
	if errors.As(err, &prob) && prob.Detail != "" {
		return prob.Detail
	}
	return err.Error()
}

// holdOff returns the failed attempts of name within the window and, when
// they reach maxFailures, how long until the next attempt is allowed.
func (m *Manager) holdOff(name string, now time.Time) (int, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	kept := m.failures[name][:0]
	for _, t := range m.failures[name] {
		if now.Sub(t) < failureWindow {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		delete(m.failures, name)
		return 0, 0
	}
	m.failures[name] = kept
	if len(kept) < maxFailures {
		return len(kept), 0
	}
	return len(kept), kept[len(kept)-maxFailures].Add(failureWindow).Sub(now)
}

// acquire takes an issuance slot for name, waiting while MaxIssuing slots,
// or MaxPerTenant of tenant's, are taken. A name keeps the slot it holds
// (an attempt that ended without cert_obtained or cert_failed, retried);
// slots held longer than slotLease are taken back first.
func (m *Manager) acquire(ctx context.Context, name, tenant string) error {
	waited := false
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return certmagic.ErrNoRetry{Err: errors.New("certificate manager closed")}
		}
		now := m.now()
		m.expireSlots(now)
		if s, held := m.slots[name]; held {
			s.since = now
			m.slots[name] = s
			m.mu.Unlock()
			return nil
		}
		if len(m.slots) < m.cfg.MaxIssuing && m.perTenant[tenant] < m.cfg.MaxPerTenant {
			m.slots[name] = slot{tenant: tenant, since: now}
			m.perTenant[tenant]++
			m.mu.Unlock()
			return nil
		}
		ch := m.changed
		m.mu.Unlock()
		if !waited {
			waited = true
			m.log.Info("certs: waiting for an issuance slot", "domain", name, "tenant", tenant,
				"max_issuing", m.cfg.MaxIssuing, "max_per_tenant", m.cfg.MaxPerTenant)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.ctx.Done():
			return certmagic.ErrNoRetry{Err: errors.New("certificate manager closed")}
		case <-ch:
		case <-time.After(time.Minute): // a held slot may pass its lease
		}
	}
}

// expireSlots takes back the slots held longer than slotLease; m.mu is held.
func (m *Manager) expireSlots(now time.Time) {
	for name, s := range m.slots {
		if now.Sub(s.since) >= slotLease {
			m.log.Warn("certs: taking back an issuance slot whose attempt never reported an end",
				"domain", name, "tenant", s.tenant, "held_for", now.Sub(s.since).Round(time.Second))
			m.dropSlot(name, s)
		}
	}
}

// release gives name's issuance slot back, if it holds one.
func (m *Manager) release(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.slots[name]; ok {
		m.dropSlot(name, s)
	}
}

// dropSlot frees name's slot and wakes the waiters; m.mu is held.
func (m *Manager) dropSlot(name string, s slot) {
	delete(m.slots, name)
	if m.perTenant[s.tenant]--; m.perTenant[s.tenant] <= 0 {
		delete(m.perTenant, s.tenant)
	}
	close(m.changed)
	m.changed = make(chan struct{})
}

// loadFailures reads the failed attempts a previous run recorded.
func (m *Manager) loadFailures() {
	b, err := os.ReadFile(filepath.Join(m.cfg.StorageDir, failuresFile))
	if err != nil {
		return
	}
	var f map[string][]time.Time
	if err := json.Unmarshal(b, &f); err != nil {
		m.log.Warn("certs: ignoring unreadable failure history", "file", failuresFile, "err", err)
		return
	}
	now := time.Now()
	for name, ts := range f {
		for _, t := range ts {
			if now.Sub(t) < failureWindow {
				m.failures[name] = append(m.failures[name], t)
			}
		}
	}
}

// saveFailures records the failed attempts of the window in StorageDir
// (so that a restart does not start a failing name over).
func (m *Manager) saveFailures() {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock() // held while writing: keeps concurrent saves in order
	f := make(map[string][]time.Time)
	for name, ts := range m.failures {
		for _, t := range ts {
			if now.Sub(t) < failureWindow {
				f[name] = append(f[name], t)
			}
		}
	}
	b, err := json.Marshal(f)
	if err != nil {
		return
	}
	if err := atomicfile.Write(filepath.Join(m.cfg.StorageDir, failuresFile), b, 0o600, -1); err != nil {
		m.log.Warn("certs: saving failure history", "err", err)
	}
}
