package router

import (
	"bytes"
	"encoding/json"
	"sort"
	"time"

	"github.com/ehecoatl/ehecoatl/router/certs"
	"github.com/ehecoatl/ehecoatl/tlsstate"
)

// certStateInterval is how often the certificate engine's state is looked
// at for the record `ehecoatl status` and `routes` read: issuance and
// renewal happen in the background, so the record follows them.
const certStateInterval = 5 * time.Second

// certStateLoop keeps Config.CertState up to date until the router
// closes.
func (rt *Router) certStateLoop() {
	var last []byte
	t := time.NewTicker(certStateInterval)
	defer t.Stop()
	for {
		last = rt.writeCertState(last)
		select {
		case <-rt.done:
			return
		case <-t.C:
		}
	}
}

// writeCertState writes the record when it differs from last (the
// domains' part of what was written) and returns what it compared.
func (rt *Router) writeCertState(last []byte) []byte {
	st := rt.cfg.Certs.Status()
	r := tlsstate.Record{Domains: make([]tlsstate.Domain, 0, len(st))}
	for _, s := range st {
		d := tlsstate.Domain{Domain: s.Domain, Tenant: s.Tenant, Mode: modeName(s.Mode), State: s.State}
		if !s.NotAfter.IsZero() {
			na := s.NotAfter.UTC()
			d.NotAfter = &na
		}
		r.Domains = append(r.Domains, d)
	}
	sort.Slice(r.Domains, func(i, j int) bool { return r.Domains[i].Domain < r.Domains[j].Domain })
	cur, _ := json.Marshal(r.Domains)
	if bytes.Equal(cur, last) {
		return last
	}
	r.Written = time.Now().UTC()
	if err := tlsstate.Write(rt.cfg.CertState, r); err != nil {
		rt.cfg.Logger.Warn("writing the certificates' state", "path", rt.cfg.CertState, "err", err)
		return last
	}
	return cur
}

func modeName(m certs.Mode) string {
	switch m {
	case certs.Auto:
		return "auto"
	case certs.Files:
		return "files"
	}
	return "off"
}
