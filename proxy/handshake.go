package proxy

import (
	"context"
	"encoding/json"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/syncgate/syncgate/audit"
)

// Failed client handshakes are audited without letting a flood of them
// flood the log: per source and interval, the first failure of each reason
// is written at once; the rest are counted (by reason, with the first and
// last time) and written as one summary record when the interval ends or the
// server stops. The handshake rate per source is capped before any TLS work
// is done; connections over the cap are closed and counted the same way.
// Nothing is dropped: every failure is either its own record or counted in
// a summary.

const (
	// reasonHandshakeRate names connections closed by the rate cap.
	reasonHandshakeRate = "client TLS handshake refused: handshake rate per source exceeded"
	// maxHandshakeSources bounds the sources tracked at once; failures from
	// further sources are counted under one overflow entry.
	maxHandshakeSources = 1024
	// maxImmediatePerInterval bounds the failures written as their own
	// record per interval across all sources; the rest are summarised.
	maxImmediatePerInterval = 64
)

// overflowSource stands for every source beyond maxHandshakeSources.
var overflowSource = netip.IPv6Unspecified()

type hsSource struct {
	// token bucket for the handshake rate
	tokens float64
	refill time.Time

	// the current interval
	windowStart time.Time
	immediate   map[string]bool // reasons already written on their own
	counts      map[string]int  // suppressed failures by reason
	total       int
	first, last time.Time
	timer       *time.Timer
}

type handshakeGuard struct {
	s        *Server
	rate     float64 // handshakes per second per source
	burst    float64
	interval time.Duration

	mu        sync.Mutex
	sources   map[netip.Addr]*hsSource
	budget    int // immediate records left in this global interval
	budgetEnd time.Time
}

func newHandshakeGuard(s *Server) *handshakeGuard {
	l := s.limits
	return &handshakeGuard{
		s:        s,
		rate:     l.HandshakesPerSecond,
		burst:    2 * l.HandshakesPerSecond,
		interval: l.HandshakeAuditInterval,
		sources:  make(map[netip.Addr]*hsSource),
	}
}

// source returns the entry for src, creating it (or the overflow entry).
func (g *handshakeGuard) source(src netip.Addr, now time.Time) *hsSource {
	if e, ok := g.sources[src]; ok {
		return e
	}
	if len(g.sources) >= maxHandshakeSources {
		// Drop idle entries first; failing that, count under overflow.
		for k, e := range g.sources {
			if e.total == 0 && now.Sub(e.refill) > g.interval && k != overflowSource {
				delete(g.sources, k)
			}
		}
		if len(g.sources) >= maxHandshakeSources {
			src = overflowSource
			if e, ok := g.sources[src]; ok {
				return e
			}
		}
	}
	e := &hsSource{tokens: g.burst, refill: now}
	g.sources[src] = e
	return e
}

// allow takes one handshake token for src; false means over the rate cap.
func (g *handshakeGuard) allow(src netip.Addr) bool {
	now := g.s.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.source(src, now)
	if el := now.Sub(e.refill).Seconds(); el > 0 {
		e.tokens = min(g.burst, e.tokens+el*g.rate)
	}
	e.refill = now
	if e.tokens < 1 {
		return false
	}
	e.tokens--
	return true
}

// failed records one failed (or refused) handshake from src. It reports
// whether the caller should write its own record now; otherwise the failure
// is counted for the interval's summary.
func (g *handshakeGuard) failed(src netip.Addr, reason string) bool {
	now := g.s.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.After(g.budgetEnd) {
		g.budget, g.budgetEnd = maxImmediatePerInterval, now.Add(g.interval)
	}
	e := g.source(src, now)
	if e.windowStart.IsZero() || now.Sub(e.windowStart) >= g.interval {
		if e.total == 0 {
			e.windowStart, e.immediate = now, nil
		}
	}
	if !e.immediate[reason] && g.budget > 0 && src != overflowSource && g.sources[src] == e {
		if e.immediate == nil {
			e.immediate = map[string]bool{}
		}
		e.immediate[reason] = true
		g.budget--
		return true
	}
	if e.counts == nil {
		e.counts = map[string]int{}
	}
	e.counts[reason]++
	if e.total == 0 {
		e.first = now
	}
	e.total++
	e.last = now
	if e.timer == nil {
		key := src
		if g.sources[src] != e {
			key = overflowSource
		}
		wait := max(e.windowStart.Add(g.interval).Sub(now), time.Millisecond)
		e.timer = time.AfterFunc(wait, func() { g.flush(key) })
	}
	return false
}

// flush writes the summary of src's interval, if it counted anything.
func (g *handshakeGuard) flush(src netip.Addr) {
	g.mu.Lock()
	e, ok := g.sources[src]
	if !ok || e.total == 0 {
		if ok {
			e.timer = nil
		}
		g.mu.Unlock()
		return
	}
	rec := g.summary(src, e)
	e.counts, e.total, e.timer, e.immediate = nil, 0, nil, nil
	e.windowStart = g.s.now()
	g.mu.Unlock()
	g.s.writeRecord(context.Background(), rec)
}

// flushAll writes every pending summary; used when the server stops.
func (g *handshakeGuard) flushAll() {
	g.mu.Lock()
	var keys []netip.Addr
	for k, e := range g.sources {
		if e.timer != nil {
			e.timer.Stop()
			e.timer = nil
		}
		if e.total > 0 {
			keys = append(keys, k)
		}
	}
	g.mu.Unlock()
	for _, k := range keys {
		g.flush(k)
	}
}

// summary builds the aggregate record for one source's interval.
func (g *handshakeGuard) summary(src netip.Addr, e *hsSource) *flight {
	fl := &flight{id: newID(), start: g.s.now()}
	ip := src.String()
	if src == overflowSource {
		ip = "*"
	}
	reasons, _ := json.Marshal(e.counts)
	fl.rec = &audit.Record{
		Time:     fl.start.UTC(),
		ID:       fl.id,
		Kind:     audit.KindHTTP,
		Client:   &audit.Client{IP: ip},
		Decision: &audit.Decision{Allow: false, Mode: g.s.mode(), Reason: "client TLS handshake failures (summary)"},
		Response: &audit.Response{Status: 0},
		Detail: map[string]string{
			"aggregate": "client_tls_handshake",
			"count":     strconv.Itoa(e.total),
			"reasons":   string(reasons),
			"first":     e.first.UTC().Format(time.RFC3339Nano),
			"last":      e.last.UTC().Format(time.RFC3339Nano),
			"interval":  g.interval.String(),
		},
	}
	return fl
}
