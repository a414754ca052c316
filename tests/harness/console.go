package harness

import (
	"io"
	"regexp"
	"strings"
	"sync"
)

// consoleLog keeps the last max bytes of the guest's console and forwards
// everything to an optional writer. The guest's console is a pty, so systemd
// colours its status lines; tail strips the escapes for error messages.
type consoleLog struct {
	mu  sync.Mutex
	buf []byte
	max int
	fwd io.Writer
}

func newConsoleLog(max int, fwd io.Writer) *consoleLog {
	return &consoleLog{max: max, fwd: fwd}
}

func (c *consoleLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf = append(c.buf, p...)
	if over := len(c.buf) - c.max; over > 0 {
		c.buf = append(c.buf[:0], c.buf[over:]...)
	}
	fwd := c.fwd
	c.mu.Unlock()
	if fwd != nil {
		fwd.Write(p) // a failing forward must not stall the console
	}
	return len(p), nil
}

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\r`)

// tail returns the last n lines without terminal escapes.
func (c *consoleLog) tail(n int) string {
	c.mu.Lock()
	s := ansiEscape.ReplaceAllString(string(c.buf), "")
	c.mu.Unlock()
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
