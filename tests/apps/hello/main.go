// Command hello is the small Go app of the integration tests and the
// router benchmark: socket-activated (LISTEN_FDS) or on --port, it answers
// who it is, echoes WebSocket messages, streams, and crashes on request.
package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

func main() {
	port := flag.Int("port", 0, "listen on 127.0.0.1:PORT instead of the socket from systemd")
	crashAtStart := flag.Bool("crash-at-start", false, "exit 1 at once (a broken app)")
	version := flag.String("version", "", "`NAME` of this version, in every answer with $HELLO_VERSION (a rollout test sees which answered)")
	failHealth := flag.Bool("fail-health", false, "answer /healthz with 500 (a broken new version that runs)")
	notify := flag.Bool("notify", false, "speak sd_notify: READY=1 once serving, WATCHDOG=1 every half $WATCHDOG_USEC until GET /hang")
	flag.Parse()
	if *crashAtStart {
		fmt.Fprintln(os.Stderr, "hello: crashing at start as asked")
		os.Exit(1)
	}
	var l net.Listener
	var err error
	if *port != 0 {
		l, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	} else {
		l, err = activated()
	}
	if err != nil {
		log.Fatalf("hello: %v", err)
	}
	fmt.Fprintf(os.Stderr, "hello: serving %s/%s on %s\n", os.Getenv("EHECOATL_TENANT"), os.Getenv("EHECOATL_APP"), l.Addr())
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// ?sleep=2s: a slow request, in flight across a rollout.
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil && d > 0 {
			time.Sleep(d)
		}
		// GREETING comes from the manifest's env: a changed env is a
		// changed response (tests/rollback_test.go).
		if g := os.Getenv("GREETING"); g != "" {
			fmt.Fprintf(w, "%s\n", g)
		}
		// rid: the X-Request-Id the router passed (tests/router_test.go
		// matches it with the access line).
		fmt.Fprintf(w, "hello from %s/%s pid %d path %s xff %s rid %s version %s+%s\n", os.Getenv("EHECOATL_TENANT"), os.Getenv("EHECOATL_APP"), os.Getpid(), r.URL.Path, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Request-Id"), *version, os.Getenv("HELLO_VERSION"))
	})
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) { os.Exit(3) })
	// GET /sick?s=N: /healthz answers 503 for N seconds.
	var sickUntil atomic.Int64
	mux.HandleFunc("/sick", func(w http.ResponseWriter, r *http.Request) {
		s, _ := strconv.Atoi(r.URL.Query().Get("s"))
		sickUntil.Store(time.Now().Add(time.Duration(s) * time.Second).UnixNano())
		fmt.Fprintf(w, "pid %d sick for %ds\n", os.Getpid(), s)
	})
	// /healthz: 500 with --fail-health (a broken new version that runs),
	// 503 while sick, else 200.
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if *failHealth {
			fmt.Fprintln(os.Stderr, "hello: health check failing as asked")
			http.Error(w, "unhealthy as asked", http.StatusInternalServerError)
			return
		}
		if time.Now().UnixNano() < sickUntil.Load() {
			http.Error(w, "sick", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok pid %d\n", os.Getpid())
	})
	// /hang stops the watchdog keep-alives: the app looks hung to systemd.
	var hung atomic.Bool
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		hung.Store(true)
		fmt.Fprintf(w, "pid %d stops its watchdog keep-alives\n", os.Getpid())
	})
	if *notify {
		if err := sdNotify("READY=1"); err != nil {
			log.Fatalf("hello: %v", err)
		}
		if usec, _ := strconv.Atoi(os.Getenv("WATCHDOG_USEC")); usec > 0 {
			go func() {
				for range time.Tick(time.Duration(usec) * time.Microsecond / 2) {
					if !hung.Load() {
						sdNotify("WATCHDOG=1")
					}
				}
			}()
		}
	}
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "chunk %d\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(10 * time.Millisecond)
		}
	})
	mux.HandleFunc("/ws", wsEcho)
	log.Fatal(http.Serve(l, mux))
}

// sdNotify sends one sd_notify(3) message to $NOTIFY_SOCKET.
func sdNotify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return fmt.Errorf("--notify without NOTIFY_SOCKET")
	}
	c, err := net.Dial("unixgram", addr)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// activated returns the listening socket systemd passed as fd 3.
func activated() (net.Listener, error) {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) || os.Getenv("LISTEN_FDS") != "1" {
		return nil, fmt.Errorf("no socket from systemd (LISTEN_FDS=%q) and no --port", os.Getenv("LISTEN_FDS"))
	}
	f := os.NewFile(3, "activated")
	defer f.Close()
	return net.FileListener(f)
}

// wsEcho is a minimal RFC 6455 server: it echoes text and binary frames
// of up to 64 KiB until the client closes.
func wsEcho(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if r.Header.Get("Upgrade") != "websocket" || key == "" {
		http.Error(w, "websocket only", http.StatusBadRequest)
		return
	}
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	conn, rw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", base64.StdEncoding.EncodeToString(h[:]))
	rw.Flush()
	for {
		op, payload, err := readFrame(rw.Reader)
		if err != nil || op == 8 {
			return
		}
		if err := writeFrame(rw.Writer, op, payload); err != nil {
			return
		}
		rw.Flush()
	}
}

func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	op, n := hdr[0]&0x0f, uint64(hdr[1]&0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		return 0, nil, fmt.Errorf("frame too large")
	}
	var mask [4]byte
	if hdr[1]&0x80 != 0 {
		if _, err := io.ReadFull(r, mask[:]); err != nil {
			return 0, nil, err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	for i := range p {
		p[i] ^= mask[i%4]
	}
	return op, p, nil
}

func writeFrame(w *bufio.Writer, op byte, p []byte) error {
	w.WriteByte(0x80 | op)
	if len(p) < 126 {
		w.WriteByte(byte(len(p)))
	} else {
		w.WriteByte(126)
		binary.Write(w, binary.BigEndian, uint16(len(p)))
	}
	_, err := w.Write(p)
	return err
}
