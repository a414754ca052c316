package tests

import (
	"os"
	"testing"
)

func TestDebug(t *testing.T) {
	if os.Getenv("EHECOATL_DEBUG") == "" {
		t.Skip("debug")
	}
	h := boot(t)
	h.sh("mkdir -p /srv/m && cp -r /srv/examples/tenants /srv/examples/kits /srv/m/ && cp /srv/testdata/probe/tenants/probe.yaml /srv/m/tenants/")
	out, errOut, code := h.try("ehecoatl", "apply", "/srv/m")
	t.Logf("%d %s %s", code, out, errOut)
	t.Log(h.sh("/usr/lib/systemd/system-generators/ehecoatl-generator /tmp/n /tmp/e /tmp/l; ehecoatl generate /etc/ehecoatl /tmp/g; diff -r /tmp/g /run/systemd/generator | head -50"))
}
