// Command backend is the app of the router benchmark: it serves a fixed
// body on a unix socket, as an activation app would.
//
//	backend SOCKET [BODY_BYTES]
package main

import (
	"net"
	"net/http"
	"os"
	"strconv"
)

func main() {
	os.Remove(os.Args[1])
	l, err := net.Listen("unix", os.Args[1])
	if err != nil {
		panic(err)
	}
	size := 13
	if len(os.Args) > 2 {
		size, _ = strconv.Atoi(os.Args[2])
	}
	body := make([]byte, size)
	for i := range body {
		body[i] = 'a'
	}
	cl := strconv.Itoa(size)
	panic(http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", cl)
		w.Write(body)
	})))
}
