package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is what one load phase measured.
type loadResult struct {
	n, errs  int
	firstErr error
	rps      float64
	p50, p99 time.Duration
}

// closedLoop runs workers that each send the next request as soon as the
// previous one is answered, for d: the throughput a system sustains.
func closedLoop(ctx context.Context, workers int, d time.Duration, do func(context.Context) error) loadResult {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var firstErr error
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				err := do(ctx)
				el := time.Since(t0)
				if err != nil {
					mu.Lock()
					errs++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, el)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return summarize(lat, errs, firstErr, time.Since(start))
}

// pacer hands out the send times of an open-loop client: request i is due
// at start + i/rate, whether or not earlier requests have been answered.
type pacer struct {
	start    time.Time
	interval time.Duration
	count    int64 // requests due within the phase
	next     atomic.Int64
}

func newPacer(start time.Time, rate int, d time.Duration) *pacer {
	iv := time.Second / time.Duration(rate)
	return &pacer{start: start, interval: iv, count: int64((d + iv - 1) / iv)}
}

// due returns the index and scheduled time of the next request, or false
// once the phase's requests are all handed out.
func (p *pacer) due() (int64, time.Time, bool) {
	i := p.next.Add(1) - 1
	if i >= p.count {
		return i, time.Time{}, false
	}
	return i, p.start.Add(time.Duration(i) * p.interval), true
}

// benchClock is the time source of the paced client (a fake one in tests).
type benchClock interface {
	Now() time.Time
	// SleepUntil returns at t or when ctx ends.
	SleepUntil(ctx context.Context, t time.Time)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) SleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

// pacedLoop sends rate requests per second for d from a pool of workers
// (open loop). Each latency is measured from the request's scheduled time,
// not from when a worker got round to sending it: when the system stalls,
// the requests that should have gone out meanwhile count as late instead
// of silently not being sent (coordinated omission). The latencies are
// returned in schedule order, with the summary.
func pacedLoop(ctx context.Context, clk benchClock, workers, rate int, d time.Duration, do func(context.Context) error) (loadResult, []time.Duration) {
	p := newPacer(clk.Now(), rate, d)
	lat := make([]time.Duration, p.count)
	ok := make([]bool, p.count)
	var mu sync.Mutex
	errs := 0
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i, at, more := p.due()
				if !more {
					return
				}
				clk.SleepUntil(ctx, at)
				err := do(ctx)
				// Each slot is written by exactly one worker.
				lat[i] = clk.Now().Sub(at)
				if err != nil {
					mu.Lock()
					errs++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				ok[i] = true
			}
		}()
	}
	wg.Wait()
	total := clk.Now().Sub(p.start)
	var good []time.Duration
	for i, l := range lat {
		if ok[i] {
			good = append(good, l)
		}
	}
	ordered := slices.Clone(good)
	return summarize(good, errs, firstErr, total), ordered
}

// summarize sorts lat in place and computes the phase's figures.
func summarize(lat []time.Duration, errs int, firstErr error, total time.Duration) loadResult {
	slices.Sort(lat)
	r := loadResult{n: len(lat), errs: errs, firstErr: firstErr}
	if total > 0 {
		r.rps = float64(len(lat)) / total.Seconds()
	}
	r.p50 = percentile(lat, 50)
	r.p99 = percentile(lat, 99)
	return r
}

// percentile is the nearest-rank percentile p (0 < p ≤ 100) of sorted:
// the smallest value that at least p% of the values do not exceed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps 99% of 100 values at rank 99, not 100 through
	// a rounding error in p/100.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// median is the middle of xs (the mean of the two middle values for an
// even count); NaN for none. xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// medianDuration is median for durations.
func medianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	m := median(xs)
	if math.IsNaN(m) {
		return 0
	}
	return time.Duration(math.Round(m))
}

// getter returns a request function that GETs u with c and insists on the
// bench upstream's answer (200, 1 KiB), so that a proxy answering errors
// quickly cannot look fast.
func getter(c *http.Client, u string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			return fmt.Errorf("read body: %w", err)
		}
		if resp.StatusCode != http.StatusOK || n != benchBodySize {
			return fmt.Errorf("status %d, %d bytes", resp.StatusCode, n)
		}
		return nil
	}
}
