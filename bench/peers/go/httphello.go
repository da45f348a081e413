// The Go peer of orca's http_hello workload: a net/http server answering every
// request with "Hello, World!" (13 bytes, text/plain), the same response as
// bench/http_hello_server.cpp. Run as `netbench http_hello [ADDRESS]`.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func httpHello(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hello := []byte("Hello, World!")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(hello)
	})
	srv := &http.Server{Handler: mux}
	fmt.Printf("listening %d\n", l.Addr().(*net.TCPAddr).Port)
	done := make(chan struct{})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		// Graceful, as orca's server does on the same signal.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		close(done)
	}()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		return err
	}
	<-done
	return nil
}
