package manifest

import (
	"io/fs"
	"runtime"
	"sync"

	"go.yaml.in/yaml/v3"
)

// parsed is one file read and parsed ahead of its decoding, with the
// findings parsing produced.
type parsed struct {
	root     *yaml.Node
	data     []byte
	findings []Finding
}

// prefetch reads and parses files on all cores. Parsing is most of a load
// (YAML decoding of a thousand tenant files), and each file is
// independent; decoding and cross-file checks stay sequential so findings
// and results do not depend on scheduling.
func prefetch(fsys fs.FS, files []string, kind string) map[string]*parsed {
	out := make(map[string]*parsed, len(files))
	if len(files) < prefetchMin {
		return out // not worth the goroutines; open parses in line
	}
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for file := range work {
				c := &collector{}
				d := &fileDecoder{c: c, file: file, kind: kind}
				var root *yaml.Node
				data, p := readFile(fsys, file)
				if p != nil {
					d.fileErr(p.msg, p.hint)
				} else {
					root = parseFile(d, data)
				}
				mu.Lock()
				out[file] = &parsed{root: root, data: data, findings: c.report.Findings}
				mu.Unlock()
			}
		}()
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	return out
}

// prefetchMin is the number of files from which prefetch parses in
// parallel; a variable so that tests can compare both paths.
var prefetchMin = 8
