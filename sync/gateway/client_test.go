package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxyServer stands in for the gateway's plain listener: it receives the
// absolute-form requests a forward-proxy client sends and answers them.
func proxyServer(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(Config{Proxy: srv.URL, MaxWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdle)
	return c
}

func get(t *testing.T, c *Client, ctx context.Context, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.HTTP().Do(req)
}

func TestSubjectRequiredAndSetAuthorizationDropped(t *testing.T) {
	var gotSubject, gotAuth atomic.Value
	c := proxyServer(t, func(w http.ResponseWriter, r *http.Request) {
		gotSubject.Store(r.Header.Get("Syncgate-Subject"))
		gotAuth.Store(r.Header.Get("Authorization"))
		w.Header().Set(RequestIDHeader, "rid-1")
	})
	if _, err := get(t, c, context.Background(), "http://graph.example/x"); err == nil || !strings.Contains(err.Error(), "acting user") {
		t.Fatalf("a request without a subject went out: %v", err)
	}
	ctx, calls := WithCalls(WithSubject(context.Background(), "alice@corp.example"))
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://graph.example/x", nil)
	req.Header.Set("Authorization", "Bearer smuggled")
	resp, err := c.HTTP().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if gotSubject.Load() != "alice@corp.example" || gotAuth.Load() != "" {
		t.Fatalf("subject %q authorization %q", gotSubject.Load(), gotAuth.Load())
	}
	if ids := calls.IDs(); len(ids) != 1 || ids[0] != "rid-1" {
		t.Fatalf("request ids %v", ids)
	}
}

func TestAtMostFourRequestsPerMailbox(t *testing.T) {
	var mu sync.Mutex
	inflight, peak := map[string]int{}, map[string]int{}
	release := make(chan struct{})
	arrived := make(chan string, 64)
	c := proxyServer(t, func(w http.ResponseWriter, r *http.Request) {
		s := r.Header.Get("Syncgate-Subject")
		mu.Lock()
		inflight[s]++
		if inflight[s] > peak[s] {
			peak[s] = inflight[s]
		}
		mu.Unlock()
		arrived <- s
		<-release
		mu.Lock()
		inflight[s]--
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := get(t, c, WithSubject(context.Background(), "alice@corp.example"), "http://graph.example/a")
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	// Four of alice's requests arrive; bob is not held up behind her.
	for i := 0; i < 4; i++ {
		<-arrived
	}
	bobDone := make(chan error, 1)
	go func() {
		resp, err := get(t, c, WithSubject(context.Background(), "bob@corp.example"), "http://graph.example/b")
		if err == nil {
			resp.Body.Close()
		}
		bobDone <- err
	}()
	if s := <-arrived; s != "bob@corp.example" {
		t.Fatalf("a fifth request for alice reached the service while four were in flight (%s)", s)
	}
	close(release)
	wg.Wait()
	if err := <-bobDone; err != nil {
		t.Fatal(err)
	}
	if peak["alice@corp.example"] != 4 {
		t.Fatalf("peak concurrency for alice %d, want 4", peak["alice@corp.example"])
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		header    string
		wantCalls int32
		wantFinal int
	}{
		{"429 with Retry-After", 429, "0", 2, 200},
		{"503 with Retry-After", 503, "0", 2, 200},
		{"503 without Retry-After (the gateway's own) is not retried", 503, "", 1, 503},
		{"Retry-After longer than the cap is returned", 429, "3600", 1, 429},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			throttles := 0
			c := proxyServer(t, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					if tc.header != "" {
						w.Header().Set("Retry-After", tc.header)
					}
					w.WriteHeader(tc.status)
					return
				}
				io.WriteString(w, "ok")
			})
			c.OnThrottle = func(int, time.Duration) { throttles++ }
			resp, err := get(t, c, WithSubject(context.Background(), "alice@corp.example"), "http://graph.example/x")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if n.Load() != tc.wantCalls || resp.StatusCode != tc.wantFinal {
				t.Fatalf("calls %d final %d", n.Load(), resp.StatusCode)
			}
			if int32(throttles) != tc.wantCalls-1 {
				t.Fatalf("throttles counted %d", throttles)
			}
		})
	}
}

func TestBadProxyConfigIsRefused(t *testing.T) {
	for _, p := range []string{"", "ftp://x:1", "ftp://user:pw@x:1", "http://user:pw@127.0.0.1:3128", "127.0.0.1:3128"} {
		if _, err := New(Config{Proxy: p}); err == nil {
			t.Errorf("proxy %q accepted", p)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("error echoes the proxy password: %v", err)
		}
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"5", 5 * time.Second, true},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second, true},
		{now.Add(-10 * time.Second).Format(http.TimeFormat), 0, true},
		{"soon", 0, false},
		{"-1", 0, false},
		{"", 0, false},
	} {
		got, ok := retryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v %v", tc.in, got, ok)
		}
	}
}
