// Package tlsstate is the record of the router's certificates that
// `ehecoatl status` and `ehecoatl routes` read (docs/OPERATIONS.md
// "HTTPS"): the router writes it into its runtime directory whenever the
// state of a name changes. A leaf package, so the CLI links no
// certificate engine.
package tlsstate

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/ehecoatl/ehecoatl/atomicfile"
)

// Path is where the router writes the record.
const Path = "/run/ehecoatl-router/certs.json"

// Record is the state of every name the router serves over HTTPS.
type Record struct {
	// Written is when the router wrote the record.
	Written time.Time `json:"written"`
	// Domains, sorted by name.
	Domains []Domain `json:"domains"`
}

// Domain is one name's certificate.
type Domain struct {
	Domain string `json:"domain"`
	Tenant string `json:"tenant"`
	// Mode is where the certificate comes from: "auto" (ACME) or "files".
	Mode string `json:"mode"`
	// State is "valid", "pending", "failed: REASON" or "none".
	State string `json:"state"`
	// NotAfter is the served certificate's expiry.
	NotAfter *time.Time `json:"not_after,omitempty"`
}

// Write replaces the record at path atomically (readable by everyone:
// it holds no secret).
func Write(path string, r Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644, -1)
}

// Read reads the record at path; ok is false when there is none (the
// router does not run, or serves no HTTPS).
func Read(path string) (r Record, ok bool, err error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, false, fmt.Errorf("%s: %w", path, err)
	}
	return r, true, nil
}

// ByDomain indexes the record.
func (r Record) ByDomain() map[string]Domain {
	m := make(map[string]Domain, len(r.Domains))
	for _, d := range r.Domains {
		m[d.Domain] = d
	}
	return m
}

// Summary is how a table cell shows a name's certificate: "valid 89d",
// "pending", "failed: ...", or the mode when nothing better is known.
func (d Domain) Summary(now time.Time) string {
	if d.State == "valid" && d.NotAfter != nil {
		return fmt.Sprintf("%s, valid %dd", d.Mode, int(d.NotAfter.Sub(now).Hours()/24))
	}
	return d.Mode + ", " + d.State
}
