package router

import (
	"net/netip"
	"strings"
	"sync"
)

// clientLimiter counts the requests each client address has in flight to
// each tenant (Config.ClientMaxInFlight). Without it one address could
// hold a tenant's whole cap, which is the one cheap way left to starve a
// tenant once slow bodies no longer hold slots. Counts are exact (a map,
// not a sketch: a collision must never refuse an innocent client), and
// sharded because every request of every tenant passes here twice.
type clientLimiter struct {
	max    int32 // <= 0: no limit
	shards [64]clientShard
}

type clientSlot struct {
	t    *tenantState
	addr string
}

type clientShard struct {
	mu sync.Mutex
	n  map[clientSlot]int32
	// peak is the largest len(n) since n was made: a Go map never
	// shrinks, so one made large by a flood of addresses is dropped once
	// it is empty again.
	peak int
	_    [40]byte // a shard per cache line: they are hit from every core
}

func (l *clientLimiter) shard(k clientSlot) *clientShard {
	h := k.t.hash
	for i := 0; i < len(k.addr); i++ {
		h ^= uint32(k.addr[i])
		h *= 16777619
	}
	return &l.shards[h%uint32(len(l.shards))]
}

// acquire counts a request of addr to t; false when addr is at the limit.
// counted tells release whether there is anything to give back.
func (l *clientLimiter) acquire(t *tenantState, addr string) (ok, counted bool) {
	if l.max <= 0 {
		return true, false
	}
	k := clientSlot{t, addr}
	s := l.shard(k)
	s.mu.Lock()
	n := s.n[k]
	if n >= l.max {
		s.mu.Unlock()
		return false, false
	}
	if s.n == nil {
		s.n = map[clientSlot]int32{}
	}
	s.n[k] = n + 1
	s.peak = max(s.peak, len(s.n))
	s.mu.Unlock()
	return true, true
}

func (l *clientLimiter) release(t *tenantState, addr string) {
	k := clientSlot{t, addr}
	s := l.shard(k)
	s.mu.Lock()
	if n := s.n[k] - 1; n > 0 {
		s.n[k] = n
	} else {
		delete(s.n, k)
		if len(s.n) == 0 && s.peak > 1024 {
			s.n, s.peak = nil, 0
		}
	}
	s.mu.Unlock()
}

// clientKey is the address a client's requests are counted under: the
// IPv4 address, or the /64 of an IPv6 one, since a single IPv6 host
// usually has a whole /64 to pick addresses from.
func clientKey(ip string) string {
	if strings.IndexByte(ip, ':') < 0 {
		return ip
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// tenantHash seeds the shard hash of a tenant's client slots (FNV-1a).
func tenantHash(name string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return h
}

// clientIP is the address part of a RemoteAddr, without allocation.
func clientIP(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		addr = addr[:i]
	}
	if len(addr) > 1 && addr[0] == '[' && addr[len(addr)-1] == ']' {
		addr = addr[1 : len(addr)-1]
	}
	return addr
}
