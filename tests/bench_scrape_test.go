package tests

import (
	"os"
	"strings"
	"testing"
)

// TestBenchScrape is bench-apply's scrape figure alone, with its phases
// (EHECOATL_BENCH_SCRAPE=1): the first apply of 1,000 tenants x 2 apps,
// then scrapes of the usage metrics, and what their D-Bus calls cost.
func TestBenchScrape(t *testing.T) {
	if os.Getenv("EHECOATL_BENCH_SCRAPE") == "" {
		t.Skip("benchmark: set EHECOATL_BENCH_SCRAPE=1")
	}
	h := boot(t)
	bigFixture(h, 1000)
	h.run("ehecoatl", "apply", "/srv/big")
	for i := 0; i < 3; i++ {
		_, out := h.timed("scrape", "SCRAPE_REPEAT=3 /usr/local/lib/ehecoatl-test/scrape 2>&1 >/tmp/scrape.prom; SCRAPE_REPEAT=1 SCRAPE_PHASES=1 SCRAPE_CPUPROFILE=/tmp/cpu.prof /usr/local/lib/ehecoatl-test/scrape 2>&1 >/dev/null")
		t.Logf("scrape %d:\n%s", i+1, strings.TrimSpace(out))
	}
	if p := os.Getenv("EHECOATL_BENCH_SCRAPE_PROFILE"); p != "" {
		prof := h.sh("base64 -w0 /tmp/cpu.prof")
		if err := os.WriteFile(p, []byte(prof), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
