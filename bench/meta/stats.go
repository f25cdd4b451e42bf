package main

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// stats summarises the durations of repeated operations.
type stats struct {
	p50, p95, total time.Duration
	n               int
}

func (s stats) String() string { return fmt.Sprintf("%s (%s)", round(s.p50), round(s.p95)) }

// rate is operations a second over the whole run.
func (s stats) rate() float64 { return float64(s.n) / s.total.Seconds() }

func round(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 100*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d.Round(100 * time.Nanosecond)
}

// timeEach runs f n times in a row and times each call.
func timeEach(n int, f func(i int) error) (stats, error) {
	ds := make([]time.Duration, n)
	start := time.Now()
	for i := range n {
		t := time.Now()
		if err := f(i); err != nil {
			return stats{}, err
		}
		ds[i] = time.Since(t)
	}
	total := time.Since(start)
	slices.Sort(ds)
	return stats{p50: ds[n/2], p95: ds[n*95/100], total: total, n: n}, nil
}

// throughput runs f n times over workers goroutines and returns calls a second.
func throughput(n, workers int, f func(i int) error) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds(), firstErr
}
