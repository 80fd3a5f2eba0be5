package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/syncgate/syncgate/emulate/clock"
	"github.com/syncgate/syncgate/emulate/microsoft"
	"github.com/syncgate/syncgate/internal/testpki"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
)

const (
	tenantID = "11111111-1111-4111-8111-111111111111"
	clientID = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	// The app secret lives only in the emulator and in fakeGateway, as it
	// lives only in the gateway in production.
	clientSecret = "app-secret~only.the.gateway.knows"
	aliceID      = "a11ce000-0000-4000-8000-000000000001"
	aliceUPN     = "alice@contoso.example"
	bobID        = "b0b00000-0000-4000-8000-000000000002"
	bobUPN       = "bob@contoso.example"
)

var (
	epoch     = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	winStart  = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	winEnd    = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	contactsS = connector.Scope{User: aliceUPN, Kind: model.Contacts}
	eventsS   = connector.Scope{User: aliceUPN, Kind: model.Events, WindowStart: winStart, WindowEnd: winEnd}
)

// call is one request the connector made, as the gateway saw it.
type call struct {
	method, path, rawQuery string
	escapedPath            string
	subject                string
	header                 http.Header
	body                   []byte
	status                 int
}

// fakeGateway plays the part of sync/gateway's client and the syncgate
// gateway behind it: in production the gateway client sets Syncgate-Subject
// from the request context and the gateway injects the app's access token.
// Here the round tripper checks that every request carries an acting user
// and no credential of the connector's own, fetches a real app token from
// the emulator's client-credentials endpoint (login.microsoftonline.com),
// sets Authorization, and stamps each answer with a Syncgate-Request-Id.
type fakeGateway struct {
	t    *testing.T
	next http.RoundTripper

	mu    sync.Mutex
	token string
	n     int
	calls []call
	// intercept, when set, may answer a request instead of the emulator
	// (fault injection); nil, nil passes it on.
	intercept func(r *http.Request, n int) (*http.Response, error)
	// rewrite, when set, may replace the emulator's answer body (Graph
	// behaviours the emulator does not show).
	rewrite func(r *http.Request, body []byte) []byte
}

func (g *fakeGateway) appToken(ctx context.Context) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.token != "" {
		return g.token, nil
	}
	cc := clientcredentials.Config{
		ClientID: clientID, ClientSecret: clientSecret,
		TokenURL: "https://" + microsoft.LoginHost + "/" + tenantID + "/oauth2/v2.0/token",
		Scopes:   []string{microsoft.GraphScope},
	}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: g.next}))
	if err != nil {
		return "", err
	}
	g.token = tok.AccessToken
	return g.token, nil
}

func (g *fakeGateway) RoundTrip(req *http.Request) (*http.Response, error) {
	g.t.Helper()
	subject := gateway.Subject(req.Context())
	if subject == "" {
		g.t.Errorf("%s %s without an acting user (gateway.WithSubject)", req.Method, req.URL.Path)
		return nil, errors.New("gateway: request without an acting user (Syncgate-Subject)")
	}
	if req.Header.Get("Authorization") != "" {
		g.t.Errorf("%s %s: the connector set Authorization itself", req.Method, req.URL.Path)
	}
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		body = b
	}
	g.mu.Lock()
	g.n++
	n := g.n
	g.mu.Unlock()
	c := call{method: req.Method, path: req.URL.Path, escapedPath: req.URL.EscapedPath(), rawQuery: req.URL.RawQuery, subject: subject, header: req.Header.Clone(), body: body}
	record := func(status int) {
		c.status = status
		g.mu.Lock()
		g.calls = append(g.calls, c)
		g.mu.Unlock()
	}
	if g.intercept != nil {
		resp, err := g.intercept(req, n)
		if resp != nil || err != nil {
			if resp != nil {
				record(resp.StatusCode)
			} else {
				record(0)
			}
			return resp, err
		}
	}
	tok, err := g.appToken(req.Context())
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.Header.Set("Authorization", "Bearer "+tok)
	resp, err := g.next.RoundTrip(out)
	if err != nil {
		record(0)
		return nil, err
	}
	resp.Header.Set(gateway.RequestIDHeader, fmt.Sprintf("gw-%d", n))
	if g.rewrite != nil {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		b = g.rewrite(req, b)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Del("Content-Length")
	}
	record(resp.StatusCode)
	return resp, nil
}

func (g *fakeGateway) Calls() []call {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]call(nil), g.calls...)
}

func (g *fakeGateway) reset() {
	g.mu.Lock()
	g.calls = nil
	g.mu.Unlock()
}

// synthetic builds an answer the emulator did not give.
func synthetic(status int, body string, hdr ...string) *http.Response {
	h := http.Header{"Content-Type": {"application/json"}, gateway.RequestIDHeader: {"gw-injected"}}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
}

type env struct {
	t   *testing.T
	s   *microsoft.Server
	clk *clock.Fake
	gw  *fakeGateway
	c   *Connector
	ctx context.Context
}

// newEnv starts the Graph emulator over real TLS under its real host names
// and a connector whose HTTP client is the fake gateway.
func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	clk := clock.NewFake(epoch)
	s := microsoft.New(microsoft.Options{Clock: clk})
	must(t, s.AddTenant(microsoft.Tenant{ID: tenantID}))
	must(t, s.AddApp(microsoft.App{TenantID: tenantID, ClientID: clientID, ClientSecret: clientSecret}))
	must(t, s.AddUser(microsoft.User{TenantID: tenantID, ID: aliceID, UserPrincipalName: aliceUPN, Mail: aliceUPN}))
	must(t, s.AddUser(microsoft.User{TenantID: tenantID, ID: bobID, UserPrincipalName: bobUPN, Mail: bobUPN}))
	_, hc, _ := testpki.ServeHosts(t, s.Handler(), s.Hosts()...)
	gw := &fakeGateway{t: t, next: hc.Transport}
	c, err := New(&http.Client{Transport: gw}, o)
	must(t, err)
	return &env{t: t, s: s, clk: clk, gw: gw, c: c, ctx: context.Background()}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// changes reads a round and fails the test on error.
func (e *env) changes(s connector.Scope, cur string) *connector.Changes {
	e.t.Helper()
	ch, err := e.c.Changes(e.ctx, s, cur)
	if err != nil {
		e.t.Fatalf("Changes(%s, cursor %t): %v", s.Kind, cur != "", err)
	}
	return ch
}

func byID(items []*model.Item) map[string]*model.Item {
	m := map[string]*model.Item{}
	for _, it := range items {
		m[it.ID] = it
	}
	return m
}

// countCalls counts the recorded calls whose path ends with suffix.
func countCalls(calls []call, method, suffix string) int {
	n := 0
	for _, c := range calls {
		if c.method == method && strings.HasSuffix(c.path, suffix) {
			n++
		}
	}
	return n
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

func gEvent0(subject, start, end, tz string) map[string]any {
	return map[string]any{
		"subject": subject,
		"body":    map[string]any{"contentType": "text", "content": "Agenda"},
		"start":   map[string]any{"dateTime": start, "timeZone": tz},
		"end":     map[string]any{"dateTime": end, "timeZone": tz},
	}
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
