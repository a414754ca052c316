package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
)

// Mode is where a domain's certificate comes from (manifest field tls:).
type Mode int

const (
	Off   Mode = iota // no TLS for the domain: handshakes for it are refused
	Auto              // issued and renewed over ACME (HTTP-01, TLS-ALPN-01)
	Files             // the operator's certificate and key files
)

// String returns the manifest spelling of m: "off", "auto" or "files".
func (m Mode) String() string {
	switch m {
	case Off:
		return "off"
	case Auto:
		return "auto"
	case Files:
		return "files"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Policy is one domain's certificate source.
type Policy struct {
	// Mode is where the certificate comes from.
	Mode Mode

	// Tenant owns the domain; it scopes the per-tenant issuance cap and
	// appears in logs and Status.
	Tenant string

	// CertFile and KeyFile (Files mode) are the absolute paths of a PEM
	// certificate chain (leaf first) and of its private key.
	CertFile, KeyFile string
}

// Config configures a Manager.
type Config struct {
	// StorageDir holds the ACME account, certificates and keys, and the
	// lock files (certmagic's FileStorage); the router's StateDirectory,
	// e.g. /var/lib/ehecoatl-router/certs. It must be an absolute path on a
	// local file system; it is created with mode 0700 if missing, private
	// keys are written 0600.
	StorageDir string

	// CA is the ACME directory URL; "" means Let's Encrypt production
	// (whose retries then go to Let's Encrypt staging first).
	CA string

	// Email is the ACME account's contact address; optional.
	Email string

	// CARoots are extra roots trusted for the TLS of the ACME directory
	// itself (a private CA, Pebble); nil means the system roots.
	CARoots *x509.CertPool

	// MaxIssuing caps the obtains and renewals running at once; 0 means 4.
	MaxIssuing int

	// MaxPerTenant caps one tenant's obtains and renewals running at once;
	// 0 means 2.
	MaxPerTenant int

	// Logger receives the Manager's logs and certmagic's (bridged from zap
	// at their own levels); nil discards them.
	Logger *slog.Logger

	// Test hooks.
	renewCheckInterval time.Duration // certmagic's maintenance interval (default 10 min)
	noHTTP01           bool          // disable the HTTP-01 challenge
	noTLSALPN01        bool          // disable the TLS-ALPN-01 challenge
}

// DomainStatus is one listed domain as Status reports it.
type DomainStatus struct {
	// Domain is the name as listed (lower-case; may be "*.example.com").
	Domain string

	// Tenant is the policy's tenant.
	Tenant string

	// Mode is the policy's mode.
	Mode Mode

	// State is "valid" (a certificate is served), "pending" (an ACME
	// certificate is being obtained), "failed: <reason>" (the CA's reason
	// for the last failed attempt, or why the files could not be used),
	// or "none" (Off, or Auto for a name that is not Public).
	State string

	// NotAfter is the served certificate's expiry; zero without one.
	NotAfter time.Time

	// Source is "acme" or "files" when a certificate is served, else "".
	Source string
}

// DomainError is one domain's problem reported by SetNames; the domain
// has no certificate.
type DomainError struct {
	// Domain is the name as listed.
	Domain string

	// Err is the problem.
	Err error
}

func (e *DomainError) Error() string { return e.Domain + ": " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *DomainError) Unwrap() error { return e.Err }

// ErrNotPublic is reported by SetNames (in a DomainError) for an Auto domain
// that cannot get a public certificate (see Public): it has no TLS.
var ErrNotPublic = errors.New("not a public name: no ACME certificate for it (tls: auto acts as off; use tls: files)")

const filesTag = "ehecoatl:files"

// entry is one name of the published table.
type entry struct {
	Policy
	public bool   // Auto: Public(name)
	hash   string // Files: the cached certificate's hash; "" when it failed to load
}

// table is what GetCertificate reads, replaced as a whole by SetNames.
type table struct {
	names      map[string]entry
	fileHashes map[string]bool
}

// lookup finds the entry for an SNI name: the exact name, else the
// wildcard one label up.
func (t *table) lookup(name string) (string, entry, bool) {
	if e, ok := t.names[name]; ok {
		return name, e, true
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		w := "*" + name[i:]
		if e, ok := t.names[w]; ok {
			return w, e, true
		}
	}
	return "", entry{}, false
}

// isAuto reports whether name is, right now, an Auto name certmagic may
// obtain or renew a certificate for.
func (t *table) isAuto(name string) (entry, bool) {
	e, ok := t.names[name]
	return e, ok && e.Mode == Auto && e.public
}

// fileCert is a Files policy's loaded certificate.
type fileCert struct {
	certFile, keyFile string
	certStamp         stamp
	keyStamp          stamp
	hash              string
}

type stamp struct {
	mod  time.Time
	size int64
}

// Manager issues, renews, loads and serves the router's certificates.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	cache *certmagic.Cache
	magic *certmagic.Config
	acme  *certmagic.ACMEIssuer
	guard net.Listener

	ctx    context.Context // cancelled by Close; parent of the ManageAsync contexts
	cancel context.CancelFunc

	tbl atomic.Pointer[table]

	setMu sync.Mutex // serializes SetNames
	// below: touched by SetNames only (under setMu)
	managed  map[string]context.CancelFunc // Auto names handed to ManageAsync
	files    map[string]*fileCert
	fileErrs map[string]string

	mu        sync.Mutex             // guards the fields below
	failed    map[string]string      // Auto name -> reason of its last failed attempt
	failures  map[string][]time.Time // Auto name -> failed attempts within failureWindow
	slots     map[string]slot        // names holding an issuance slot
	perTenant map[string]int
	changed   chan struct{} // closed and replaced when a slot is given back
	closed    bool

	now func() time.Time // time.Now; tests move it on
}

// New starts a Manager: its certificate cache (one for the process's life)
// and certmagic's maintenance, with no names yet (see SetNames).
func New(cfg Config) (*Manager, error) {
	if cfg.StorageDir == "" || !filepath.IsAbs(cfg.StorageDir) {
		return nil, fmt.Errorf("certs: StorageDir must be an absolute path, got %q", cfg.StorageDir)
	}
	if err := os.MkdirAll(cfg.StorageDir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	if cfg.MaxIssuing <= 0 {
		cfg.MaxIssuing = 4
	}
	if cfg.MaxPerTenant <= 0 {
		cfg.MaxPerTenant = 2
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	zl := newZapLogger(logger.Handler()).Named("certmagic")

	// The guard socket makes certmagic's challenge solvers find their
	// address taken, so they never listen themselves (see the package doc).
	guard, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("certs: binding the challenge guard socket: %w", err)
	}
	go func() {
		for {
			c, err := guard.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	guardPort := guard.Addr().(*net.TCPAddr).Port

	m := &Manager{
		cfg:       cfg,
		log:       logger,
		guard:     guard,
		managed:   make(map[string]context.CancelFunc),
		files:     make(map[string]*fileCert),
		fileErrs:  make(map[string]string),
		failed:    make(map[string]string),
		failures:  make(map[string][]time.Time),
		slots:     make(map[string]slot),
		perTenant: make(map[string]int),
		changed:   make(chan struct{}),
		now:       time.Now,
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.tbl.Store(&table{names: map[string]entry{}, fileHashes: map[string]bool{}})
	m.loadFailures()

	var magic atomic.Pointer[certmagic.Config]
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) {
			return magic.Load(), nil
		},
		RenewCheckInterval: cfg.renewCheckInterval,
		Logger:             zl,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		Storage:        &certmagic.FileStorage{Path: cfg.StorageDir},
		OnEvent:        m.onEvent,
		ShouldEmitFunc: func(event string) bool { return watchedEvents[event] },
		Logger:         zl,
	})
	ca := cfg.CA
	if ca == "" {
		ca = certmagic.LetsEncryptProductionCA
	}
	m.acme = certmagic.NewACMEIssuer(m.magic, certmagic.ACMEIssuer{
		CA:                      ca, // NewACMEIssuer adds Let's Encrypt staging as TestCA for Let's Encrypt production
		Email:                   cfg.Email,
		Agreed:                  true,
		DisableHTTPChallenge:    cfg.noHTTP01,
		DisableTLSALPNChallenge: cfg.noTLSALPN01,
		ListenHost:              "127.0.0.1",
		AltHTTPPort:             guardPort,
		AltTLSALPNPort:          guardPort,
		TrustedRoots:            cfg.CARoots,
		Logger:                  zl,
	})
	m.magic.Issuers = []certmagic.Issuer{m.acme}
	magic.Store(m.magic)
	return m, nil
}

// normalize lower-cases a name and drops a trailing dot.
func normalize(name string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
}

// validName checks the shape of a listed name: a DNS name, or "*." and a
// name of at least two labels.
func validName(name string) error {
	base := strings.TrimPrefix(name, "*.")
	if base == "" || strings.Contains(base, "*") {
		return errors.New("not a domain name (wildcards are \"*.\" and a name)")
	}
	if strings.HasPrefix(name, "*.") && !strings.Contains(base, ".") {
		return errors.New("a wildcard needs at least two labels after \"*.\"")
	}
	for _, c := range base {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == ':' || c == '[' || c == ']') {
			return fmt.Errorf("not a domain name (character %q)", c)
		}
	}
	return nil
}

// SetNames replaces the allow-list: domain -> policy, domains lower-case,
// exact or "*.example.com" wildcards (wildcards only with Files). It is
// called at start and at each table reload.
//
// Auto names new to the list are handed to certmagic (ManageAsync: loaded
// from storage, or obtained in the background; SetNames never waits on the
// CA); names that left the list, or left Auto, are unmanaged and dropped
// from the cache; everything else in the cache stays. Files policies are
// loaded here, and reloaded when a file's mtime or size changed (loading a
// certificate that names an OCSP responder fetches its staple, bounded to
// 10 s; that is the only network wait of SetNames). The
// returned errors (each a *DomainError) name the domains that have no
// certificate because their files are unusable, because the entry is
// invalid, or because an Auto name is not Public (ErrNotPublic).
func (m *Manager) SetNames(names map[string]Policy) []error {
	m.setMu.Lock()
	defer m.setMu.Unlock()

	var errs []error
	report := func(d string, err error) { errs = append(errs, &DomainError{Domain: d, Err: err}) }

	nt := &table{names: make(map[string]entry, len(names)), fileHashes: map[string]bool{}}
	for raw, p := range names {
		d := normalize(raw)
		if err := validName(d); err != nil {
			report(raw, err)
			continue
		}
		if strings.HasPrefix(d, "*.") && p.Mode != Files {
			report(d, fmt.Errorf("a wildcard needs tls: files (mode %s)", p.Mode))
			continue
		}
		e := entry{Policy: p}
		switch p.Mode {
		case Off:
		case Auto:
			e.public = Public(d)
			if !e.public {
				report(d, ErrNotPublic)
			}
		case Files:
		default:
			report(d, fmt.Errorf("unknown mode %d", int(p.Mode)))
			continue
		}
		nt.names[d] = e
	}

	// Files: (re)load, and forget those no longer listed as Files.
	oldHashes := make(map[string]bool)
	for _, fc := range m.files {
		oldHashes[fc.hash] = true
	}
	for d := range m.files {
		if e, ok := nt.names[d]; !ok || e.Mode != Files {
			delete(m.files, d)
		}
	}
	for d := range m.fileErrs {
		delete(m.fileErrs, d)
	}
	for d, e := range nt.names {
		if e.Mode != Files {
			continue
		}
		fc, err := m.loadFiles(d, e.Policy, m.files[d])
		if err != nil {
			delete(m.files, d)
			m.fileErrs[d] = err.Error()
			report(d, err)
			continue
		}
		m.files[d] = fc
		e.hash = fc.hash
		nt.names[d] = e
		nt.fileHashes[fc.hash] = true
	}

	m.tbl.Store(nt)

	var stale []string
	for h := range oldHashes {
		if !nt.fileHashes[h] {
			stale = append(stale, h)
		}
	}
	if len(stale) > 0 {
		m.cache.Remove(stale)
	}

	// Auto: unmanage what left, manage what came.
	var gone []certmagic.SubjectIssuer
	for d, cancel := range m.managed {
		if _, ok := nt.isAuto(d); ok {
			continue
		}
		cancel()
		delete(m.managed, d)
		m.release(d)
		gone = append(gone, certmagic.SubjectIssuer{Subject: d})
		m.log.Info("certs: unmanaged", "domain", d)
	}
	if len(gone) > 0 {
		m.cache.RemoveManaged(gone)
	}
	var fresh []string
	for d := range nt.names {
		if _, ok := nt.isAuto(d); ok {
			if _, ok := m.managed[d]; !ok {
				fresh = append(fresh, d)
			}
		}
	}
	sort.Strings(fresh)
	for _, d := range fresh {
		ctx, cancel := context.WithCancel(m.ctx)
		if err := m.magic.ManageAsync(ctx, []string{d}); err != nil {
			cancel()
			report(d, err)
			continue
		}
		m.managed[d] = cancel
		m.log.Info("certs: managing", "domain", d, "tenant", nt.names[d].Tenant)
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

func fileStamp(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	if !fi.Mode().IsRegular() {
		return stamp{}, fmt.Errorf("%s: not a regular file", path)
	}
	return stamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// loadFiles loads a Files policy's certificate into the cache, or keeps
// prev when neither file changed.
func (m *Manager) loadFiles(domain string, p Policy, prev *fileCert) (*fileCert, error) {
	if !filepath.IsAbs(p.CertFile) || !filepath.IsAbs(p.KeyFile) {
		return nil, fmt.Errorf("tls: files needs absolute certificate and key paths (got %q, %q)", p.CertFile, p.KeyFile)
	}
	cs, err := fileStamp(p.CertFile)
	if err != nil {
		return nil, err
	}
	ks, err := fileStamp(p.KeyFile)
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.certFile == p.CertFile && prev.keyFile == p.KeyFile &&
		prev.certStamp == cs && prev.keyStamp == ks {
		return prev, nil
	}
	certPEM, err := os.ReadFile(p.CertFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(p.KeyFile)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s, %s: %w", p.CertFile, p.KeyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.CertFile, err)
	}
	probe := domain
	if strings.HasPrefix(domain, "*.") {
		// only a wildcard SAN covers every name one label down
		probe = "ehecoatl-probe" + domain[1:]
	}
	if err := leaf.VerifyHostname(probe); err != nil {
		return nil, fmt.Errorf("%s does not cover %s (its names: %s)", p.CertFile, domain, strings.Join(leaf.DNSNames, ", "))
	}
	if now := time.Now(); now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("%s expired on %s", p.CertFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	ctx, cancel := context.WithTimeout(m.ctx, 10*time.Second) // bounds OCSP stapling
	defer cancel()
	hash, err := m.magic.CacheUnmanagedCertificatePEMBytes(ctx, certPEM, keyPEM, []string{filesTag})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.CertFile, err)
	}
	m.log.Info("certs: loaded certificate files", "domain", domain, "tenant", p.Tenant,
		"cert_file", p.CertFile, "not_after", leaf.NotAfter)
	return &fileCert{certFile: p.CertFile, keyFile: p.KeyFile, certStamp: cs, keyStamp: ks, hash: hash}, nil
}

// errRefused is what every refused handshake's error wraps.
var errRefused = errors.New("no certificate for this name")

// GetCertificate is tls.Config.GetCertificate: the SNI name selects the
// certificate. A name not in the list, Off, Auto but not Public, or without
// a certificate yet, is refused with an error: no certificate is issued,
// and no default or other domain's certificate is ever served. A
// ClientHello whose only ALPN protocol is acme-tls/1, for an Auto name
// with a TLS-ALPN-01 challenge in progress, gets the challenge certificate.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := normalize(hello.ServerName)
	if name == "" {
		return nil, fmt.Errorf("certs: %w: the client sent no server name (SNI)", errRefused)
	}
	t := m.tbl.Load()
	key, e, ok := t.lookup(name)
	if !ok {
		return nil, fmt.Errorf("certs: %w: %s is not served here", errRefused, name)
	}
	switch e.Mode {
	case Files:
		if c, ok := m.fileCert(name, e.hash); ok {
			return &c.Certificate, nil
		}
		return nil, fmt.Errorf("certs: %w: %s (tls: files) has no usable certificate", errRefused, key)
	case Auto:
		if !e.public {
			return nil, fmt.Errorf("certs: %w: %s is not a public name (tls: auto acts as off)", errRefused, name)
		}
		if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == "acme-tls/1" {
			return m.magic.GetCertificate(hello) // TLS-ALPN-01 challenge certificate
		}
		if c, ok := m.acmeCert(hello, name, t); ok {
			return &c.Certificate, nil
		}
		return nil, fmt.Errorf("certs: %w: %s has no certificate yet", errRefused, name)
	}
	return nil, fmt.Errorf("certs: %w: %s has tls: off", errRefused, key)
}

// fileCert finds a Files certificate in the cache by its hash.
func (m *Manager) fileCert(name, hash string) (certmagic.Certificate, bool) {
	if hash == "" {
		return certmagic.Certificate{}, false
	}
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Hash() == hash {
			return c, true
		}
	}
	return certmagic.Certificate{}, false
}

// acmeCert finds name's ACME certificate in the cache: one issued for name
// itself (certmagic obtains one name per certificate), never a Files
// certificate or a wildcard that happens to cover name.
func (m *Manager) acmeCert(hello *tls.ClientHelloInfo, name string, t *table) (certmagic.Certificate, bool) {
	var choices []certmagic.Certificate
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if t.fileHashes[c.Hash()] || c.HasTag(filesTag) || len(c.Names) != 1 || c.Names[0] != name {
			continue
		}
		choices = append(choices, c)
	}
	if len(choices) == 0 {
		return certmagic.Certificate{}, false
	}
	if hello == nil {
		hello = &tls.ClientHelloInfo{ServerName: name}
	}
	c, err := certmagic.DefaultCertificateSelector(hello, choices)
	return c, err == nil
}

// TLSConfig returns the server tls.Config to use: TLS 1.2 minimum, for
// TLS 1.2 only ECDHE suites with AES-GCM or ChaCha20-Poly1305, the X25519
// and P-256 curves, GetCertificate above, and NextProtos h2, http/1.1 and
// acme-tls/1 (a connection that negotiated acme-tls/1 is a TLS-ALPN-01
// validation: close it after the handshake).
func (m *Manager) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256},
		GetCertificate:   m.GetCertificate,
		NextProtos:       []string{"h2", "http/1.1", "acme-tls/1"},
	}
}

// HTTPChallenge answers an ACME HTTP-01 request: for host (a Host header
// value; a port is ignored) and a path "/.well-known/acme-challenge/TOKEN"
// of an active challenge of an Auto name, it returns the key authorization
// to send as a 200 text/plain body. ok=false: not a challenge we have (the
// router then answers as usual).
func (m *Manager) HTTPChallenge(host, path string) (body string, ok bool) {
	const prefix = "/.well-known/acme-challenge/"
	if !strings.HasPrefix(path, prefix) || len(path) == len(prefix) {
		return "", false
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = normalize(h)
	if _, ok := m.tbl.Load().isAuto(h); !ok {
		return "", false
	}
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	req := (&http.Request{
		Method:     http.MethodGet,
		Host:       h,
		URL:        &url.URL{Path: path},
		RequestURI: path,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{},
	}).WithContext(ctx)
	var w bodyWriter
	if !m.acme.HandleHTTPChallenge(&w, req) || (w.status != 0 && w.status != http.StatusOK) {
		return "", false
	}
	return w.body.String(), true
}

// bodyWriter is the http.ResponseWriter HTTPChallenge hands to certmagic.
type bodyWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bodyWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}
func (w *bodyWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *bodyWriter) Write(b []byte) (int, error) { return w.body.Write(b) }

// Status reports each listed domain, sorted by name.
func (m *Manager) Status() []DomainStatus {
	t := m.tbl.Load()
	m.setMu.Lock()
	fileErrs := make(map[string]string, len(m.fileErrs))
	for d, e := range m.fileErrs {
		fileErrs[d] = e
	}
	m.setMu.Unlock()
	m.mu.Lock()
	failed := make(map[string]string, len(m.failed))
	for d, r := range m.failed {
		failed[d] = r
	}
	m.mu.Unlock()

	out := make([]DomainStatus, 0, len(t.names))
	for d, e := range t.names {
		s := DomainStatus{Domain: d, Tenant: e.Tenant, Mode: e.Mode, State: "none"}
		var c certmagic.Certificate
		var have bool
		switch e.Mode {
		case Files:
			if c, have = m.fileCert(d, e.hash); have {
				s.Source = "files"
			} else if r, ok := fileErrs[d]; ok {
				s.State = "failed: " + r
			}
		case Auto:
			if !e.public {
				break
			}
			if c, have = m.acmeCert(nil, d, t); have {
				s.Source = "acme"
			} else if r, ok := failed[d]; ok {
				s.State = "failed: " + r
			} else {
				s.State = "pending"
			}
		}
		if have && c.Leaf != nil {
			s.NotAfter = c.Leaf.NotAfter
			s.State = "valid"
			if time.Now().After(c.Leaf.NotAfter) {
				s.State = "failed: certificate expired on " + c.Leaf.NotAfter.UTC().Format(time.RFC3339)
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Domain < out[j].Domain })
	return out
}

// Close stops renewal and background work: the ManageAsync contexts are
// cancelled, certmagic's maintenance stops, and Close waits (up to 10 s) for
// issuances in flight to give their slots back. Certificates already cached
// are still served by GetCertificate.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.cache.Stop()
	m.guard.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		n, ch := len(m.slots), m.changed
		m.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-ch:
		case <-time.After(100 * time.Millisecond):
		}
	}
}
