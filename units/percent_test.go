package units

import "testing"

func TestAddPercent(t *testing.T) {
	u := New("ehecoatl-acme.slice")
	u.Section("Slice").AddPercent("CPUQuota", 150)
	b, err := u.Bytes()
	if err != nil || string(b) != "[Slice]\nCPUQuota=150%\n" {
		t.Fatalf("got %q, %v", b, err)
	}
	u = New("x.slice")
	u.Section("Slice").AddPercent("CPUQuota", -1)
	if _, err := u.Bytes(); err == nil {
		t.Fatal("negative percentage accepted")
	}
}
