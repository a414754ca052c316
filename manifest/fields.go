package manifest

// The app fields in one table. An app field is written in a tenant's
// apps.NAME mapping or at a kit's top level; appFields says, for each, how
// its value is decoded and checked, how a tenant's app takes it from its
// kit, and where it lands in App. The list of known keys, parseAppFields,
// merge and build only walk the table, and fields_test.go checks it
// against schema.json and docs/MANIFEST.md, so the three cannot drift.
//
// To add a field: a member of rawApp and an entry in appFields (both
// below; fields_test.go fails if one lacks the other), a decoder in app.go
// unless an existing one fits, the App field it lands in (types.go: the
// generator reads typed fields), its definition in schema.json (editors
// validate with it and it holds the value rules as patterns) and its row
// in docs/MANIFEST.md's "App fields".

import (
	"maps"
	"net/netip"
	"time"
)

// rawApp is an app as written in one file (a tenant's apps.NAME or a
// kit), before merging.
type rawApp struct {
	name string
	at   pos // the app's key in the tenant file, or the kit's root
	// incomplete: the app used a YAML merge key (refused), so what it
	// lacks is not reported as missing.
	incomplete bool

	kit      field[string]
	command  field[[]string]
	listen   field[string]
	port     field[int]
	domains  field[[]domainAt]
	path     field[string]
	env      field[map[string]envVal]
	secrets  field[[]secretAt]
	state    field[bool]
	readOnly field[[]string]
	connect  field[[]string]
	egress   field[[]netip.Prefix]
	workers  field[int]
	idle     field[time.Duration]
	memory   field[int64]
	restart  field[string]
	watchdog field[time.Duration]
	health   field[string]
	drain    field[time.Duration]
	deploy   field[string]
	tls      field[TLS]
	hsts     field[bool]
}

// appField is one app field of the table.
type appField struct {
	key string
	// decode reads the key's value in one file into a and reports what is
	// wrong with it. The field counts as set even when the value is
	// invalid, so that a bad value is not also reported as missing.
	decode func(d *fileDecoder, a *rawApp, e *entry)
	// merge takes what the app does not write from its kit; m starts as a
	// copy of the tenant's app. nil: nothing comes from the kit.
	merge func(m, kit *rawApp)
	// assign fills App from the merged app, defaults included. It runs
	// only on a directory without errors, so every set field is ok. nil:
	// another entry's assign covers the field.
	assign func(out *App, a *rawApp)
	// member is the field's member of rawApp, for fields_test.go.
	member func(a *rawApp) any
}

// fieldOf builds a table entry from typed parts: sel picks the field's
// member of rawApp, decode is one of the decoders in app.go, merge combines
// the tenant's value with the kit's (usually inherit), assign writes App.
func fieldOf[T any](key string, sel func(*rawApp) *field[T],
	decode func(*fileDecoder, *entry) (T, bool),
	merge func(dst *field[T], kit field[T]),
	assign func(out *App, f field[T]),
) appField {
	f := appField{
		key: key,
		decode: func(d *fileDecoder, a *rawApp, e *entry) {
			v, ok := decode(d, e)
			sel(a).setTo(v, ok, d.pos(e.v, e.path))
		},
		member: func(a *rawApp) any { return sel(a) },
	}
	if merge != nil {
		f.merge = func(m, kit *rawApp) { merge(sel(m), *sel(kit)) }
	}
	if assign != nil {
		f.assign = func(out *App, a *rawApp) { assign(out, *sel(a)) }
	}
	return f
}

// acrossFields replaces an entry's merge and assign by ones that see the
// whole app, for fields that are one choice with another.
func (f appField) acrossFields(merge func(m, kit *rawApp), assign func(out *App, a *rawApp)) appField {
	f.merge, f.assign = merge, assign
	return f
}

// appFields are the fields of an app, in the order of docs/MANIFEST.md's
// "App fields"; the order is also that of the known keys in hints.
var appFields = []appField{
	// kit: picks the kit, so it is not merged. At a kit's top level the
	// key is the kit's own name instead (see parseAppFields).
	fieldOf("kit", func(a *rawApp) *field[string] { return &a.kit },
		(*fileDecoder).kitName, nil,
		func(o *App, f field[string]) { o.Kit = f.val }),
	fieldOf("command", func(a *rawApp) *field[[]string] { return &a.command },
		(*fileDecoder).command, inherit,
		func(o *App, f field[[]string]) { o.Command = f.val }),
	// listen and port are one choice of how the app is reached, so they
	// are merged and assigned together, by listen's entry; a file that
	// writes both is refused by parseAppFields.
	fieldOf("listen", func(a *rawApp) *field[string] { return &a.listen },
		(*fileDecoder).listen, nil, nil).
		acrossFields(mergeListenOrPort, assignListenOrPort),
	fieldOf("port", func(a *rawApp) *field[int] { return &a.port },
		(*fileDecoder).port, nil, nil),
	fieldOf("domains", func(a *rawApp) *field[[]domainAt] { return &a.domains },
		(*fileDecoder).domains, inherit,
		func(o *App, f field[[]domainAt]) {
			for _, d := range f.val {
				o.Domains = append(o.Domains, d.name)
			}
		}),
	fieldOf("path", func(a *rawApp) *field[string] { return &a.path },
		(*fileDecoder).routePath, inherit,
		func(o *App, f field[string]) { o.Path = f.or(DefaultPath) }),
	// env alone merges key by key (mergeEnv).
	fieldOf("env", func(a *rawApp) *field[map[string]envVal] { return &a.env },
		(*fileDecoder).env, mergeEnv,
		func(o *App, f field[map[string]envVal]) {
			if len(f.val) == 0 {
				return // nil, never an empty map: see App.Env
			}
			o.Env = map[string]string{}
			for k, v := range f.val {
				o.Env[k] = v.val
			}
		}),
	fieldOf("secrets", func(a *rawApp) *field[[]secretAt] { return &a.secrets },
		(*fileDecoder).secrets, inherit,
		func(o *App, f field[[]secretAt]) {
			for _, s := range f.val {
				o.Secrets = append(o.Secrets, s.name)
				o.secretsAt = append(o.secretsAt, s.at)
			}
		}),
	fieldOf("state", func(a *rawApp) *field[bool] { return &a.state },
		(*fileDecoder).state, inherit,
		func(o *App, f field[bool]) { o.State = f.val }),
	fieldOf("read_only", func(a *rawApp) *field[[]string] { return &a.readOnly },
		(*fileDecoder).readOnly, inherit,
		func(o *App, f field[[]string]) { o.ReadOnly = f.val }),
	fieldOf("connect", func(a *rawApp) *field[[]string] { return &a.connect },
		(*fileDecoder).connect, inherit,
		func(o *App, f field[[]string]) { o.Connect = f.val }),
	fieldOf("egress", func(a *rawApp) *field[[]netip.Prefix] { return &a.egress },
		(*fileDecoder).egress, inherit,
		func(o *App, f field[[]netip.Prefix]) { o.Egress = f.val }),
	fieldOf("workers", func(a *rawApp) *field[int] { return &a.workers },
		(*fileDecoder).workers, inherit,
		func(o *App, f field[int]) { o.Workers = f.or(DefaultWorkers) }),
	fieldOf("idle_timeout", func(a *rawApp) *field[time.Duration] { return &a.idle },
		(*fileDecoder).idleTimeout, inherit,
		func(o *App, f field[time.Duration]) { o.IdleTimeout = f.or(DefaultIdleTimeout) }),
	fieldOf("memory", func(a *rawApp) *field[int64] { return &a.memory },
		(*fileDecoder).size, inherit,
		func(o *App, f field[int64]) { o.Memory = f.val }),
	fieldOf("restart", func(a *rawApp) *field[string] { return &a.restart },
		(*fileDecoder).restart, inherit,
		func(o *App, f field[string]) { o.Restart = f.or(DefaultRestart) }),
	fieldOf("watchdog", func(a *rawApp) *field[time.Duration] { return &a.watchdog },
		(*fileDecoder).watchdog, inherit,
		func(o *App, f field[time.Duration]) { o.Watchdog = f.val }),
	fieldOf("health", func(a *rawApp) *field[string] { return &a.health },
		(*fileDecoder).healthPath, inherit,
		func(o *App, f field[string]) { o.Health = f.val }),
	fieldOf("drain", func(a *rawApp) *field[time.Duration] { return &a.drain },
		(*fileDecoder).drain, inherit,
		func(o *App, f field[time.Duration]) { o.Drain = f.or(DefaultDrain) }),
	fieldOf("deploy", func(a *rawApp) *field[string] { return &a.deploy },
		(*fileDecoder).deploy, inherit,
		func(o *App, f field[string]) { o.Deploy = f.or(DeployRolling) }),
	fieldOf("tls", func(a *rawApp) *field[TLS] { return &a.tls },
		(*fileDecoder).tls, inherit,
		func(o *App, f field[TLS]) {
			o.TLS = f.val
			if o.TLS.Mode == "" {
				o.TLS.Mode = TLSAuto
			}
		}),
	fieldOf("hsts", func(a *rawApp) *field[bool] { return &a.hsts },
		(*fileDecoder).hsts, inherit,
		func(o *App, f field[bool]) { o.HSTS = f.val }),
}

// appKeys are the keys of appFields, in order.
var appKeys = func() []string {
	keys := make([]string, len(appFields))
	for i, f := range appFields {
		keys[i] = f.key
	}
	return keys
}()

var appFieldByKey = func() map[string]appField {
	m := make(map[string]appField, len(appFields))
	for _, f := range appFields {
		m[f.key] = f
	}
	return m
}()

// appKeyHints explain keys that are known elsewhere.
var appKeyHints = map[string]string{
	"limits": "limits belong to the tenant (top level); an app's own cap is memory:",
	"tenant": "tenant: belongs at the top level of a tenant file",
	"apps":   "apps: belongs at the top level of a tenant file",
	// docs/MANIFEST.md "Tenant file": suspension is the tenant's.
	"suspended": "suspended: belongs at the top level of a tenant file (it suspends the whole tenant); one app alone: ehecoatl stop TENANT/APP",
	"cmd":       "did you mean \"command\"?",
	"args":      "arguments are part of command: [/path/to/program, arg1, arg2]",
	"domain":    "did you mean \"domains\"? it takes a list: [example.com]",
	"secret":    "did you mean \"secrets\"? it takes a list",
}

// inherit takes the kit's field when the app does not write the key: a
// tenant's value replaces the kit's whole (lists are not appended).
func inherit[T any](dst *field[T], kit field[T]) {
	if !dst.set {
		*dst = kit
	}
}

// mergeEnv lays the app's variables over the kit's, key by key, so a
// tenant can add or change one variable without restating the kit's. The
// result is at the app's env: when it writes one, so that a finding about
// the merged env points where the tenant can change it.
func mergeEnv(dst *field[map[string]envVal], kit field[map[string]envVal]) {
	if !kit.set {
		return
	}
	app := *dst
	env := map[string]envVal{}
	maps.Copy(env, kit.val)
	maps.Copy(env, app.val)
	*dst = field[map[string]envVal]{set: true, ok: kit.ok && (!app.set || app.ok), val: env, at: kit.at}
	if app.set {
		dst.at = app.at
	}
}

// mergeListenOrPort: a tenant that writes either listen or port drops the
// kit's choice, since keeping the kit's other key would make the app both.
func mergeListenOrPort(m, kit *rawApp) {
	if !m.listen.set && !m.port.set {
		m.listen, m.port = kit.listen, kit.port
	}
}

// assignListenOrPort: after validation exactly one of listen and port is
// set.
func assignListenOrPort(o *App, a *rawApp) {
	if a.port.set {
		o.Listen, o.Port = ListenPort, a.port.val
	} else {
		o.Listen = ListenActivation
	}
}

// or is the field's value, or def when the key is not written.
func (f field[T]) or(def T) T {
	if f.set {
		return f.val
	}
	return def
}

// parseAppFields reads the app fields among es. inKit: es are a kit's top
// level, where "kit" is the kit's own name and handled by the caller.
//
// Value decisions common to all fields:
//   - A key without a value ("egress:" or "path: ~") is an error, never
//     "unset": with kits, an empty key could mean "use the kit's value" or
//     "clear it", and for egress the two differ in isolation. Remove the
//     key to get the default or the kit's value.
//   - Text fields take any scalar as written (a command word 8080, an env
//     value true); numeric fields (port, workers, tasks, io_weight) need
//     YAML numbers, so "8080" in quotes is refused; state needs true or
//     false (yes/no are strings in YAML 1.2 and refused, not guessed).
func (d *fileDecoder) parseAppFields(a *rawApp, es []entry, inKit bool) {
	for i := range es {
		e := &es[i]
		if e.key == "kit" && inKit {
			continue
		}
		f, ok := appFieldByKey[e.key]
		if !ok {
			// At a kit's top level "kit" names the kit, so the known keys
			// are the same.
			d.unknownKey(*e, appKeys, appKeyHints)
			continue
		}
		f.decode(d, a, e)
	}
	d.checkListenOrPort(a, es)
}

// checkListenOrPort refuses listen and port in one file. Each was decoded
// on its own first, so a bad value in either is still reported; the
// finding is at the key written second, the one to remove.
func (d *fileDecoder) checkListenOrPort(a *rawApp, es []entry) {
	var listenKey, portKey *entry
	for i := range es {
		switch es[i].key {
		case "listen":
			listenKey = &es[i]
		case "port":
			portKey = &es[i]
		}
	}
	if listenKey == nil || portKey == nil {
		return
	}
	second := portKey
	if listenKey.k.Line > portKey.k.Line || (listenKey.k.Line == portKey.k.Line && listenKey.k.Column > portKey.k.Column) {
		second = listenKey
	}
	d.errAt(second.k, second.path, "listen and port are mutually exclusive",
		"keep listen: activation if the app takes its socket from systemd, or port: N if it binds 127.0.0.1:N itself")
	a.listen.ok, a.port.ok = false, false
}

// merge applies a tenant's app over its kit's fields, each as its table
// entry says. kit may be nil.
func merge(app, kit *rawApp) *rawApp {
	if kit == nil {
		return app
	}
	m := *app
	for _, f := range appFields {
		if f.merge != nil {
			f.merge(&m, kit)
		}
	}
	return &m
}

// build returns the final App with defaults filled in. It is called only
// when the directory has no errors, so every set field is ok.
func (a *rawApp) build(tenant, file string) *App {
	out := &App{Tenant: tenant, Name: a.name, File: file}
	for _, f := range appFields {
		if f.assign != nil {
			f.assign(out, a)
		}
	}
	return out
}
