package manifest

import (
	"fmt"
	"reflect"
	"testing"
	"testing/fstest"
)

// TestPrefetchSameResult: parsing files in parallel gives exactly the
// report and set of the sequential path, good and bad files mixed.
func TestPrefetchSameResult(t *testing.T) {
	fsys := fstest.MapFS{}
	for i := 0; i < 40; i++ {
		name := fmt.Sprintf("t%02d", i)
		body := fmt.Sprintf("tenant: %s\napps:\n  web:\n    command: [/bin/app]\n    listen: activation\n    domains: [%s.example.test]\n", name, name)
		switch i % 7 {
		case 1:
			body += "    colour: blue\n"
		case 3:
			body = "tenant: [\n"
		case 5:
			body = ""
		}
		fsys["tenants/"+name+".yaml"] = &fstest.MapFile{Data: []byte(body)}
	}
	setP, repP := LoadFS(fsys, "x")
	old := prefetchMin
	prefetchMin = 1 << 30
	setS, repS := LoadFS(fsys, "x")
	prefetchMin = old
	if repP.String() != repS.String() {
		t.Errorf("reports differ:\nparallel:\n%s\nsequential:\n%s", repP, repS)
	}
	if !reflect.DeepEqual(setP, setS) {
		t.Errorf("sets differ")
	}
	if !repP.HasErrors() {
		t.Errorf("the bad files were not reported")
	}
}
