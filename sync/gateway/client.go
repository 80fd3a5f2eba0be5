package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"
)

// Config says where the gateway is and how to reach it.
type Config struct {
	// Proxy is the gateway's URL: https://host:port (mTLS listener) or
	// http://127.0.0.1:port (loopback plain listener).
	Proxy string
	// CertFile/KeyFile: the engine's client certificate for the mTLS
	// listener (its identity). Empty on the plain listener.
	CertFile, KeyFile string
	// CAFiles: the roots the engine trusts, for the gateway's listener and
	// for the leaves the gateway's intercept CA mints per upstream host.
	CAFiles []string
	// PerSubject bounds concurrent requests per acting user (Graph allows
	// 4 per mailbox). 0 means 4.
	PerSubject int
	// MaxRetries bounds retries of a throttled request. 0 means 4.
	MaxRetries int
	// MaxWait caps one Retry-After wait. 0 means 2 minutes.
	MaxWait time.Duration
	// Timeout of one request. 0 means 60 s.
	Timeout time.Duration
}

// Client is the engine's HTTP client through the gateway.
type Client struct {
	http *http.Client
	cfg  Config

	mu    sync.Mutex
	slots map[string]chan struct{}

	// Throttled counts retries after 429/503, for metrics.
	OnThrottle func(status int, wait time.Duration)
}

// New builds the client. It fails when the gateway URL or files are wrong,
// so a misconfigured engine stops at start and not at the first user.
func New(cfg Config) (*Client, error) {
	pu, err := url.Parse(cfg.Proxy)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return nil, errors.New("gateway: proxy: want http://host:port or https://host:port")
	}
	if pu.User != nil {
		return nil, errors.New("gateway: proxy URL must not carry credentials")
	}
	tcfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(cfg.CAFiles) > 0 {
		pool := x509.NewCertPool()
		for _, f := range cfg.CAFiles {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("gateway: CA file: %w", err)
			}
			if !pool.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("gateway: CA file %s: no PEM certificate", f)
			}
		}
		tcfg.RootCAs = pool
	}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("gateway: client certificate: %w", err)
		}
		tcfg.Certificates = []tls.Certificate{cert}
	}
	if cfg.PerSubject <= 0 {
		cfg.PerSubject = 4
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 4
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 2 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	tr := &http.Transport{
		// Never the environment's proxy: the gateway is the only way out.
		Proxy:               http.ProxyURL(pu),
		TLSClientConfig:     tcfg,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     60 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	c := &Client{cfg: cfg, slots: map[string]chan struct{}{}}
	c.http = &http.Client{
		Transport: &roundTripper{c: c, next: tr},
		Timeout:   cfg.Timeout,
		// Redirects would leave the policy's path rules behind silently.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// HTTP returns the *http.Client to hand to a service's client library.
// Requests must carry a context made with WithSubject.
func (c *Client) HTTP() *http.Client { return c.http }

// CloseIdle closes kept-alive connections (used at shutdown).
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

type ctxKey int

const (
	subjectKey ctxKey = iota
	callsKey
)

// WithSubject returns a context whose requests act as user.
func WithSubject(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, subjectKey, user)
}

// Subject returns the acting user of ctx.
func Subject(ctx context.Context) string {
	s, _ := ctx.Value(subjectKey).(string)
	return s
}

// Calls collects the gateway request ids of the calls made under a context.
type Calls struct {
	mu  sync.Mutex
	ids []string
}

// WithCalls returns a context that records every call's gateway request id
// into a new Calls.
func WithCalls(ctx context.Context) (context.Context, *Calls) {
	c := &Calls{}
	return context.WithValue(ctx, callsKey, c), c
}

// IDs returns the request ids recorded so far.
func (c *Calls) IDs() []string {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ids...)
}

func (c *Calls) add(id string) {
	if c == nil || id == "" {
		return
	}
	c.mu.Lock()
	c.ids = append(c.ids, id)
	c.mu.Unlock()
}

// RequestIDHeader is the gateway's per-call id, also the audit record id.
const RequestIDHeader = "Syncgate-Request-Id"

type roundTripper struct {
	c    *Client
	next http.RoundTripper
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	subject := Subject(ctx)
	if subject == "" {
		return nil, errors.New("gateway: request without an acting user (Syncgate-Subject)")
	}
	release, err := rt.c.acquire(ctx, subject)
	if err != nil {
		return nil, err
	}
	defer release()
	calls, _ := ctx.Value(callsKey).(*Calls)
	for attempt := 0; ; attempt++ {
		r := req.Clone(ctx)
		r.Header.Set("Syncgate-Subject", subject)
		// The engine never holds a credential; anything a library adds is
		// dropped here too (the gateway would drop it as well).
		r.Header.Del("Authorization")
		if attempt > 0 && req.GetBody != nil {
			b, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = b
		}
		resp, err := rt.next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		calls.add(resp.Header.Get(RequestIDHeader))
		// 429 is always a throttle; a 503 only when it says when to come
		// back (the gateway's own 503s — no credential, upstream TLS
		// refused — carry no Retry-After and are not retried).
		retryable := resp.StatusCode == http.StatusTooManyRequests ||
			(resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "")
		if !retryable || attempt >= rt.c.cfg.MaxRetries || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
			return resp, nil
		}
		wait, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now())
		if !ok {
			wait = time.Duration(1<<attempt) * time.Second
		}
		if wait > rt.c.cfg.MaxWait {
			return resp, nil
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if rt.c.OnThrottle != nil {
			rt.c.OnThrottle(resp.StatusCode, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// retryAfter parses Retry-After: delta-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// acquire takes one of the subject's request slots.
func (c *Client) acquire(ctx context.Context, subject string) (func(), error) {
	c.mu.Lock()
	ch, ok := c.slots[subject]
	if !ok {
		ch = make(chan struct{}, c.cfg.PerSubject)
		c.slots[subject] = ch
	}
	c.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
