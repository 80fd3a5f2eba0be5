package ews

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/emulate/clock"
	emu "github.com/syncgate/syncgate/emulate/ews"
	"github.com/syncgate/syncgate/internal/testpki"
	"github.com/syncgate/syncgate/policy"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
)

const (
	// The service account's password lives only in the emulator and in
	// fakeGateway, as it lives only in the gateway in production.
	svcUser = `CORP\svc-syncgate`
	svcPass = "Svc-Pa55word!only.the.gateway"
	alice   = "alice@corp.example"
	bob     = "bob@corp.example"
)

var (
	epoch     = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	winStart  = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	winEnd    = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	contactsS = connector.Scope{User: alice, Kind: model.Contacts}
	eventsS   = connector.Scope{User: alice, Kind: model.Events, WindowStart: winStart, WindowEnd: winEnd}
)

// gatewayPolicy is the EWS destination the connector needs, checked by
// the gateway's own policy code (policy.ParseEWS, EWSItems, DecideEWS).
const gatewayPolicy = `version: 1
mode: enforce
ca_bundles:
  sys: {system: true}
clients:
  - name: sync
    sources: ["127.0.0.1/32"]
    subjects: ["*@corp.example"]
destinations:
  - name: exchange
    hosts: [mail.corp.example]
    tls: {ca_bundle: sys}
    clients: [sync]
    ews: {operations: [SyncFolderItems, FindItem, GetItem, CreateItem, UpdateItem, DeleteItem], folders: [contacts, calendar]}
`

// seen is one request the connector made, as the gateway saw it.
type seen struct {
	op      string
	subject string
	header  http.Header
	body    []byte
	status  int
	reason  string // the gateway's refusal reason
}

// fakeGateway plays sync/gateway's client and the syncgate gateway behind
// it: every request must carry an acting user and no credential of the
// connector's own; the EWS policy of the real gateway decides it (the
// envelope, the impersonation, the folders, the ItemIds relayed to this
// subject, learnt from the responses as the proxy does); allowed requests
// get the service account's Basic credential and reach the emulator, and
// every answer gets a Syncgate-Request-Id.
type fakeGateway struct {
	t    *testing.T
	next http.RoundTripper
	eng  *policy.Engine
	cli  policy.ClientID

	mu    sync.Mutex
	items *policy.EWSItems
	n     int
	calls []seen
	// intercept, when set, may answer a request instead of the emulator.
	intercept func(op string, body []byte, n int) *http.Response
}

func newFakeGateway(t *testing.T, next http.RoundTripper) *fakeGateway {
	t.Helper()
	p, err := policy.Parse([]byte(gatewayPolicy), "test-policy.yaml")
	must(t, err)
	eng, err := policy.Compile(p)
	must(t, err)
	cli, err := eng.Identify(&policy.Peer{Source: netip.MustParseAddr("127.0.0.1"), Plain: true})
	must(t, err)
	return &fakeGateway{t: t, next: next, eng: eng, cli: cli, items: policy.NewEWSItems(0)}
}

// restart forgets every relayed ItemId, as a gateway restart does.
func (g *fakeGateway) restart() {
	g.mu.Lock()
	g.items = policy.NewEWSItems(0)
	g.mu.Unlock()
}

func (g *fakeGateway) RoundTrip(req *http.Request) (*http.Response, error) {
	subject := gateway.Subject(req.Context())
	if subject == "" {
		g.t.Errorf("request without an acting user (gateway.WithSubject)")
		return nil, errors.New("gateway: request without an acting user (Syncgate-Subject)")
	}
	if req.Header.Get("Authorization") != "" {
		g.t.Errorf("the connector set Authorization itself")
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body.Close()
	g.mu.Lock()
	g.n++
	n := g.n
	items := g.items
	g.mu.Unlock()
	rid := fmt.Sprintf("gw-%d", n)
	c := seen{subject: subject, header: req.Header.Clone(), body: body}
	record := func(status int) {
		c.status = status
		g.mu.Lock()
		g.calls = append(g.calls, c)
		g.mu.Unlock()
	}
	er, err := policy.ParseEWS(bytes.NewReader(body), 1<<20)
	if err != nil {
		g.t.Errorf("the gateway cannot read the envelope: %v", err)
		record(403)
		return refusal(rid, "EWS request refused"), nil
	}
	c.op = er.Operation
	if sa := strings.Trim(req.Header.Get("SOAPAction"), `"`); sa != policy.NSEWSMessages+"/"+er.Operation {
		g.t.Errorf("SOAPAction %q for %s", sa, er.Operation)
	}
	if g.intercept != nil {
		if resp := g.intercept(er.Operation, body, n); resp != nil {
			resp.Header.Set(gateway.RequestIDHeader, rid)
			record(resp.StatusCode)
			return resp, nil
		}
	}
	dec := g.eng.Decide(&policy.Request{Client: g.cli, Method: req.Method, Host: req.URL.Hostname(), Port: 443, Path: req.URL.EscapedPath(), Subject: subject})
	if !dec.Allow {
		c.reason = dec.Reason
		record(403)
		return refusal(rid, dec.Reason), nil
	}
	items.Resolve(dec.Dest.Name, subject, er)
	ed := g.eng.DecideEWS(dec.Dest, subject, er)
	if !ed.Allow {
		c.reason = ed.Reason
		record(403)
		return refusal(rid, ed.Reason), nil
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.SetBasicAuth(svcUser, svcPass)
	resp, err := g.next.RoundTrip(out)
	if err != nil {
		record(0)
		return nil, err
	}
	resp.Body = items.Watch(dec.Dest.Name, subject, er, resp.Body)
	resp.Header.Set(gateway.RequestIDHeader, rid)
	record(resp.StatusCode)
	return resp, nil
}

// refusal is the gateway's 403 answer (proxy.writeError's shape).
func refusal(rid, reason string) *http.Response {
	b, _ := json.Marshal(map[string]string{"error": "denied", "request_id": rid, "reason": reason})
	return &http.Response{StatusCode: http.StatusForbidden, Header: http.Header{"Content-Type": {"application/json"}, gateway.RequestIDHeader: {rid}},
		Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b))}
}

// soapAnswer builds an answer the emulator did not give.
func soapAnswer(status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"text/xml; charset=utf-8"}},
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
}

func (g *fakeGateway) Calls() []seen {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]seen(nil), g.calls...)
}

func (g *fakeGateway) reset() {
	g.mu.Lock()
	g.calls = nil
	g.mu.Unlock()
}

func countOps(calls []seen, op string) int {
	n := 0
	for _, c := range calls {
		if c.op == op {
			n++
		}
	}
	return n
}

type env struct {
	t      *testing.T
	s      *emu.Server
	gw     *fakeGateway
	c      *Connector
	ctx    context.Context
	sleeps []time.Duration
}

// newEnv starts the EWS emulator over real TLS under mail.corp.example and
// a connector whose HTTP client is the fake gateway.
func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	s := emu.New(emu.Options{Clock: clock.NewFake(epoch)})
	must(t, s.AddServiceAccount(svcUser, svcPass))
	must(t, s.AddMailbox(alice, "Alice"))
	must(t, s.AddMailbox(bob, "Bob"))
	must(t, s.GrantImpersonation(svcUser, "*"))
	_, hc, _ := testpki.ServeHosts(t, s.Handler(), s.Hosts()...)
	gw := newFakeGateway(t, hc.Transport)
	if o.URL == "" {
		o.URL = s.URL()
	}
	c, err := New(&http.Client{Transport: gw}, o)
	must(t, err)
	e := &env{t: t, s: s, gw: gw, c: c, ctx: context.Background()}
	c.sleep = func(ctx context.Context, d time.Duration) error {
		e.sleeps = append(e.sleeps, d)
		return ctx.Err()
	}
	return e
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

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

func (e *env) addContact(c emu.Contact) string {
	e.t.Helper()
	id, err := e.s.AddContact(alice, c)
	must(e.t, err)
	return id
}

func (e *env) addEvent(c emu.CalendarItem) string {
	e.t.Helper()
	id, err := e.s.AddCalendarItem(alice, c)
	must(e.t, err)
	return id
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	must(t, err)
	return v
}

// item finds the emulator's record of id.
func (e *env) item(folder, id string) emu.ItemInfo {
	e.t.Helper()
	list, err := e.s.Items(alice, folder)
	must(e.t, err)
	for _, it := range list {
		if it.ID == id {
			return it
		}
	}
	e.t.Fatalf("no item %s in %s", id, folder)
	return emu.ItemInfo{}
}
