// Package certs is the router's certificate manager (issue 12, "HTTPS for
// every tenant domain"). The router's TLS listener uses TLSConfig (whose
// GetCertificate is Manager.GetCertificate), its plain-HTTP listener asks
// HTTPChallenge before answering a request, and every table reload calls
// SetNames with the installed manifests' domains and their tls: policies.
// The engine underneath is github.com/caddyserver/certmagic (ACME with
// HTTP-01 and TLS-ALPN-01, FileStorage with lock files, OCSP stapling for
// operators' certificates, ARI-driven renewal).
//
// # Allow-listing
//
// The installed manifests are the allow-list; there is no "ask" endpoint and
// no on-demand issuance. SetNames calls certmagic's ManageAsync for each Auto
// name that is new to the list, instead of enabling OnDemand with a
// DecisionFunc, because:
//
//   - the full set of names is known at every reload, so certificates are
//     obtained when a manifest is installed, not during a client's first
//     handshake (which would then wait on the CA, and a handshake storm for
//     a failing name would keep asking for it);
//   - certmagic renews ManageAsync certificates from its maintenance timer
//     (and skips OnDemand ones there: those are renewed only when a
//     handshake happens to need them);
//   - a failed obtain is retried by certmagic's own backoff (below), not by
//     the next handshake.
//
// Three gates keep anything else from reaching the CA or being served:
// GetCertificate looks the SNI name up in the current table itself and
// refuses names that are absent, Off, or Auto but not Public (it never
// falls back to a default or another domain's certificate); only Auto names
// that pass Public are handed to ManageAsync; and the cert_obtaining event
// of every obtain and renewal (certmagic's Config.OnEvent, which may abort
// it) is refused for a name that is not, at that moment, an Auto name of
// the table, so a renewal or retry of a name that was removed while it ran
// never sends an order.
//
// Names that leave the list (or change mode) are unmanaged: the context of
// their ManageAsync is cancelled (ending its retries) and their certificates
// are removed from the cache with Cache.RemoveManaged. Everything else stays
// in the one certmagic Cache the Manager creates for the life of the process
// (rebuilding the cache on reload caused downtime in Caddy, issue 5589).
//
// # Challenges through the router's own listeners
//
// certmagic's HTTP-01 and TLS-ALPN-01 solvers start their own listener on
// the challenge port unless that address is already taken, in which case
// they assume the process listening there answers the challenge
// (robustTryListen). DisableHTTPChallenge/DisableTLSALPNChallenge would
// turn the challenge types off altogether, and the "alt ports" only move the
// listener elsewhere. So New binds one loopback guard socket
// (127.0.0.1, an ephemeral port; it accepts and closes connections) and
// points both solvers at it (ListenHost and AltHTTPPort/AltTLSALPNPort):
// certmagic always finds the address taken, never binds :80 or :443, and
// keeps the challenge state in its process-wide challenge memory (and, for
// HTTP-01, in StorageDir). The router's port-80 listener then answers
// HTTP-01 with HTTPChallenge (which runs certmagic's
// ACMEIssuer.HandleHTTPChallenge on a synthetic request) and its port-443
// listener answers TLS-ALPN-01 through GetCertificate: a ClientHello whose
// only ALPN protocol is acme-tls/1 for an Auto name is handed to
// certmagic's GetCertificate, which serves the challenge certificate. The
// router must close such a connection right after the handshake
// (NegotiatedProtocol "acme-tls/1").
//
// # Caps, backoff and the CA's rate limits
//
// At most Config.MaxIssuing obtains or renewals run at once, and at most
// Config.MaxPerTenant of one tenant; the slot is taken in the
// cert_obtaining event (which certmagic emits right before the issuer is
// called, while it holds the name's storage lock) and given back at
// cert_obtained or cert_failed (or when the name is unmanaged). certmagic
// reports neither when an attempt ends on a local error (storage that
// refuses the certificate, say), so a slot held 15 minutes without either
// is taken back.
//
// A failed obtain started by ManageAsync is retried by certmagic with
// exponential backoff (1, 2, 2, 5, 10, 10, 10, 20 minutes, ..., then every
// 6 hours for up to 30 days); a failed renewal from the maintenance timer
// follows the same schedule. One attempt may place up to two orders (acmez
// retries an authorization that failed with another challenge type), i.e. up
// to two failed validations. With Let's Encrypt (CA "" or its production
// URL) certmagic makes every retry against the staging CA first and comes
// back to production only when staging succeeds. That schedule alone still
// allows about eight attempts in the first hour against another CA, and a
// name removed and re-added would start over; so the Manager also keeps, per
// name, the times of failed attempts of the last hour (in
// StorageDir/ehecoatl-failures.json, so a restart does not forget them) and
// refuses cert_obtaining once a name has failed twice within an hour: at
// most four failed validations per hostname per hour, under Let's Encrypt's
// limit of five. certmagic also spaces out its orders to one CA account
// (at most 10 in any 10 s) to avoid bursts. MaxPerTenant above MaxIssuing
// acts as MaxIssuing.
//
// Renewal follows certmagic's default: ARI where the CA offers it (Let's
// Encrypt does), otherwise when a third of the lifetime is left, checked
// every 10 minutes. Certificates, keys, the ACME account and the lock files
// live in Config.StorageDir (FileStorage: directories 0700, files 0600; the
// locks are refreshed every 5 s and stale after 10 s, so the directory must
// not be on NFS). A restarted router loads its certificates from there and
// contacts the CA only for names without one, or due for renewal.
//
// Operators' certificates (Files) are loaded by SetNames and cached as
// unmanaged certificates, so certmagic staples OCSP for them when they name
// a responder (Let's Encrypt's certificates no longer do).
//
// # Logs
//
// certmagic logs with zap; those logs are bridged to Config.Logger (slog) at
// their own levels, with the zap logger's name in the "logger" attribute.
package certs
