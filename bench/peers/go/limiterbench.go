// The Go peers of orca's resilience workloads (bench/resilience_workloads.cpp), with
// the same counts, checks and metrics:
//
//	netbench limiter_local_t1|limiter_local_t2      golang.org/x/time/rate Limiter.Allow
//	netbench breaker_overhead_t1|breaker_overhead_t2 the scale only: a mutex and a counter
//
// Each starts its goroutines together (GOMAXPROCS = their number, from ORCA_PROCS) and
// reports the per-goroutine cost: wall time * goroutines / operations.
package main

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Runs body(i) on n goroutines released together; returns the wall time in ns.
func timedGoroutines(n int, body func(i int)) float64 {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			defer done.Done()
			ready.Done()
			<-start
			body(i)
		}(i)
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	return float64(time.Since(t0).Nanoseconds())
}

// rate.NewLimiter(1e6, 1000) asked as fast as the goroutines can (orca's limiter_local).
func limiterLocal(workload string, goroutines int) {
	const decisions = 10_000_000 // per goroutine
	limiter := rate.NewLimiter(rate.Limit(1e6), 1000)
	admitted := make([]int64, goroutines)
	ns := timedGoroutines(goroutines, func(i int) {
		var mine int64
		for k := 0; k < decisions; k++ {
			if limiter.Allow() {
				mine++
			}
		}
		admitted[i] = mine
	})
	var total int64
	for _, a := range admitted {
		total += a
	}
	most := 1000 + 1e6*(ns/1e9) + 1000
	check(total > 0 && float64(total) <= most, "%s: admitted %d, at most %.0f allowed", workload, total, most)
	emit(workload, "ns_per_decision", ns*float64(goroutines)/float64(decisions*goroutines), "ns", "lower")
}

// The scale for breaker_overhead: what a call costs that takes a mutex and bumps a
// counter (the simplest breaker one would write in Go), not a breaker. Reported under
// its own metric, so no ratio is formed with orca's ns_per_call.
func mutexCounter(workload string, goroutines int) {
	const calls = 20_000_000 // per goroutine
	var mu sync.Mutex
	var successes int64
	ns := timedGoroutines(goroutines, func(int) {
		for k := 0; k < calls; k++ {
			mu.Lock()
			successes++
			mu.Unlock()
		}
	})
	check(successes == int64(calls*goroutines), "%s: counted %d", workload, successes)
	emit(workload, "mutex_counter_ns_per_call", ns*float64(goroutines)/float64(calls*goroutines), "ns", "lower")
}
