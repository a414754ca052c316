package dbus

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ehecoatl/ehecoatl/dbus/internal/fakesystemd"
)

func TestConnectAddressErrors(t *testing.T) {
	missing := "unix:path=" + filepath.Join(t.TempDir(), "no-bus")
	_, err := ConnectAddress(testCtx(t), missing)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing socket: %v", err)
	}

	bare := fakesystemd.NewBus(t)
	_, err = ConnectAddress(testCtx(t), bare)
	if err == nil || !strings.Contains(err.Error(), "no systemd on this bus") {
		t.Errorf("bus without systemd: %v", err)
	}

	f := fakesystemd.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ConnectAddress(ctx, f.Address); err == nil {
		t.Errorf("connected with an ended ctx")
	}
}

// The ctx of Connect bounds connecting, not the connection.
func TestConnectContextEndsLater(t *testing.T) {
	f := fakesystemd.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := ConnectAddress(ctx, f.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cancel()
	time.Sleep(20 * time.Millisecond)
	if _, err := c.ManagerStats(testCtx(t)); err != nil {
		t.Errorf("connection died with its connect ctx: %v", err)
	}
}

func TestConnectSystemBus(t *testing.T) {
	f := fakesystemd.New(t)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", f.Address)
	c, err := Connect(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st, err := c.ManagerStats(testCtx(t)); err != nil || st.Version != fakesystemd.Version {
		t.Errorf("stats over the system bus: %+v %v", st, err)
	}
}

func TestConnectSaysWhatItTried(t *testing.T) {
	bus := "unix:path=" + filepath.Join(t.TempDir(), "no-bus")
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", bus)
	c, err := Connect(testCtx(t))
	if err == nil {
		c.Close()
		t.Skip("systemd's private socket answers here (a real systemd host); nothing to check")
	}
	want := []string{"connect to systemd: system bus " + bus}
	if os.Geteuid() == 0 {
		want = append(want, "private socket "+PrivateSocket)
	} else {
		want = append(want, "needs root")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}
