package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app.sock")
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return p
}

func TestProbe(t *testing.T) {
	var host, path string
	sock := serve(t, func(w http.ResponseWriter, r *http.Request) {
		host, path = r.Host, r.URL.Path
		switch r.URL.Path {
		case "/ok":
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/slow":
			time.Sleep(2 * time.Second)
		default:
			w.WriteHeader(503)
		}
	})
	for _, c := range []struct {
		path    string
		status  bool // the error is a *StatusError
		wantErr bool
	}{
		{"/ok", false, false},
		{"/moved", false, false},
		{"/sick", true, true},
		{"/slow", false, true},
	} {
		err := Probe(context.Background(), sock, "acme.example.test", c.path, 300*time.Millisecond)
		if (err != nil) != c.wantErr || errors.As(err, new(*StatusError)) != c.status {
			t.Errorf("%s: err = %v", c.path, err)
		}
	}
	if host != "acme.example.test" || path != "/slow" {
		t.Errorf("the app saw Host %q path %q", host, path)
	}
	if err := Probe(context.Background(), filepath.Join(t.TempDir(), "none.sock"), "h", "/", time.Second); err == nil {
		t.Error("a missing socket passed")
	}
}

func TestStatusCode(t *testing.T) {
	for line, want := range map[string]int{"HTTP/1.1 200 OK\r\n": 200, "HTTP/1.0 503\r\n": 503, "SSH-2.0\r\n": 0, "HTTP/1.1 2\r\n": 0} {
		if got, _ := statusCode(line); got != want {
			t.Errorf("%q: %d, want %d", line, got, want)
		}
	}
}

func TestRecord(t *testing.T) {
	p := filepath.Join(t.TempDir(), "health.json")
	if _, ok, err := Read(p); ok || err != nil {
		t.Fatalf("no record: ok=%v err=%v", ok, err)
	}
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	r := Record{Written: at, Instances: []Instance{{Tenant: "acme", App: "web", Instance: 2, Health: "down", Since: &at, Reason: "3 failed requests"}}}
	if err := Write(p, r); err != nil {
		t.Fatal(err)
	}
	got, ok, err := Read(p)
	if !ok || err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("read back %+v ok=%v err=%v", got, ok, err)
	}
	if n := got.Instances[0].Name(); n != "acme/web@2" {
		t.Errorf("Name() = %q", n)
	}
}
