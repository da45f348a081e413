// The Go peer of orca's http_client_keepalive workload: 50 goroutines GET
// http://ADDRESS/ in a loop through http.DefaultClient (the default Transport:
// keep-alive, MaxIdleConnsPerHost 2, as a Go program gets it), each reading the
// whole body and closing it so the connection can go back to the pool. 1 s of
// warm-up, then requests are counted for 5 s. Run as
// `netbench http_client_keepalive ADDRESS` against the server bench/run starts (the
// same one orca's client runs against). For a manual comparison only,
// `netbench http_client_keepalive ADDRESS N` runs a clone of the default Transport
// with MaxIdleConnsPerHost = N instead (bench/run never passes N).
package main

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

func httpClientKeepalive(addr string, maxIdlePerHost int) error {
	const callers = 50
	url := "http://" + addr + "/"
	client := http.DefaultClient
	if maxIdlePerHost > 0 {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = maxIdlePerHost
		client = &http.Client{Transport: t}
	}
	var measuring, stop atomic.Bool
	var ok, failed atomic.Uint64
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := client.Get(url)
				if err != nil {
					failed.Add(1)
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(body) != "Hello, World!" {
					failed.Add(1)
				} else if measuring.Load() {
					ok.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second)
	measuring.Store(true)
	t0 := time.Now()
	before := ok.Load()
	time.Sleep(5 * time.Second)
	counted := ok.Load() - before
	seconds := time.Since(t0).Seconds()
	stop.Store(true)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		return fmt.Errorf("http_client_keepalive: %d requests failed", n)
	}
	fmt.Printf("{\"workload\": \"http_client_keepalive\", \"impl\": \"go\", \"metric\": \"requests_per_sec\", \"value\": %.6g, \"unit\": \"req/s\", \"better\": \"higher\"}\n",
		float64(counted)/seconds)
	return nil
}
