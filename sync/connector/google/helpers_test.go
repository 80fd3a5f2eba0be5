package google

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/option"
	"google.golang.org/api/people/v1"

	"github.com/syncgate/syncgate/emulate/clock"
	gemu "github.com/syncgate/syncgate/emulate/google"
	"github.com/syncgate/syncgate/internal/testpki"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
)

const (
	saEmail = "syncgate@proj.iam.gserviceaccount.com"
	saID    = "108000000000000000001"
	saKeyID = "kid-1"
	alice   = "alice@corp.example"
	bob     = "bob@corp.example"
)

var (
	winStart  = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	winEnd    = time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	contactsS = connector.Scope{User: alice, Kind: model.Contacts}
	eventsS   = connector.Scope{User: alice, Kind: model.Events, WindowStart: winStart, WindowEnd: winEnd}
)

// The service account's private key lives only in the emulator (its public
// half) and in fakeGateway, as it lives only in the gateway in production.
var saKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func saKeyPEMs(t testing.TB) (public string, private []byte) {
	t.Helper()
	k := saKey()
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	must(t, err)
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	must(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})
}

// call is one request the connector made, as the gateway saw it.
type call struct {
	method, host, path, rawQuery string
	escapedPath                  string
	subject                      string
	header                       http.Header
	body                         []byte
	status                       int
}

// fakeGateway plays sync/gateway's client and the syncgate gateway behind
// it: it checks that every request carries an acting user and no
// credential of the connector's own, obtains a real access token for that
// user from the emulator's token endpoint (a service-account JWT with sub =
// the user: domain-wide delegation), sets Authorization, and stamps each
// answer with a Syncgate-Request-Id.
type fakeGateway struct {
	t       *testing.T
	next    http.RoundTripper
	privPEM []byte

	mu     sync.Mutex
	tokens map[string]*oauth2.Token
	n      int
	calls  []call
	// intercept, when set, may answer a request instead of the emulator
	// (fault injection); nil, nil passes it on.
	intercept func(r *http.Request, n int) (*http.Response, error)
}

func (g *fakeGateway) token(ctx context.Context, subject string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if tok := g.tokens[subject]; tok != nil {
		return tok.AccessToken, nil
	}
	conf := &jwt.Config{Email: saEmail, PrivateKey: g.privPEM, PrivateKeyID: saKeyID, Subject: subject,
		Scopes: []string{gemu.ScopeCalendar, gemu.ScopeContacts}, TokenURL: gemu.TokenURL}
	tok, err := conf.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: g.next})).Token()
	if err != nil {
		return "", err
	}
	g.tokens[subject] = tok
	return tok.AccessToken, nil
}

func (g *fakeGateway) RoundTrip(req *http.Request) (*http.Response, error) {
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
	c := call{method: req.Method, host: req.URL.Host, path: req.URL.Path, escapedPath: req.URL.EscapedPath(), rawQuery: req.URL.RawQuery,
		subject: subject, header: req.Header.Clone(), body: body}
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
	tok, err := g.token(req.Context(), subject)
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
	s   *gemu.Server
	clk *clock.Fake
	gw  *fakeGateway
	c   *Connector
	hc  *http.Client // straight to the emulator (the user's own apps)
	ctx context.Context
}

// newEnv starts the Google emulator over real TLS under its real host
// names, with a service account granted domain-wide delegation for
// Calendar and Contacts, and a connector whose HTTP client is the fake
// gateway. The emulator's clock starts at the wall clock, which
// x/oauth2/jwt stamps assertions with.
func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	clk := clock.NewFake(time.Now())
	s := gemu.New(gemu.Options{Clock: clk, TokenTTL: 30 * 24 * time.Hour, UserRatePerMinute: -1})
	pub, priv := saKeyPEMs(t)
	must(t, s.AddServiceAccount(gemu.ServiceAccount{ClientEmail: saEmail, ClientID: saID, KeyID: saKeyID, PublicKeyPEM: pub,
		DWDScopes: []string{gemu.ScopeCalendar, gemu.ScopeContacts}}))
	for _, u := range []string{alice, bob} {
		must(t, s.AddUser(u))
	}
	_, hc, _ := testpki.ServeHosts(t, s.Handler(), s.Hosts()...)
	gw := &fakeGateway{t: t, next: hc.Transport, privPEM: priv, tokens: map[string]*oauth2.Token{}}
	if o.CalendarEndpoint == "" {
		o.CalendarEndpoint = gemu.CalendarBase
	}
	if o.PeopleEndpoint == "" {
		o.PeopleEndpoint = gemu.PeopleBase
	}
	c, err := New(&http.Client{Transport: gw}, o)
	must(t, err)
	return &env{t: t, s: s, clk: clk, gw: gw, c: c, hc: hc, ctx: context.Background()}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// userClient is an HTTP client for the user's own apps (Google Calendar,
// Contacts): straight to the emulator with a token of their own.
func (e *env) userClient(user string) *http.Client {
	e.t.Helper()
	tok, exp := e.s.IssueToken(saEmail, user, []string{gemu.ScopeCalendar, gemu.ScopeContacts})
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, Expiry: exp, TokenType: "Bearer"})
	return &http.Client{Transport: &oauth2.Transport{Source: ts, Base: e.hc.Transport}}
}

// userCalendar is the user editing their calendar, e.g. in Google Calendar.
func (e *env) userCalendar(user string) *calendar.Service {
	e.t.Helper()
	svc, err := calendar.NewService(e.ctx, option.WithEndpoint(gemu.CalendarBase), option.WithHTTPClient(e.userClient(user)))
	must(e.t, err)
	return svc
}

// userPeople is the user editing their contacts, e.g. in Google Contacts.
func (e *env) userPeople(user string) *people.Service {
	e.t.Helper()
	svc, err := people.NewService(e.ctx, option.WithEndpoint(gemu.PeopleBase), option.WithHTTPClient(e.userClient(user)))
	must(e.t, err)
	return svc
}

// changes reads a listing and fails the test on error.
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

// countCalls counts the recorded calls of method whose path ends with suffix.
func countCalls(calls []call, method, suffix string) int {
	n := 0
	for _, c := range calls {
		if c.method == method && strings.HasSuffix(c.path, suffix) {
			n++
		}
	}
	return n
}

func timedEvent(summary string, start, end time.Time, zone string) *calendar.Event {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		panic(err)
	}
	return &calendar.Event{Summary: summary,
		Start: &calendar.EventDateTime{DateTime: start.In(loc).Format(time.RFC3339), TimeZone: zone},
		End:   &calendar.EventDateTime{DateTime: end.In(loc).Format(time.RFC3339), TimeZone: zone}}
}

func allDayEvent(summary, start, end string) *calendar.Event {
	return &calendar.Event{Summary: summary, Start: &calendar.EventDateTime{Date: start}, End: &calendar.EventDateTime{Date: end}}
}

func (e *env) putEvent(user string, ev *calendar.Event) *calendar.Event {
	e.t.Helper()
	out, err := e.s.PutEvent(user, ev)
	must(e.t, err)
	return out
}

func (e *env) putContact(user string, p *people.Person) *people.Person {
	e.t.Helper()
	out, err := e.s.PutContact(user, p)
	must(e.t, err)
	return out
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// withToken returns cur with its sync token replaced ("" removes it).
func withToken(t testing.TB, cur, token string) string {
	t.Helper()
	v, err := url.ParseQuery(strings.TrimPrefix(cur, cursorPrefix))
	must(t, err)
	if v.Get("t") == "" || v.Get("u") == "" {
		t.Fatalf("not a cursor: %q", cur)
	}
	if token == "" {
		v.Del("t")
	} else {
		v.Set("t", token)
	}
	return cursorPrefix + v.Encode()
}
