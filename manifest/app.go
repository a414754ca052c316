package manifest

// The decoders of app fields: each reads one key's value and reports what
// is wrong with it. fields.go ties them to their keys, to kit merging and
// to App.

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults of app fields (docs/MANIFEST.md "App fields").
const (
	DefaultPath        = "/"
	DefaultWorkers     = 1
	DefaultIdleTimeout = 15 * time.Minute
	DefaultRestart     = "on-failure"
	// DefaultDrain is how long a rollout waits for a worker's requests to
	// end before it restarts the worker (docs/OPERATIONS.md "Deploys").
	DefaultDrain = 30 * time.Second
	// MaxDrain bounds drain: a rollout of N workers may wait N times it.
	MaxDrain = 10 * time.Minute
	// DeployRolling restarts an app one instance at a time, each drained
	// first and checked after; DeployStopStart restarts every instance at
	// once (apps that cannot run twice).
	DeployRolling   = "rolling"
	DeployStopStart = "stop-start"
	// MaxWorkers bounds workers: each worker is a socket, a service and a
	// sandbox; PID 1's cost grows with their number (docs/DESIGN.md "Start limits").
	MaxWorkers = 64
	// MinIdleTimeout: an idle timeout below one second would let a busy
	// app cycle stop/start faster than the start limit tolerates
	// (StartLimitBurst=5 per 5 s, docs/DESIGN.md "Start limits").
	MinIdleTimeout = time.Second
	// MinWatchdog is the shortest watchdog: interval.
	MinWatchdog = time.Second
	// MinPort: ports below 1024 need CAP_NET_BIND_SERVICE, and apps run
	// with an empty capability set (templates/hardening.conf), so such an app could never
	// bind its port. Refused at validation instead of crash-looping.
	MinPort = 1024
)

// field is one app field as written in one file.
type field[T any] struct {
	set bool // the key is present, even if its value is invalid
	ok  bool // the value is valid
	val T
	at  pos // where the value was written
}

func (f *field[T]) setTo(v T, ok bool, at pos) {
	f.set, f.ok, f.val, f.at = true, ok, v, at
}

type domainAt struct {
	name string
	at   pos
}

// secretAt keeps where a secret was named: its file is checked on the
// host after loading, and a finding points at the name.
type secretAt struct {
	name string
	at   pos
}

type envVal struct {
	val string
	at  pos
}

// kitName decodes an app's kit: key. A kit's own kit: key is its name and
// is checked against the file name by the caller instead.
func (d *fileDecoder) kitName(e *entry) (string, bool) {
	name, ok := d.text(e.v, e.path, "write kit: NAME for kits/NAME.yaml")
	if ok {
		if p := checkName("kit name", name); p != nil {
			d.probAt(e.v, e.path, p)
			ok = false
		}
	}
	return name, ok
}

func (d *fileDecoder) listen(e *entry) (string, bool) {
	v, ok := d.text(e.v, e.path, "write listen: activation")
	if ok && v != ListenActivation {
		hint := "write listen: activation for an app that takes its socket from systemd, or use port: N for an app that binds 127.0.0.1:N itself"
		if isDigits(v) || v == "port" {
			hint = "for an app that binds a port itself write port: N instead of listen"
		}
		d.errAt(e.v, e.path, fmt.Sprintf("listen %q is not supported; the only value is %q", v, ListenActivation), hint)
		ok = false
	}
	return v, ok
}

func (d *fileDecoder) port(e *entry) (int, bool) {
	v, ok := d.integer(e.v, e.path, 1, 65535)
	if ok && v < MinPort {
		d.errAt(e.v, e.path, fmt.Sprintf("port %d is below %d; apps run without privileges and cannot bind it", v, MinPort),
			"let the app listen on a port from 1024 to 65535; the router serves 80 and 443")
		ok = false
	}
	return int(v), ok
}

// routePath decodes an app's path: prefix, normalised (a trailing "/" dropped).
func (d *fileDecoder) routePath(e *entry) (string, bool) {
	return d.urlPath(e, "path", "write path: /prefix", true)
}

// healthPath decodes the probe path, kept as written.
func (d *fileDecoder) healthPath(e *entry) (string, bool) {
	return d.urlPath(e, "health", "write health: /healthz", false)
}

func (d *fileDecoder) urlPath(e *entry, what, hint string, prefix bool) (string, bool) {
	v, ok := d.text(e.v, e.path, hint)
	if ok {
		var p *problem
		if v, p = checkURLPath(what, v, prefix); p != nil {
			d.probAt(e.v, e.path, p)
			ok = false
		}
	}
	return v, ok
}

func (d *fileDecoder) state(e *entry) (bool, bool) {
	return d.boolean(e.v, e.path)
}

func (d *fileDecoder) workers(e *entry) (int, bool) {
	v, ok := d.integer(e.v, e.path, 1, MaxWorkers)
	return int(v), ok
}

func (d *fileDecoder) restart(e *entry) (string, bool) {
	v, ok := d.text(e.v, e.path, "write one of "+strings.Join(RestartValues, ", "))
	if ok && !slices.Contains(RestartValues, v) {
		d.errAt(e.v, e.path, fmt.Sprintf("restart %q is not a value of systemd's Restart=", v), "write one of "+strings.Join(RestartValues, ", "))
		ok = false
	}
	return v, ok
}

// tls decodes tls: auto, tls: off, or tls: {cert: FILE, key: FILE}.
func (d *fileDecoder) tls(e *entry) (TLS, bool) {
	const hint = "write tls: auto, tls: off, or tls: {cert: FILE, key: FILE} for files in /etc/ehecoatl/certs/TENANT/"
	if e.v.Kind != yaml.MappingNode {
		v, ok := d.text(e.v, e.path, hint)
		if !ok {
			return TLS{}, false
		}
		if v != TLSAuto && v != TLSOff {
			d.errAt(e.v, e.path, fmt.Sprintf("tls %q is not auto, off or a mapping of cert and key", v), hint)
			return TLS{}, false
		}
		return TLS{Mode: v}, true
	}
	es, ok := d.mapping(e.v, e.path, "a mapping of cert and key", hint)
	if !ok {
		return TLS{}, false
	}
	t := TLS{Mode: TLSFiles}
	for _, x := range es {
		var dst *string
		switch x.key {
		case "cert":
			dst = &t.CertFile
		case "key":
			dst = &t.KeyFile
		default:
			d.unknownKey(x, []string{"cert", "key"}, nil)
			ok = false
			continue
		}
		v, vok := d.text(x.v, x.path, "a file name in /etc/ehecoatl/certs/TENANT/")
		if vok {
			if p := checkCertName(v); p != nil {
				d.probAt(x.v, x.path, p)
				vok = false
			}
		}
		ok = ok && vok
		*dst = v
	}
	if ok && (t.CertFile == "" || t.KeyFile == "") {
		d.errAt(e.v, e.path, "tls needs both cert and key", hint)
		ok = false
	}
	return t, ok
}

func (d *fileDecoder) hsts(e *entry) (bool, bool) {
	return d.boolean(e.v, e.path)
}

func (d *fileDecoder) command(e *entry) ([]string, bool) {
	hint := "write the argv as a list: [/path/to/program, arg1, arg2]"
	if e.v.Kind == yaml.ScalarNode && !isNull(e.v) {
		if w := strings.Fields(e.v.Value); len(w) > 0 {
			hint = "write the argv as a list (there is no shell): [" + strings.Join(w, ", ") + "]"
		}
	}
	items, ok := d.list(e.v, e.path, hint)
	if !ok {
		return nil, false
	}
	if len(items) == 0 {
		d.errAt(e.v, e.path, "command is empty", "write the argv as a list: [/path/to/program, arg1, arg2]")
		return nil, false
	}
	out := make([]string, 0, len(items))
	for i, n := range items {
		p := index(e.path, i)
		w, wok := d.text(n, p, "each argument is a string")
		if !wok {
			ok = false
			continue
		}
		if i == 0 {
			if pr := checkHostPath("command[0]", w); pr != nil {
				d.probAt(n, p, pr)
				ok = false
			}
		} else if c := controlIn(w); c != "" {
			d.errAt(n, p, fmt.Sprintf("argument %q contains %s", w, c), "arguments cannot contain control characters; pass such data in a secret")
			ok = false
		}
		out = append(out, w)
	}
	return out, ok
}

func (d *fileDecoder) domains(e *entry) ([]domainAt, bool) {
	items, ok := d.list(e.v, e.path, listHint(e.v, "write a list: [example.com, www.example.com]"))
	if !ok {
		return nil, false
	}
	var out []domainAt
	seen := map[string]*yaml.Node{}
	for i, n := range items {
		p := index(e.path, i)
		s, sok := d.text(n, p, "each domain is a string")
		if !sok {
			ok = false
			continue
		}
		norm, pr := normalizeDomain(s)
		if pr != nil {
			d.probAt(n, p, pr)
			ok = false
			continue
		}
		if first, dup := seen[norm]; dup {
			d.errAt(n, p, fmt.Sprintf("domain %q is listed twice (first at line %d:%d)", norm, first.Line, first.Column), "remove one of them")
			ok = false
			continue
		}
		seen[norm] = n
		out = append(out, domainAt{norm, d.pos(n, p)})
	}
	return out, ok
}

// listHint suggests the list form of a scalar written where a list is
// expected.
func listHint(n *yaml.Node, def string) string {
	if n.Kind == yaml.ScalarNode && !isNull(n) && n.Value != "" {
		return fmt.Sprintf("write a list, e.g. [%s]", n.Value)
	}
	return def
}

// env: values are taken as written when they are scalars (numbers and
// booleans included: FOO: 1.0 is "1.0"); mappings, lists and null are
// refused. Control characters are refused (a unit file cannot carry a
// newline in Environment=); "%" and "$" are fine, the unit writer escapes
// them.
func (d *fileDecoder) env(e *entry) (map[string]envVal, bool) {
	es, ok := d.mapping(e.v, e.path, "a mapping of variable names to values", "write env: {NAME: value}")
	if !ok {
		return nil, false
	}
	out := map[string]envVal{}
	for _, x := range es {
		if p := checkEnvKey(x.key); p != nil {
			d.probAt(x.k, x.path, p)
			ok = false
			continue
		}
		hint := "environment values are single strings"
		if isNull(x.v) {
			hint = fmt.Sprintf("write %s: \"\" for an empty value", x.key)
		}
		v, vok := d.text(x.v, x.path, hint)
		if !vok {
			ok = false
			continue
		}
		if c := controlIn(v); c != "" {
			d.errAt(x.v, x.path, fmt.Sprintf("value of %s contains %s", x.key, c), "environment values are single lines; pass multi-line data in a secret")
			ok = false
			continue
		}
		out[x.key] = envVal{v, d.pos(x.k, x.path)}
	}
	return out, ok
}

func (d *fileDecoder) secrets(e *entry) ([]secretAt, bool) {
	names, ok := d.textList(e, "write a list: [stripe_key]", "each secret is a file name", checkSecretName, "secret")
	if !ok {
		return nil, false
	}
	// A valid list has one name per item, in order.
	out := make([]secretAt, len(names))
	for i, n := range names {
		out[i] = secretAt{n, d.pos(e.v.Content[i], index(e.path, i))}
	}
	return out, true
}

func (d *fileDecoder) readOnly(e *entry) ([]string, bool) {
	return d.textList(e, "write a list: [/srv/shop]", "each entry is an absolute path", d.host.checkReadOnly, "")
}

func (d *fileDecoder) connect(e *entry) ([]string, bool) {
	return d.textList(e, "write a list: [/run/postgresql/.s.PGSQL.5432]", "each entry is the absolute path of a unix socket", d.host.checkConnect, "socket")
}

// textList decodes a list of strings, each checked by check. With a
// non-empty noun, an item listed twice is an error naming it.
func (d *fileDecoder) textList(e *entry, listExample, itemHint string, check func(string) *problem, noun string) ([]string, bool) {
	items, ok := d.list(e.v, e.path, listHint(e.v, listExample))
	if !ok {
		return nil, false
	}
	var out []string
	for i, n := range items {
		p := index(e.path, i)
		s, sok := d.text(n, p, itemHint)
		if !sok {
			ok = false
			continue
		}
		if pr := check(s); pr != nil {
			d.probAt(n, p, pr)
			ok = false
			continue
		}
		if noun != "" && slices.Contains(out, s) {
			d.errAt(n, p, fmt.Sprintf("%s %q is listed twice", noun, s), "remove one of them")
			ok = false
			continue
		}
		out = append(out, s)
	}
	return out, ok
}

func (d *fileDecoder) egress(e *entry) ([]netip.Prefix, bool) {
	const hint = "write egress: none, or a list such as [10.0.0.5/32, 0.0.0.0/0]"
	if e.v.Kind == yaml.ScalarNode && !isNull(e.v) {
		switch v := e.v.Value; strings.ToLower(v) {
		case "none":
			if v != "none" {
				d.errAt(e.v, e.path, fmt.Sprintf("egress %q must be written in lower case", v), "write egress: none")
				return nil, false
			}
			return nil, true
		case "any", "all", "*":
			d.errAt(e.v, e.path, fmt.Sprintf("egress %q is not supported; open destinations are listed explicitly", v), "to allow every destination write egress: [0.0.0.0/0, \"::/0\"]")
			return nil, false
		default:
			h := hint
			if _, pr := parseEgressEntry(v); pr == nil {
				h = fmt.Sprintf("write a list: [%s]", v)
			}
			d.errAt(e.v, e.path, fmt.Sprintf("egress %q is neither none nor a list", v), h)
			return nil, false
		}
	}
	items, ok := d.list(e.v, e.path, hint)
	if !ok {
		return nil, false
	}
	if len(items) == 0 {
		d.errAt(e.v, e.path, "egress list is empty", "write egress: none for no network access")
		return nil, false
	}
	out := []netip.Prefix{}
	for i, n := range items {
		p := index(e.path, i)
		s, sok := d.text(n, p, "each entry is an address or CIDR")
		if !sok {
			ok = false
			continue
		}
		pf, pr := parseEgressEntry(s)
		if pr != nil {
			d.probAt(n, p, pr)
			ok = false
			continue
		}
		out = append(out, pf)
	}
	return out, ok
}

// duration decodes a duration scalar (docs/MANIFEST.md, idle_timeout row) and
// returns it with its text, for the bound each field checks.
func (d *fileDecoder) duration(e *entry, hint string) (time.Duration, string, bool) {
	s, ok := d.scalarText(e, hint)
	if !ok {
		return 0, "", false
	}
	v, p := parseDuration(s)
	if p != nil {
		d.probAt(e.v, e.path, p)
		return 0, "", false
	}
	return v, s, true
}

func (d *fileDecoder) idleTimeout(e *entry) (time.Duration, bool) {
	v, s, ok := d.duration(e, "write a duration such as 15m, or 0 to never stop")
	if ok && v != 0 && v < MinIdleTimeout {
		d.errAt(e.v, e.path, fmt.Sprintf("idle_timeout %q is below 1s; the app would be stopped and started faster than systemd's start limit allows", s),
			"use 1s or more, or 0 to never stop")
		return 0, false
	}
	return v, ok
}

func (d *fileDecoder) drain(e *entry) (time.Duration, bool) {
	v, s, ok := d.duration(e, "write a duration such as 30s or 2m")
	if ok && v > MaxDrain {
		d.errAt(e.v, e.path, fmt.Sprintf("drain %q is longer than 10m", s), "use 10m or less; 0 restarts a worker without waiting")
		return 0, false
	}
	return v, ok
}

func (d *fileDecoder) deploy(e *entry) (string, bool) {
	const hint = "write deploy: rolling or deploy: stop-start"
	v, ok := d.text(e.v, e.path, hint)
	if ok && v != DeployRolling && v != DeployStopStart {
		d.errAt(e.v, e.path, fmt.Sprintf("deploy %q is not rolling or stop-start", v), hint)
		ok = false
	}
	return v, ok
}

// watchdog decodes watchdog: (docs/MANIFEST.md), a duration of at least
// MinWatchdog.
func (d *fileDecoder) watchdog(e *entry) (time.Duration, bool) {
	v, s, ok := d.duration(e, "write a duration such as 30s")
	if ok && v < MinWatchdog {
		d.errAt(e.v, e.path, fmt.Sprintf("watchdog %q is below 1s; an app must send WATCHDOG=1 within it, and under load it would be restarted for a short pause", s),
			"use 1s or more (30s is common), or remove the key for no watchdog")
		return 0, false
	}
	return v, ok
}

func (d *fileDecoder) size(e *entry) (int64, bool) {
	s, ok := d.scalarText(e, "write a size such as 512M or 1G")
	if !ok {
		return 0, false
	}
	v, p := parseSize(s)
	if p != nil {
		d.probAt(e.v, e.path, p)
		return 0, false
	}
	if v == 0 {
		d.errAt(e.v, e.path, "size must be more than 0", "write a size such as 512M, or remove the key for no limit")
		return 0, false
	}
	return v, true
}

// scalarText is text() for fields that take a number or a string
// (memory: 1073741824 or 1G; idle_timeout: 0 or 15m).
func (d *fileDecoder) scalarText(e *entry, hint string) (string, bool) {
	return d.text(e.v, e.path, hint)
}
