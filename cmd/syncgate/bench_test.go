package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBenchRun runs a tiny `demo --bench`: direct and syncgate in both
// modes, plus nginx and haproxy when they are installed. Every system must
// be in the median table with requests and no errors, and every proxy must
// have left one log line per request on disk.
func TestBenchRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes")
	}
	bin := syncgateBinary(t)
	systems := []string{"direct", "syncgate", "syncgate-intercept"}
	for _, name := range []string{"nginx", "haproxy"} {
		if _, err := lookPathSbin(name); err == nil {
			systems = append(systems, name, name+"-tls")
		} else {
			t.Logf("%s not installed: not compared", name)
		}
	}
	dir := filepath.Join(t.TempDir(), "bench")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	sums, err := runBenchWith(ctx, &out, benchOptions{
		dir: dir, phase: 300 * time.Millisecond, rounds: 1, workers: 4, rate: 500, systems: systems, gateway: bin,
	})
	text := out.String()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, text)
	}
	if len(sums) != len(systems) {
		t.Fatalf("%d systems measured, want %d\n%s", len(sums), len(systems), text)
	}
	table := text[strings.Index(text, "\nmedians of"):]
	// In the bench's own order: the plain listeners, then the TLS ones.
	var order []string
	for _, id := range benchSystemIDs {
		if containsString(systems, id) {
			order = append(order, id)
		}
	}
	for i, s := range sums {
		if s.id != order[i] {
			t.Errorf("system %d is %s, want %s", i, s.id, order[i])
		}
		if s.n == 0 || s.errs != 0 || s.rps <= 0 || s.p50 <= 0 || s.p99 < s.p50 || s.pacedP99 <= 0 {
			t.Errorf("%s: implausible figures %+v", s.id, s)
		}
		if s.id == "direct" {
			if !math.IsNaN(s.cpu10k) || s.hasAdded {
				t.Errorf("direct has proxy figures: cpu %v, added %v", s.cpu10k, s.hasAdded)
			}
		} else if math.IsNaN(s.cpu10k) || s.cpu10k < 0 || !s.hasAdded {
			t.Errorf("%s: cpu %v, added p99 %v", s.id, s.cpu10k, s.hasAdded)
		}
		row := false
		for _, line := range strings.Split(table, "\n") {
			if strings.HasPrefix(line, s.label+"  ") {
				row = true
			}
		}
		if !row {
			t.Errorf("median table lacks a row for %q:\n%s", s.label, table)
		}
	}
	if !strings.Contains(text, "targets (issue 14):\n  syncgate plain, fsync batch vs nginx") && containsString(systems, "nginx") {
		t.Errorf("no target line against nginx:\n%s", text)
	}
	// One line per request on disk, for every proxy: syncgate's audit log
	// (plain and intercept share the batch gateway), nginx's access log,
	// haproxy's stdout log.
	byID := map[string]benchSummary{}
	for _, s := range sums {
		byID[s.id] = s
	}
	for _, c := range []struct {
		file string
		ids  []string
	}{
		{"audit-bench-batch.jsonl", []string{"syncgate", "syncgate-intercept"}},
		{"nginx/nginx-access.log", []string{"nginx", "nginx-tls"}},
		{"haproxy/haproxy-access.log", []string{"haproxy", "haproxy-tls"}},
	} {
		if _, ok := byID[c.ids[0]]; !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		lines, want := bytes.Count(b, []byte("\n")), 0
		for _, id := range c.ids {
			want += byID[id].n
		}
		if lines < want {
			t.Errorf("%s: %d lines for %d requests", c.file, lines, want)
		}
	}
}

func TestBenchPercentile(t *testing.T) {
	seq := func(n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = time.Duration(i + 1)
		}
		return out
	}
	for _, c := range []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one value", seq(1), 99, 1},
		{"p50 of 100", seq(100), 50, 50},
		{"p99 of 100 is the 99th", seq(100), 99, 99},
		{"p99 of 200", seq(200), 99, 198},
		{"p99 of 10 is the largest", seq(10), 99, 10},
		{"p50 of 4 is the lower middle", seq(4), 50, 2},
		{"p99 of 1000", seq(1000), 99, 990},
		{"p100", seq(7), 100, 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := percentile(c.in, c.p); got != c.want {
				t.Errorf("percentile(%d values, %v) = %v, want %v", len(c.in), c.p, got, c.want)
			}
		})
	}
}

func TestBenchMedian(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"one", []float64{3}, 3},
		{"odd, unsorted", []float64{9, 1, 5}, 5},
		{"even: mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"an outlier does not move it", []float64{1, 2, 1000}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := append([]float64(nil), c.in...)
			if got := median(in); got != c.want {
				t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
			}
			for i := range in {
				if in[i] != c.in[i] {
					t.Fatalf("median reordered its input: %v", in)
				}
			}
		})
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
	if got := medianDuration([]time.Duration{3, 1, 2, 10}); got != 3 {
		t.Errorf("medianDuration = %v, want 3 (2.5 rounded)", got)
	}
}

func TestBenchPacerSchedule(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name      string
		rate      int
		d         time.Duration
		wantCount int
		wantLast  time.Duration // offset of the last request
	}{
		{"500/s for 1s", 500, time.Second, 500, 998 * time.Millisecond},
		{"1000/s for 300ms", 1000, 300 * time.Millisecond, 300, 299 * time.Millisecond},
		{"3/s for 1s (interval not a whole ns count)", 3, time.Second, 4, 999999999},
		{"faster than the phase allows one", 1, 500 * time.Millisecond, 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPacer(start, c.rate, c.d)
			var last time.Time
			n := 0
			for {
				i, at, ok := p.due()
				if !ok {
					break
				}
				if i != int64(n) {
					t.Fatalf("request %d handed out as %d", n, i)
				}
				if n > 0 && at.Sub(last) != time.Second/time.Duration(c.rate) {
					t.Fatalf("request %d at %v after the previous one", n, at.Sub(last))
				}
				if !at.Before(start.Add(c.d)) {
					t.Fatalf("request %d due at %v, after the phase", n, at.Sub(start))
				}
				last = at
				n++
			}
			if n != c.wantCount || last.Sub(start) != c.wantLast {
				t.Errorf("%d requests, the last at +%v; want %d at +%v", n, last.Sub(start), c.wantCount, c.wantLast)
			}
		})
	}
}

// fakeClock advances only when the paced client sleeps or a fake request
// takes time; one worker keeps it deterministic.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) SleepUntil(_ context.Context, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

func (c *fakeClock) advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// A stall must show in the latencies of the requests that were due during
// it, measured from when they were due, and none may be left out.
func TestBenchPacedLoopCountsStalls(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	const stalled = 3
	service := func(i int) time.Duration {
		if i == stalled {
			return 50 * time.Millisecond
		}
		return time.Millisecond
	}
	calls := 0
	do := func(context.Context) error {
		clk.advance(service(calls))
		calls++
		if calls == 10 {
			return errors.New("refused")
		}
		return nil
	}
	r, lat := pacedLoop(context.Background(), clk, 1, 500, 200*time.Millisecond, do)
	if calls != 100 || r.n != 99 || r.errs != 1 {
		t.Fatalf("%d sent, %d answered, %d errors; want 100, 99, 1", calls, r.n, r.errs)
	}
	// The model: request i is due at 2ms·i, starts when it is due or when
	// the previous one is answered, whichever is later.
	var want []time.Duration
	var free time.Duration
	for i := 0; i < 100; i++ {
		due := time.Duration(i) * 2 * time.Millisecond
		free = max(free, due) + service(i)
		if i != 9 { // the failed one
			want = append(want, free-due)
		}
	}
	for i := range want {
		if lat[i] != want[i] {
			t.Fatalf("latency %d = %v, want %v", i, lat[i], want[i])
		}
	}
	if lat[stalled] != 50*time.Millisecond || lat[stalled+1] != 49*time.Millisecond {
		t.Errorf("the stall and the request due after it: %v, %v", lat[stalled], lat[stalled+1])
	}
	if r.p99 < 45*time.Millisecond {
		t.Errorf("p99 %v hides the stall", r.p99)
	}
}

func TestBenchSummaryRatiosPerRound(t *testing.T) {
	round := func(rps, cpu float64, pacedP99 time.Duration) benchRound {
		return benchRound{closed: loadResult{n: 10, rps: rps, p50: 1, p99: 2}, paced: loadResult{n: 5, p50: pacedP99 / 2, p99: pacedP99}, cpu10k: cpu}
	}
	systems := []benchSystem{{id: "direct"}, {id: "syncgate", mode: "plain"}, {id: "nginx", mode: "plain"}}
	res := [][]benchRound{
		{round(1000, math.NaN(), 100), round(1000, math.NaN(), 300), round(1000, math.NaN(), 200)},
		{round(100, 2, 150), round(200, 2, 900), round(300, 1, 260)},
		{round(100, 1, 120), round(400, 4, 310), round(150, 0, 210)},
	}
	sums := summarizeBench(systems, res)
	sg, ngx := sums[1], sums[2]
	// Per-round ratios 1, 0.5, 2 → 1; the ratio of the medians would be 200/150.
	if sg.rpsVs[0] != 1 {
		t.Errorf("throughput vs nginx %v, want 1", sg.rpsVs[0])
	}
	// CPU ratios 2, 0.5 and none (nginx used no tick) → 1.25.
	if sg.cpuVs[0] != 1.25 {
		t.Errorf("CPU vs nginx %v, want 1.25", sg.cpuVs[0])
	}
	if !math.IsNaN(sg.rpsVs[1]) || !math.IsNaN(ngx.rpsVs[0]) {
		t.Errorf("ratios without a reference: %v, %v", sg.rpsVs[1], ngx.rpsVs[0])
	}
	// Added p99: 50, 600, 60 → 60; added p50: 25, 300, 30 → 30.
	if !sg.hasAdded || sg.addedP99 != 60 || sg.addedP50 != 30 || sums[0].hasAdded {
		t.Errorf("added p99 %v, p50 %v (%v), direct's %v", sg.addedP99, sg.addedP50, sg.hasAdded, sums[0].hasAdded)
	}
	if sg.rps != 200 || sg.n != 45 {
		t.Errorf("median req/s %v, requests %d", sg.rps, sg.n)
	}
}

func TestBenchOptionsFromEnvRefusesBadValues(t *testing.T) {
	for _, c := range []struct{ env, val string }{
		{"SYNCGATE_BENCH_ROUNDS", "0"},
		{"SYNCGATE_BENCH_ROUNDS", "three"},
		{"SYNCGATE_BENCH_RATE", "-5"},
		{"SYNCGATE_BENCH_SYSTEMS", "direct,squid"},
	} {
		t.Run(c.env+"="+c.val, func(t *testing.T) {
			t.Setenv(c.env, c.val)
			if _, err := benchOptionsFromEnv("x", time.Second); err == nil || !strings.Contains(err.Error(), c.env) {
				t.Errorf("accepted, or the error does not name the variable: %v", err)
			}
		})
	}
	t.Setenv("SYNCGATE_BENCH_ROUNDS", "2")
	t.Setenv("SYNCGATE_BENCH_SYSTEMS", "direct, nginx")
	o, err := benchOptionsFromEnv("x", time.Second)
	if err != nil || o.rounds != 2 || len(o.systems) != 2 || o.systems[1] != "nginx" || o.rate != 500 {
		t.Errorf("options %+v, %v", o, err)
	}
}
