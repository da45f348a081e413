// The Go peers of orca's sync workloads (bench/sync_workloads.cpp), with the same
// counts, checks and metrics. Run as `netbench rwmutex_read` or `netbench
// timer_reset`; each prints its result lines (impl "go") and exits.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// One result line in the shape of ../shared/peers/README.md.
type resultLine struct {
	Workload string  `json:"workload"`
	Impl     string  `json:"impl"`
	Metric   string  `json:"metric"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Better   string  `json:"better"`
}

func emit(workload, metric string, value float64, unit, better string) {
	b, err := json.Marshal(resultLine{workload, "go", metric, value, unit, better})
	check(err == nil, "json: %v", err)
	fmt.Println(string(b))
}

func check(ok bool, format string, a ...any) {
	if !ok {
		fmt.Fprintf(os.Stderr, "check failed: "+format+"\n", a...)
		os.Exit(1)
	}
}

// One cache line of counters that a writer bumps together, so a reader that sees
// them differ caught a torn write. It and the lock are each allocated alone in
// Go's 64-byte size class (64-byte aligned), as orca's side does, so that no
// other variable's writes move them between cores: what is measured is the lock.
type shared struct {
	fields [8]int64
}

// One read: whether the counters differ (as orca's side).
func (s *shared) torn() bool {
	differ := false
	for i := range s.fields { // by index: ranging over the array value would copy it
		differ = differ || s.fields[i] != s.fields[0]
	}
	return differ
}

type paddedRWMutex struct {
	mu sync.RWMutex
	_  [64 - unsafe.Sizeof(sync.RWMutex{})]byte
}

// Per goroutine: cycles times, 1,000 reads under RLock, then one write under Lock.
const readsPerWrite = 1000

func rwmutexRound(goroutines int, cycles int64) time.Duration {
	mu := &new(paddedRWMutex).mu
	s := new(shared)
	sums := make([]int64, goroutines)
	torn := make([]int64, goroutines)
	var wg sync.WaitGroup
	wg.Add(goroutines)
	start := time.Now()
	for k := 0; k < goroutines; k++ {
		go func(k int) {
			var sum, bad int64
			for c := int64(0); c < cycles; c++ {
				for r := 0; r < readsPerWrite; r++ {
					mu.RLock()
					if s.torn() {
						bad++
					}
					sum += s.fields[0]
					mu.RUnlock()
				}
				mu.Lock()
				for i := range s.fields {
					s.fields[i]++
				}
				mu.Unlock()
			}
			sums[k] = sum
			torn[k] = bad
			wg.Done()
		}(k)
	}
	wg.Wait()
	el := time.Since(start)
	writes := int64(goroutines) * cycles
	for _, v := range s.fields {
		check(v == writes, "rwmutex_read: field %d != %d writes", v, writes)
	}
	for k := range sums {
		check(torn[k] == 0, "rwmutex_read: goroutine %d saw %d torn reads", k, torn[k])
		check(sums[k] >= 0 && sums[k] <= cycles*readsPerWrite*writes,
			"rwmutex_read: goroutine %d read sum %d out of range", k, sums[k])
	}
	return el
}

// 2 x GOMAXPROCS goroutines (4 with bench/run's ORCA_PROCS=2) share one
// sync.RWMutex guarding one cache line of counters. Each repeats 1,000 cycles of:
// 1,000 reads (RLock, read and compare the 8 counters, RUnlock), then one write
// (Lock, bump all 8, Unlock). A warm-up round of 10 cycles per goroutine first.
// Metric: reads of every goroutine per second of wall time, from the first go
// statement until the last goroutine is done (the writes' time included).
func rwmutexRead() {
	const cycles = 1000
	goroutines := 2 * runtime.GOMAXPROCS(0)
	rwmutexRound(goroutines, 10) // warm-up
	el := rwmutexRound(goroutines, cycles)
	reads := float64(goroutines) * cycles * readsPerWrite
	emit("rwmutex_read", "reads_per_sec", reads/el.Seconds(), "1/s", "higher")
}

// One goroutine resets one time.Timer 1,000,000 times, each time to fire one hour
// from now, so it never fires; 10,000 resets of warm-up first. Metric: wall time per
// reset.
//
// Go 1.19's Reset does not drain t.C: its documentation asks for Stop, and a drain
// if Stop reports the timer had fired, before a Reset (Go 1.23 made Reset drain).
// This timer never fires, so the bare Reset is correct here, and it is the cheaper
// of the two: it is the figure orca's reset() (which always takes back a fired,
// unreceived value) is compared with. The documented Stop-then-Reset sequence is
// measured after it, as stop_reset_ns, for reference.
func timerReset() {
	const warm = 10000
	const resets = 1000000
	t := time.NewTimer(time.Hour)
	pending := 0
	for i := 0; i < warm; i++ {
		if t.Reset(time.Hour) {
			pending++
		}
	}
	start := time.Now()
	for i := 0; i < resets; i++ {
		if t.Reset(time.Hour) {
			pending++
		}
	}
	el := time.Since(start)
	check(pending == warm+resets, "timer_reset: %d resets found the timer pending, want %d",
		pending, warm+resets)

	start = time.Now()
	for i := 0; i < resets; i++ {
		if !t.Stop() {
			<-t.C
		}
		t.Reset(time.Hour)
	}
	elStop := time.Since(start)
	select {
	case <-t.C:
		check(false, "timer_reset: the timer fired")
	default:
	}
	check(t.Stop(), "timer_reset: the timer was not pending at the end")
	emit("timer_reset", "ns_per_reset", float64(el.Nanoseconds())/resets, "ns", "lower")
	emit("timer_reset", "stop_reset_ns", float64(elStop.Nanoseconds())/resets, "ns", "lower")
}
