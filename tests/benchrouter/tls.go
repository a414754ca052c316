package main

// Section 4, TLS (issue 12, "Must show"): the router against nginx with the
// same ECDSA P-256 certificate, in interleaved rounds as section 1:
//
//   - new TLS connections per second, one request each (connect -> full
//     handshake -> GET -> whole answer), by a load generator of our own;
//   - keep-alive requests per second over TLS, by wrk https://;
//   - HTTP/2 requests per second, by h2load, beside them (no target); for
//     the router only when it offers h2 by ALPN.
//
// Where the router runs. The router takes an operator's certificate only
// from /etc/ehecoatl/certs/TENANT/ (naming.CertsDir, fixed), and benchmarks
// never install anything onto the host. Each TLS router therefore runs, on
// the host as section 1's routers do (--listen 127.0.0.1:PORT, GOMAXPROCS,
// CPU time from /proc, the same kind of backend), in a private mount
// namespace of its own (unshare(1), as tests/packages_test.go does) in
// which /etc is an overlay of the host's /etc with an upper layer on a
// tmpfs of that namespace: /etc/ehecoatl/certs/benchtls/ exists for that
// process alone, and vanishes with it; the host's /etc is never written.
// (The booted guest of section 2 would have served too, but there the
// router is socket-activated under its full sandbox in the guest's cgroup,
// which nginx on the host is not: this keeps both under the same
// conditions.) wrk resolves bench.example.com the same way: it runs in such
// a namespace, whose /etc/hosts maps the name to 127.0.0.1, since it takes
// the name it sends as SNI from the URL. h2load has --connect-to; our load
// generator dials 127.0.0.1 with ServerName set.
//
// Session resumption. New connections must each cost a full handshake on
// both servers. wrk does not do that: with -H 'Connection: close' it
// resumes the TLS session of the connection before on every reconnect
// (nginx's $ssl_session_reused showed "r" for all but the first handshake of
// each of its connections), and its latency starts after the handshake.
// Hence the load generator here (connLoad): crypto/tls with no
// ClientSessionCache and SessionTicketsDisabled, so it never offers a
// session (no session_ticket nor psk_key_exchange_modes extension). Go's
// server (the router) sends a session ticket only to a client that offers
// psk_dhe_ke, so it issues none to it and cannot resume; nginx gets
// ssl_session_cache off, ssl_session_tickets off and NumTickets 0: no cache,
// no tickets, no resumption either. Every connection's DidResume is checked.
//
// Equal work. Both servers speak TLS 1.3 (nginx 1.22's default stops at
// TLS 1.2: ssl_protocols TLSv1.2 TLSv1.3 is set) with TLS_AES_128_GCM_SHA256
// (Go's server prefers it to the AES-256 that OpenSSL's clients list first;
// nginx gets ssl_prefer_server_ciphers on with it first) and X25519: our
// generator offers X25519 alone, as OpenSSL 3.0 clients (wrk, h2load, curl
// on Debian 12) do. Go's default would put X25519MLKEM768 first, which the
// router would take and nginx (OpenSSL 3.0) cannot: a different, costlier
// key exchange. nginx's keepalive_requests is raised from its default 1000,
// after which it closes keep-alive and HTTP/2 connections (the router has
// no such cap): neither side does handshakes in the middle of the
// keep-alive and HTTP/2 runs. What each side negotiated is printed, as our
// generator and as h2load (OpenSSL) see it.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	tlsDomain = "bench.example.com"
	tlsTenant = "benchtls"
)

// tlsTest is one of the section's three measurements.
type tlsTest struct {
	key   string // conn, ka, h2
	title string
	unit  string // what its rate counts
}

var tlsTests = []tlsTest{
	{"conn", "new TLS connection", "conn"},
	{"ka", "keep-alive over TLS", "req"},
	{"h2", "HTTP/2", "req"},
}

// tlsBench is section 4.
func (b *bench) tlsBench(ctx context.Context) error {
	o := b.opts
	cpus, err := parseCPUs(o.tlsCPUs)
	if err != nil {
		return err
	}
	h2conns := max(o.conns/4, 2)
	fmt.Printf("\n=== 4. TLS, ECDSA P-256 (%d rounds of %ds per test and target): new connections (%d clients, one GET each), keep-alive (wrk -t2 -c%d), HTTP/2 (h2load -t2 -c%d -m4) ===\n",
		o.tlsRounds, o.tlsSecs, o.tlsConns, o.conns, h2conns)
	if err := ensureTools(ctx); err != nil {
		return err
	}
	dir := filepath.Join(b.work, "tls")
	runDir := filepath.Join(dir, "run")
	stage := filepath.Join(dir, "stage") // copied over /etc in the namespaces
	mnt := filepath.Join(dir, "mnt")     // their tmpfs
	certDir := filepath.Join(stage, "ehecoatl/certs", tlsTenant)
	for _, d := range []string{filepath.Join(dir, "etc/tenants"), filepath.Join(runDir, tlsTenant), filepath.Join(dir, "state"), certDir, mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// nginx's workers run as nobody: they need to traverse to the socket.
	for _, d := range []string{b.work, dir, runDir, filepath.Join(runDir, tlsTenant)} {
		os.Chmod(d, 0o755)
	}
	leaf, err := writeTLSCert(certDir)
	if err != nil {
		return err
	}
	certFile, keyFile := filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem")
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		return err
	}
	hosts = fmt.Appendf(hosts, "\n127.0.0.1 %s\n", tlsDomain)
	if err := os.WriteFile(filepath.Join(stage, "hosts"), hosts, 0o644); err != nil {
		return err
	}
	ns := etcOverlay(mnt, stage)
	manifest := fmt.Sprintf("tenant: %s\napps:\n  web:\n    command: [/bin/true]\n    listen: activation\n    domains: [%s]\n    tls: {cert: cert.pem, key: key.pem}\n", tlsTenant, tlsDomain)
	if err := os.WriteFile(filepath.Join(dir, "etc/tenants", tlsTenant+".yaml"), []byte(manifest), 0o644); err != nil {
		return err
	}
	ports, err := freePorts(2 * len(cpus))
	if err != nil {
		return err
	}
	sock := filepath.Join(runDir, tlsTenant, "web.sock")
	self, err := os.Executable()
	if err != nil {
		return err
	}
	backend, err := b.procs.start("tls-backend", filepath.Join(dir, "backend.log"), nil,
		self, "backend", "-body", strconv.Itoa(o.body), "-unix", sock)
	if err != nil {
		return err
	}
	started := []*proc{backend}
	var targets []target
	for i, n := range cpus {
		cpuLabel := fmt.Sprintf("%d CPUs", n)
		if n == 1 {
			cpuLabel = "1 CPU"
		}
		np, rp := ports[2*i], ports[2*i+1]
		ng, err := b.startTLSNginx(dir, fmt.Sprintf("tls-nginx%d", n), n, np, sock, certFile, keyFile)
		if err != nil {
			return err
		}
		env, glabel := []string{"GOMAXPROCS=" + strconv.Itoa(n)}, fmt.Sprintf("GOMAXPROCS=%d", n)
		if n == runtime.NumCPU() {
			env, glabel = nil, glabel+" (default)"
		}
		argv := append(slices.Clone(ns), filepath.Join(b.bin, "ehecoatl-router"), "--listen", fmt.Sprintf("127.0.0.1:%d", rp),
			"--manifests", filepath.Join(dir, "etc"), "--run-dir", runDir, "--state-dir", filepath.Join(dir, "state"),
			"--access-log", "off", "--no-idle-stop")
		rt, err := b.procs.start(fmt.Sprintf("tls-router%d", n), filepath.Join(dir, fmt.Sprintf("router%d.log", n)), env, argv...)
		if err != nil {
			return err
		}
		started = append(started, ng, rt)
		targets = append(targets,
			target{fmt.Sprintf("nginx%d", n), fmt.Sprintf("nginx, worker_processes %d", n), cpuLabel, np,
				func() []int { return append([]int{ng.pid}, childPIDs(ng.pid)...) }, 0},
			target{fmt.Sprintf("router%d", n), "router, " + glabel, cpuLabel, rp, func() []int { return []int{rt.pid} }, 0})
	}
	// exited adds to err (nil: the run went through) which of the
	// section's processes died.
	exited := func(err error) error {
		for _, p := range started {
			if e := p.exited(); e != nil {
				if err == nil {
					err = e
				} else {
					err = fmt.Errorf("%w; %v", err, e)
				}
			}
		}
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	want := strings.Repeat("a", o.body)
	for _, t := range targets {
		if err := waitTLS(ctx, t.port, pool, want, 15*time.Second); err != nil {
			return exited(fmt.Errorf("%s on 127.0.0.1:%d: %w", t.label, t.port, err))
		}
	}

	// What each side negotiates, with our generator's settings (but h2
	// offered) and with h2load's OpenSSL; whether the router offers h2.
	h2 := map[string]bool{}
	fmt.Printf("certificate: self-signed ECDSA P-256 for %s, the same files for nginx and the router (/etc/ehecoatl/certs/%s/ in the router's mount namespace)\n", tlsDomain, tlsTenant)
	for _, t := range targets {
		st, err := probeTLS(ctx, t.port, pool)
		if err != nil {
			return exited(fmt.Errorf("%s: %w", t.label, err))
		}
		h2[t.key] = st.NegotiatedProtocol == "h2"
		alpn := st.NegotiatedProtocol
		if alpn == "" {
			alpn = "none"
		}
		fmt.Printf("  %-32s Go client: %s %s %s, ALPN of h2,http/1.1: %s\n", t.label, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), st.CurveID, alpn)
	}
	for _, t := range targets {
		if !h2[t.key] {
			if strings.HasPrefix(t.key, "nginx") {
				return exited(fmt.Errorf("%s does not negotiate h2", t.label))
			}
			fmt.Printf("router: h2 not offered (%s): HTTP/2 is nginx's figure alone\n", t.label)
		}
	}
	fmt.Printf("new connections: %d goroutines of this program, each in a loop of connect, full handshake (no session offered, X25519, ALPN http/1.1, certificate not verified, as wrk and h2load do not verify it), GET with Connection: close, whole answer, close; latency is connect -> last byte\n", o.tlsConns)
	fmt.Printf("nginx: ssl_session_cache off, ssl_session_tickets off, NumTickets 0, TLSv1.2 TLSv1.3, AES-128-GCM preferred, keepalive_requests 1000000, listen ssl http2, upstream keepalive 128 to the unix socket; router: --access-log off, defaults otherwise\n")
	fmt.Printf("CPU µs/conn and µs/req: user+system time of the measured process(es) during the run (router; nginx master+workers) / connections or requests\n")

	run := func(ts tlsTest, t target, secs int) (wrkResult, error) {
		switch ts.key {
		case "conn":
			return connLoad(ctx, t, secs, o.tlsConns, o.body)
		case "ka":
			return runWrkURL(ctx, t, secs, o.conns, fmt.Sprintf("https://%s:%d/", tlsDomain, t.port), tlsDomain, ns)
		default:
			w, _, err := runH2load(ctx, t, secs, h2conns, 4, filepath.Join(dir, "h2load.log"))
			return w, err
		}
	}
	skip := func(ts tlsTest, t target) bool { return ts.key == "h2" && !h2[t.key] }
	// Warm-up, discarded; h2load's view of the handshake is printed.
	for _, ts := range tlsTests {
		for _, t := range targets {
			if skip(ts, t) {
				continue
			}
			if ts.key == "h2" {
				_, neg, err := runH2load(ctx, t, 1, h2conns, 4, filepath.Join(dir, "h2load.log"))
				if err != nil {
					return exited(err)
				}
				fmt.Printf("  %-32s h2load (OpenSSL): %s\n", t.label, neg)
				continue
			}
			if _, err := run(ts, t, 1); err != nil {
				return exited(err)
			}
		}
	}

	res := map[string][]wrkResult{} // by test key + target key
	fmt.Printf("%-6s %-20s %-32s %10s %9s %9s %11s %5s\n", "round", "test", "target", "rate", "p50", "p99", "CPU µs/op", "bad")
	for r := 1; r <= o.tlsRounds; r++ {
		for _, ts := range tlsTests {
			for _, t := range targets {
				if skip(ts, t) {
					continue
				}
				w, err := run(ts, t, o.tlsSecs)
				if err != nil {
					return exited(err)
				}
				res[ts.key+"/"+t.key] = append(res[ts.key+"/"+t.key], w)
				fmt.Printf("%-6d %-20s %-32s %10s %9s %9s %11.1f %5d\n", r, ts.title, t.label,
					fmt.Sprintf("%.0f %s/s", w.rps, ts.unit), fmtMS(w.p50), fmtMS(w.p99), w.cpuPerReq, w.bad)
			}
		}
	}

	type med struct{ rps, p50, p99, cpu float64 }
	meds := map[string]med{}
	fmt.Printf("\nmedians of %d rounds:\n", o.tlsRounds)
	for _, ts := range tlsTests {
		for _, t := range targets {
			k := ts.key + "/" + t.key
			if len(res[k]) == 0 {
				continue
			}
			var rps, p50, p99, cpu []float64
			var bad int64
			for _, w := range res[k] {
				rps, p50, p99, cpu = append(rps, w.rps), append(p50, w.p50), append(p99, w.p99), append(cpu, w.cpuPerReq)
				bad += w.bad
			}
			m := med{median(rps), median(p50), median(p99), median(cpu)}
			meds[k] = m
			fmt.Printf("  %-20s %-32s %10.0f %s/s  p50 %9s  p99 %9s  %6.1f µs CPU/%s\n", ts.title, t.label, m.rps, ts.unit, fmtMS(m.p50), fmtMS(m.p99), m.cpu, ts.unit)
			b.sum.info("tls", ts.title+", "+t.label, fmt.Sprintf("%.0f %s/s, p50 %.2f / p99 %.2f ms, %.1f µs CPU/%s", m.rps, ts.unit, m.p50, m.p99, m.cpu, ts.unit))
			if bad > 0 {
				b.sum.check("tls", ts.key+"/"+t.key+": errors + non-2xx answers", strconv.FormatInt(bad, 10), "0", false)
			}
		}
	}
	for _, n := range cpus {
		ng, rt := fmt.Sprintf("nginx%d", n), fmt.Sprintf("router%d", n)
		cpuLabel := targets[slices.IndexFunc(targets, func(t target) bool { return t.key == ng })].cpus
		for _, c := range []struct{ test, name, unit string }{{"conn", "new TLS conn", "conn"}, {"ka", "keep-alive TLS req", "req"}} {
			nm, rm := meds[c.test+"/"+ng], meds[c.test+"/"+rt]
			tr, pr, cr := rm.rps/nm.rps, rm.p99/nm.p99, rm.cpu/nm.cpu
			fmt.Printf("%s: router/nginx %s/s %s, p99 %s, p50 %s, CPU/%s %s\n", cpuLabel, c.name, fmtRatio(tr), fmtRatio(pr), fmtRatio(rm.p50/nm.p50), c.unit, fmtRatio(cr))
			b.sum.check("tls", cpuLabel+": router/nginx "+c.name+"/s", fmtRatio(tr), ">= 1.00x", tr >= 1.0)
			b.sum.check("tls", cpuLabel+": router/nginx "+c.name+" p99", fmtRatio(pr), "<= 1.20x", pr <= 1.2)
			b.sum.info("tls", cpuLabel+": router/nginx CPU per "+c.name, fmtRatio(cr))
		}
		nh := meds["h2/"+ng]
		v := fmt.Sprintf("nginx %.0f req/s (p99 %.2f ms), router: h2 not offered", nh.rps, nh.p99)
		if h2[rt] {
			rh := meds["h2/"+rt]
			v = fmt.Sprintf("nginx %.0f, router %.0f req/s (%s; p99 %s, CPU/req %s)", nh.rps, rh.rps, fmtRatio(rh.rps/nh.rps), fmtRatio(rh.p99/nh.p99), fmtRatio(rh.cpu/nh.cpu))
		}
		fmt.Printf("%s: HTTP/2: %s\n", cpuLabel, v)
		b.sum.info("tls", cpuLabel+": HTTP/2 req/s", v)
	}
	return exited(nil)
}

// parseCPUs parses -tlscpus: CPU counts, comma-separated.
func parseCPUs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-tlscpus %q: want CPU counts such as 1,2", s)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// writeTLSCert writes a fresh self-signed ECDSA P-256 certificate for
// tlsDomain (cert.pem) and its key (key.pem, PKCS #8) into dir.
func writeTLSCert(dir string) (*x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: tlsDomain},
		DNSNames:     []string{tlsDomain},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// etcOverlay is the argv prefix that runs a command in a private mount
// namespace where /etc is the host's with stage's files copied over it, in
// an overlay whose upper layer is a tmpfs mounted on mnt in that namespace
// only. unshare and sh exec: the command keeps the PID (and process group)
// procs.start gave them.
func etcOverlay(mnt, stage string) []string {
	const script = `set -e
mount -t tmpfs -o mode=0755 ehecoatl-bench "$1"
mkdir "$1/upper" "$1/work"
mount -t overlay ehecoatl-bench -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc
cp -Rp "$2/." /etc/
shift 2
exec "$@"`
	return []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", mnt, stage}
}

// startTLSNginx runs nginx as startNginx does, serving HTTPS (HTTP/1.1 and
// h2) on port with the bench's certificate.
func (b *bench) startTLSNginx(dir, name string, workers, port int, sock, cert, key string) (*proc, error) {
	prefix := filepath.Join(dir, name)
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes %d;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  upstream app { server unix:%[3]s; keepalive 128; }
  ssl_certificate %[5]s;
  ssl_certificate_key %[6]s;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_prefer_server_ciphers on;
  ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305;
  ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
  ssl_ecdh_curve X25519:prime256v1;
  ssl_session_cache off;
  ssl_session_tickets off;
  ssl_conf_command NumTickets 0;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:%[4]d ssl http2;
    server_name %[7]s;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }
  }
}
`, workers, prefix, sock, port, cert, key, tlsDomain)
	cf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return b.procs.start(name, filepath.Join(prefix, "stderr.log"), nil,
		"nginx", "-p", prefix+"/", "-e", filepath.Join(prefix, "error.log"), "-c", cf)
}

// waitTLS polls GET https://tlsDomain/ on 127.0.0.1:port, the certificate
// verified against pool, until it answers 200 with body want.
func waitTLS(ctx context.Context, port int, pool *x509.CertPool, want string, timeout time.Duration) error {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{ServerName: tlsDomain, RootCAs: pool, NextProtos: []string{"http/1.1"}},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Timeout: 2 * time.Second, Transport: tr}
	return waitURL(ctx, c, fmt.Sprintf("https://127.0.0.1:%d/", port), tlsDomain, want, timeout)
}

// probeTLS makes one handshake as the load generator does, but offering
// h2 and verifying the certificate, and returns what was negotiated.
func probeTLS(ctx context.Context, port int, pool *x509.CertPool) (tls.ConnectionState, error) {
	d := &tls.Dialer{Config: &tls.Config{ServerName: tlsDomain, RootCAs: pool, NextProtos: []string{"h2", "http/1.1"},
		CurvePreferences: []tls.CurveID{tls.X25519}, SessionTicketsDisabled: true}}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState(), nil
}

// connLoad opens new TLS connections to t from clients goroutines for secs
// seconds, each for one GET with Connection: close, and reports
// connections per second, the latency from before the connect to the last
// byte of the answer, and CPU per connection. A connection that fails, is
// resumed, or does not get 200 with body bytes counts as bad.
func connLoad(ctx context.Context, t target, secs, clients, body int) (wrkResult, error) {
	cfg := &tls.Config{
		ServerName:         tlsDomain,
		InsecureSkipVerify: true, // as wrk and h2load: the client's own cost stays out
		// No ClientSessionCache, and tickets off: no session is ever
		// offered, and Go's server issues no ticket (see the file's comment).
		SessionTicketsDisabled: true,
		CurvePreferences:       []tls.CurveID{tls.X25519},
		NextProtos:             []string{"http/1.1"},
	}
	addr := fmt.Sprintf("127.0.0.1:%d", t.port)
	req := []byte("GET / HTTP/1.1\r\nHost: " + tlsDomain + "\r\nUser-Agent: ehecoatl-benchrouter\r\nConnection: close\r\n\r\n")
	type out struct {
		lat      []float64
		bad      int64
		firstErr error
	}
	outs := make([]out, clients)
	before := cpuTicks(t.pids())
	t0 := time.Now()
	end := t0.Add(time.Duration(secs) * time.Second)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Add(1)
		go func(o *out) {
			defer wg.Done()
			o.lat = make([]float64, 0, 4096)
			for ctx.Err() == nil && time.Now().Before(end) {
				s := time.Now()
				if err := oneTLSConn(addr, cfg, req, body); err != nil {
					o.bad++
					if o.firstErr == nil {
						o.firstErr = err
					}
					continue
				}
				o.lat = append(o.lat, ms(time.Since(s)))
			}
		}(&outs[i])
	}
	wg.Wait()
	elapsed := time.Since(t0)
	after := cpuTicks(t.pids())
	if ctx.Err() != nil {
		return wrkResult{}, fmt.Errorf("new TLS connections to %s: %w", t.label, context.Cause(ctx))
	}
	var lat []float64
	var w wrkResult
	var firstErr error
	for _, o := range outs {
		lat = append(lat, o.lat...)
		w.bad += o.bad
		if firstErr == nil {
			firstErr = o.firstErr
		}
	}
	if len(lat) == 0 {
		return w, fmt.Errorf("new TLS connections to %s: none succeeded: %v", t.label, firstErr)
	}
	if firstErr != nil {
		fmt.Printf("  (%s: %d bad connections, first: %v)\n", t.label, w.bad, firstErr)
	}
	w.requests = int64(len(lat))
	w.rps = float64(len(lat)) / elapsed.Seconds()
	w.p50, w.p99 = percentile(lat, 50), percentile(lat, 99)
	w.cpuPerReq = float64(after-before) * 1e4 / float64(w.requests)
	return w, nil
}

// oneTLSConn is one connection of connLoad.
func oneTLSConn(addr string, cfg *tls.Config, req []byte, body int) error {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		return err
	}
	if c.ConnectionState().DidResume {
		return errors.New("the handshake resumed a session")
	}
	if _, err := c.Write(req); err != nil {
		return err
	}
	br := bufio.NewReaderSize(c, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || n != int64(body) {
		return fmt.Errorf("answer %d with %d body bytes, want 200 with %d", resp.StatusCode, n, body)
	}
	// Both servers close after Connection: close; waiting for it here
	// (untimed) leaves their side, not ours, in TIME_WAIT, so the run does
	// not run out of local ports.
	io.Copy(io.Discard, br)
	return nil
}

var (
	reH2Fin    = regexp.MustCompile(`finished in ([0-9.]+)(ms|s), ([0-9.]+) req/s`)
	reH2Reqs   = regexp.MustCompile(`requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	reH2Status = regexp.MustCompile(`status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
	reH2Neg    = regexp.MustCompile(`(?m)^(TLS Protocol|Cipher|Server Temp Key|Application protocol): (.*)$`)
)

// runH2load runs h2load -t2 with conns connections of streams concurrent
// streams each against t for secs seconds; latencies come from its
// per-request log. It also returns what h2load printed of the handshake.
func runH2load(ctx context.Context, t target, secs, conns, streams int, logFile string) (wrkResult, string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs+20)*time.Second)
	defer cancel()
	os.Remove(logFile)
	defer os.Remove(logFile)
	cmd := exec.CommandContext(ctx, "h2load", "-t2", "-c", strconv.Itoa(conns), "-m", strconv.Itoa(streams),
		"-D", strconv.Itoa(secs), "--connect-to", fmt.Sprintf("127.0.0.1:%d", t.port), "--log-file", logFile,
		fmt.Sprintf("https://%s:%d/", tlsDomain, t.port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	before := cpuTicks(t.pids())
	outb, err := cmd.CombinedOutput()
	after := cpuTicks(t.pids())
	s := string(outb)
	if err != nil {
		if ctx.Err() != nil {
			return wrkResult{}, "", fmt.Errorf("h2load %s: %w", t.label, context.Cause(ctx))
		}
		return wrkResult{}, "", fmt.Errorf("h2load %s: %v\n%s", t.label, err, s)
	}
	fin, reqs, st := reH2Fin.FindStringSubmatch(s), reH2Reqs.FindStringSubmatch(s), reH2Status.FindStringSubmatch(s)
	if fin == nil || reqs == nil || st == nil {
		return wrkResult{}, "", fmt.Errorf("h2load %s: unexpected output:\n%s", t.label, s)
	}
	num := func(x string) int64 { v, _ := strconv.ParseInt(x, 10, 64); return v }
	var w wrkResult
	w.rps, _ = strconv.ParseFloat(fin[3], 64)
	// "failed" counts errors, timeouts and 4xx/5xx answers; 3xx count as
	// succeeded. (The status codes include answers that arrived after the
	// end: they can exceed "done".)
	w.requests = num(reqs[4])
	w.bad = num(reqs[5]) + num(st[2])
	var neg []string
	for _, m := range reH2Neg.FindAllStringSubmatch(s, -1) {
		neg = append(neg, strings.TrimSpace(m[2]))
	}
	// The log: start (µs since the epoch), status, µs to the end of the
	// response, tab-separated.
	lf, err := os.ReadFile(logFile)
	if err != nil {
		return w, "", fmt.Errorf("h2load %s: %w", t.label, err)
	}
	var lat []float64
	for _, l := range strings.Split(string(lf), "\n") {
		f := strings.Split(l, "\t")
		if len(f) < 3 {
			continue
		}
		if us, err := strconv.ParseFloat(strings.TrimSpace(f[2]), 64); err == nil {
			lat = append(lat, us/1000)
		}
	}
	w.p50, w.p99 = percentile(lat, 50), percentile(lat, 99)
	if w.requests > 0 {
		w.cpuPerReq = float64(after-before) * 1e4 / float64(w.requests)
	}
	return w, strings.Join(neg, ", "), nil
}
