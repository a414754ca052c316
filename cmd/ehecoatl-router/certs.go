package main

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ehecoatl/ehecoatl/router/certs"
)

// The router's HTTPS settings, from /etc/default/ehecoatl-router
// (ehecoatl-router(8)).
const (
	envCA      = "EHECOATL_ACME_CA"
	envEmail   = "EHECOATL_ACME_EMAIL"
	envCARoots = "EHECOATL_ACME_CA_ROOTS"
)

// newCerts makes the certificate engine. Its storage is certs/ in the
// state directory systemd made (StateDirectory=ehecoatl-router), or in
// stateDir when set (runs without systemd).
func newCerts(stateDir string, log *slog.Logger) (*certs.Manager, error) {
	if stateDir == "" {
		stateDir = os.Getenv("STATE_DIRECTORY")
	}
	if stateDir == "" {
		return nil, fmt.Errorf("no state directory for certificates: run under ehecoatl-router.service (StateDirectory=) or pass -state-dir")
	}
	cfg := certs.Config{
		StorageDir: filepath.Join(stateDir, "certs"),
		CA:         os.Getenv(envCA),
		Email:      os.Getenv(envEmail),
		Logger:     log,
	}
	if f := os.Getenv(envCARoots); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envCARoots, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", envCARoots, f)
		}
		cfg.CARoots = pool
	}
	return certs.New(cfg)
}
