package microsoft

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestThrottleRate(t *testing.T) {
	e := newEnv(t, Options{RateLimit: 5, RateWindow: time.Minute})
	tok := e.token()
	u := userURL(aliceID, "contacts")
	for i := range 5 {
		if r := e.do("GET", u, tok, nil); r.status != 200 {
			t.Fatalf("request %d: %d", i+1, r.status)
		}
	}
	e.clk.Advance(20 * time.Second)
	r := e.do("GET", u, tok, nil)
	checkGraphError(t, r, 429, "ApplicationThrottled")
	if ra, err := strconv.Atoi(r.h.Get("Retry-After")); err != nil || ra != 40 {
		t.Fatalf("Retry-After %q, want 40", r.h.Get("Retry-After"))
	}
	// Another mailbox of the same app has its own budget.
	if r := e.do("GET", userURL(carolID, "contacts"), tok, nil); r.status != 200 {
		t.Fatalf("other mailbox: %d", r.status)
	}
	e.clk.Advance(41 * time.Second)
	if r := e.do("GET", u, tok, nil); r.status != 200 {
		t.Fatalf("after the window: %d %s", r.status, r.raw)
	}
}

func TestThrottleConcurrency(t *testing.T) {
	e := newEnv(t, Options{MaxConcurrent: 2})
	tok := e.token()
	entered := make(chan struct{})
	release := make(chan struct{})
	e.s.mu.Lock()
	e.s.hold = func() { entered <- struct{}{}; <-release }
	e.s.mu.Unlock()

	var wg sync.WaitGroup
	statuses := make(chan int, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- e.do("GET", userURL(aliceID, "contacts"), tok, nil).status
		}()
	}
	<-entered
	<-entered
	// Two requests hold the mailbox's slots: a third is refused at once.
	e.s.mu.Lock()
	e.s.hold = nil
	e.s.mu.Unlock()
	r := e.do("GET", userURL(aliceID, "events"), tok, nil)
	checkGraphError(t, r, 429, "ApplicationThrottled")
	if r.h.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// Another mailbox is not affected.
	if r := e.do("GET", userURL(carolID, "events"), tok, nil); r.status != 200 {
		t.Fatalf("other mailbox during saturation: %d", r.status)
	}
	close(release)
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if st != 200 {
			t.Fatalf("held request finished with %d", st)
		}
	}
	if r := e.do("GET", userURL(aliceID, "events"), tok, nil); r.status != 200 {
		t.Fatalf("after release: %d", r.status)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	u := userURL(aliceID, "contacts")
	e.s.SetFaults(Faults{Throttle: true, RetryAfter: 7})
	r := e.do("GET", u, tok, nil)
	checkGraphError(t, r, 429, "ApplicationThrottled")
	if r.h.Get("Retry-After") != "7" {
		t.Fatalf("Retry-After %q", r.h.Get("Retry-After"))
	}
	e.s.SetFaults(Faults{ErrorRate: 1})
	r = e.do("POST", u, tok, map[string]any{"givenName": "lost?"})
	checkGraphError(t, r, 503, "ServiceNotAvailable")
	if c, _ := e.s.Contacts(aliceID); len(c) != 0 {
		t.Fatal("a request answered 503 still changed data")
	}
	e.s.SetFaults(Faults{})
	if r := e.do("GET", u, tok, nil); r.status != 200 {
		t.Fatalf("faults off: %d", r.status)
	}
}
