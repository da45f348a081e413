// netbench: the Go peers of orca's workloads that ../shared/peers/go does not
// have, standard library only. bench/run builds it into $TMPDIR. The network
// workloads run as servers; the load comes from the same client for every
// implementation (bench/tcp_echo.cpp for tcp_echo):
//
//	netbench tcp_echo [ADDRESS]     echo server, default 127.0.0.1:0
//	netbench http_hello [ADDRESS]   net/http hello-world server (httphello.go)
//
// A server prints "listening PORT" once the socket listens, serves until
// SIGTERM/SIGINT. The sync workloads (syncbench.go) run in the process itself and
// print their result lines:
//
//	netbench rwmutex_read           sync.RWMutex, mostly reads
//	netbench timer_reset            time.Timer.Reset
//
// http_client_keepalive is a client (httpclient.go): bench/run starts one server
// for it and for orca's client, and passes its address:
//
//	netbench http_client_keepalive ADDRESS
//
// GOMAXPROCS follows ORCA_PROCS when that is set (as in ../shared/peers/go).
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
)

// Mirrors orca_tcp_echo's server: one goroutine per connection, a 4 KiB buffer,
// read then write back what was read.
func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func tcpEcho(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening %d\n", l.Addr().(*net.TCPAddr).Port)
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return nil // closed by the signal
		}
		go echo(c)
	}
}

func main() {
	if p := os.Getenv("ORCA_PROCS"); p != "" {
		if n, err := strconv.Atoi(p); err == nil && n > 0 {
			runtime.GOMAXPROCS(n)
		}
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: netbench tcp_echo|http_hello [ADDRESS] | http_client_keepalive ADDRESS | rwmutex_read | timer_reset | limiter_local_t1|_t2 | breaker_overhead_t1|_t2")
		os.Exit(2)
	}
	addr := "127.0.0.1:0"
	if len(os.Args) > 2 {
		addr = os.Args[2]
	}
	var err error
	switch os.Args[1] {
	case "tcp_echo":
		err = tcpEcho(addr)
	case "http_hello":
		err = httpHello(addr)
	case "http_client_keepalive":
		maxIdle := 0
		if len(os.Args) > 3 {
			maxIdle, _ = strconv.Atoi(os.Args[3])
		}
		err = httpClientKeepalive(addr, maxIdle)
	case "rwmutex_read":
		rwmutexRead()
	case "timer_reset":
		timerReset()
	case "limiter_local_t1":
		limiterLocal(os.Args[1], 1)
	case "limiter_local_t2":
		limiterLocal(os.Args[1], 2)
	case "breaker_overhead_t1":
		mutexCounter(os.Args[1], 1)
	case "breaker_overhead_t2":
		mutexCounter(os.Args[1], 2)
	default:
		fmt.Fprintf(os.Stderr, "netbench: unknown workload %q\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "netbench:", err)
		os.Exit(1)
	}
}
