package top

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Options of Run.
type Options struct {
	URL      string
	Sort     string
	Interval time.Duration
	// Once: two scrapes Interval apart, one view, and return; JSON prints
	// it as JSON (and implies Once).
	Once, JSON bool
	Client     *http.Client
	// Terminal: the output is a terminal of Height() lines: redraw in
	// place. Otherwise each refresh is printed after the last.
	Terminal bool
	Height   func() int
}

// ANSI sequences (ECMA-48 and xterm's): the alternate screen, as top and
// htop use it, so the shell's screen comes back on exit.
const (
	enterScreen = "\x1b[?1049h\x1b[?25l" // alternate screen, cursor hidden
	leaveScreen = "\x1b[?25h\x1b[?1049l"
	home        = "\x1b[H"
	clearLine   = "\x1b[K"
	clearBelow  = "\x1b[J"
	reverse     = "\x1b[7m"
	plain       = "\x1b[m"
)

// Run shows the view until ctx ends (Ctrl-C), or once. The first scrape
// failing is the error; later failures are shown and retried.
func Run(ctx context.Context, w io.Writer, o Options) error {
	if _, err := Build(&Scrape{}, &Scrape{}, o.Sort); err != nil {
		return err
	}
	prev, err := Fetch(ctx, o.Client, o.URL)
	if err != nil {
		return err
	}
	if o.Once || o.JSON {
		if !sleep(ctx, o.Interval) {
			return fmt.Errorf("interrupted before the second scrape")
		}
		cur, err := Fetch(ctx, o.Client, o.URL)
		if err != nil {
			return err
		}
		v, _ := Build(prev, cur, o.Sort)
		if o.JSON {
			return JSON(w, v)
		}
		return Table(w, v)
	}
	if o.Terminal {
		io.WriteString(w, enterScreen)
		defer io.WriteString(w, leaveScreen)
	}
	v, _ := Build(nil, prev, o.Sort) // usage at once, rates after a refresh
	var note string
	for {
		draw(w, v, note, o)
		if !sleep(ctx, o.Interval) {
			return nil // Ctrl-C
		}
		cur, err := Fetch(ctx, o.Client, o.URL)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			note = fmt.Sprintf("%s: %v (retrying)", time.Now().Format("15:04:05"), err)
			continue
		}
		note = ""
		v, _ = Build(prev, cur, o.Sort)
		prev = cur
	}
}

func draw(w io.Writer, v *View, note string, o Options) {
	height := 0
	if o.Terminal && o.Height != nil {
		height = o.Height()
		if note != "" {
			height--
		}
	}
	lines := Lines(v, height)
	if note != "" {
		lines = append(lines, note)
	}
	var b strings.Builder
	if !o.Terminal {
		b.WriteString(strings.Join(lines, "\n"))
		b.WriteString("\n\n")
		io.WriteString(w, b.String())
		return
	}
	b.WriteString(home)
	for i, l := range lines {
		if i == 1 {
			l = reverse + l + plain
		}
		b.WriteString(l)
		b.WriteString(clearLine)
		if i < len(lines)-1 {
			b.WriteString("\n") // the terminal is not raw: its ONLCR adds the CR
		}
	}
	b.WriteString(clearBelow)
	io.WriteString(w, b.String())
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
