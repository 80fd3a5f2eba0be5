package graph

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/emulate/microsoft"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

func TestInvalidCursorMeansResync(t *testing.T) {
	e := newEnv(t, Options{})
	_, err := e.s.AddContact(aliceID, "", map[string]any{"givenName": "A"})
	must(t, err)
	addEvent(t, e, gEvent0("E", "2026-11-10T10:00:00", "2026-11-10T11:00:00", "UTC"))
	_, err = e.s.AddContact(bobID, "", map[string]any{"givenName": "B"})
	must(t, err)
	aliceC := e.changes(contactsS, "").Cursor
	aliceE := e.changes(eventsS, "").Cursor
	bobC := e.changes(connector.Scope{User: bobUPN, Kind: model.Contacts}, "").Cursor

	tamper := func(cur, token string) string {
		u, err := url.Parse(cur)
		must(t, err)
		q := u.Query()
		q.Set("$deltatoken", token)
		u.RawQuery = q.Encode()
		return u.String()
	}
	cases := []struct {
		name    string
		s       connector.Scope
		cur     string
		prepare func()
		status  int    // the 410 Graph answered, 0 when refused before any request
		code    string // its error code
	}{
		{"state dropped by the server", contactsS, aliceC, e.s.InvalidateDeltaTokens, 410, "SyncStateNotFound"},
		{"events state dropped", eventsS, aliceE, e.s.InvalidateDeltaTokens, 410, "SyncStateNotFound"},
		{"undecodable token", contactsS, tamper(aliceC, "not-a-token"), nil, 410, "SyncStateInvalid"},
		{"another user's cursor", contactsS, bobC, nil, 0, ""},
		{"a contacts cursor for events", eventsS, aliceC, nil, 0, ""},
		{"another host", contactsS, strings.Replace(aliceC, "graph.microsoft.com", "graph.example.net", 1), nil, 0, ""},
		{"no delta token", contactsS, strings.Replace(aliceC, "$deltatoken", "$skiptoken", 1), nil, 0, ""},
		{"no binding", contactsS, aliceC[:strings.IndexByte(aliceC, '#')], nil, 0, ""},
		{"not a URL", contactsS, "%zz", nil, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.prepare != nil {
				c.prepare()
			}
			e.gw.reset()
			ch, err := e.c.Changes(e.ctx, c.s, c.cur)
			if ch != nil || !errors.Is(err, connector.ErrResync) {
				t.Fatalf("Changes = %v, %v; want ErrResync", ch, err)
			}
			var he *connector.HTTPError
			switch {
			case c.status == 0 && len(e.gw.Calls()) != 0:
				t.Fatalf("an invalid cursor was followed: %+v", e.gw.Calls())
			case c.status != 0 && (!errors.As(err, &he) || he.Status != c.status || he.Code != c.code):
				t.Fatalf("error %v, want HTTP %d %s", err, c.status, c.code)
			}
			// The remedy works: a full listing.
			if full, err := e.c.Changes(e.ctx, c.s, ""); err != nil || !full.Full || len(full.Items) != 1 {
				t.Fatalf("full listing after resync: %+v %v", full, err)
			}
		})
	}
}

// A failure on any page of a round fails the whole read: a shorter list
// would look like deletions.
func TestPartialReadIsAnError(t *testing.T) {
	onPage := func(page int, answer func(r *http.Request) (*http.Response, error)) func(*http.Request, int) (*http.Response, error) {
		n := 0
		return func(r *http.Request, _ int) (*http.Response, error) {
			if !strings.HasSuffix(r.URL.Path, "/delta") {
				return nil, nil
			}
			n++
			if n == page {
				return answer(r)
			}
			return nil, nil
		}
	}
	cases := []struct {
		name    string
		page    int
		answer  func(r *http.Request) (*http.Response, error)
		isThrot bool
	}{
		{"server error on page 2", 2, func(*http.Request) (*http.Response, error) {
			return synthetic(500, `{"error":{"code":"InternalServerError","message":"x"}}`), nil
		}, false},
		{"connection lost on page 3", 3, func(*http.Request) (*http.Response, error) {
			return nil, errors.New("connection reset by peer")
		}, false},
		{"throttled on page 2", 2, func(*http.Request) (*http.Response, error) {
			return synthetic(429, `{"error":{"code":"ApplicationThrottled","message":"x"}}`, "Retry-After", "30"), nil
		}, true},
		{"malformed page 2", 2, func(*http.Request) (*http.Response, error) {
			return synthetic(200, `{"value":[{"id":`), nil
		}, false},
		{"page 2 with no link", 2, func(*http.Request) (*http.Response, error) {
			return synthetic(200, `{"value":[]}`), nil
		}, false},
		{"nextLink to another host", 2, func(r *http.Request) (*http.Response, error) {
			return synthetic(200, `{"value":[],"@odata.nextLink":"https://graph.example.net/v1.0/users/x/contacts/delta?$skiptoken=a"}`), nil
		}, false},
		{"delta state lost mid-round", 2, func(*http.Request) (*http.Response, error) {
			return synthetic(410, `{"error":{"code":"SyncStateNotFound","message":"x"}}`), nil
		}, false},
	}
	for _, s := range []connector.Scope{contactsS, eventsS} {
		for _, c := range cases {
			t.Run(string(s.Kind)+"/"+c.name, func(t *testing.T) {
				e := newEnv(t, Options{PageSize: 2})
				for i := range 7 {
					day := time.Date(2026, 11, 10+i, 10, 0, 0, 0, time.UTC).Format("2006-01-02T15:04:05")
					addEvent(t, e, gEvent0("E", day, day, "UTC"))
					_, err := e.s.AddContact(aliceID, "", map[string]any{"givenName": "C"})
					must(t, err)
				}
				e.gw.intercept = onPage(c.page, c.answer)
				ch, err := e.c.Changes(e.ctx, s, "")
				if ch != nil || err == nil {
					t.Fatalf("a failed page gave %+v, %v", ch, err)
				}
				var te *connector.ThrottledError
				if c.isThrot != errors.As(err, &te) || (c.isThrot && te.RetryAfter != 30*time.Second) {
					t.Fatalf("throttle error %v (%+v), want throttled=%v", err, te, c.isThrot)
				}
				if strings.Contains(c.name, "mid-round") && !errors.Is(err, connector.ErrResync) {
					t.Fatalf("410 mid-round: %v, want ErrResync", err)
				}
			})
		}
	}
}

func TestThrottlingSurfaces(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.SetFaults(microsoft.Faults{Throttle: true, RetryAfter: 7})
	_, err := e.c.Changes(e.ctx, contactsS, "")
	var te *connector.ThrottledError
	if !errors.As(err, &te) || te.Status != 429 || te.RetryAfter != 7*time.Second {
		t.Fatalf("throttled: %v", err)
	}
}

// Errors carry status, Graph's code and the gateway request id, and never a
// body, a URL, a query value, a user's address, a key or a token.
func TestErrorsCarryNoData(t *testing.T) {
	e := newEnv(t, Options{})
	secretKey := "carol.secret@example.org"
	created, err := e.c.Create(e.ctx, contactsS, "k", &model.Item{Contact: &annContact})
	must(t, err)
	leaky := `{"error":{"code":"ErrorAccessDenied","message":"Access to alice@contoso.example denied; token eyJ0eXAi.secret","innerError":{"request-id":"abc"}}}`
	cases := []struct {
		name      string
		intercept func(*http.Request, int) (*http.Response, error)
		op        func() error
		status    int
		code      string
		is        error
	}{
		{"item not found", nil, func() error { _, err := e.c.Get(e.ctx, contactsS, "AAMkDoesNotExist"); return err }, 404, "ErrorItemNotFound", connector.ErrNotFound},
		{"malformed id", nil, func() error { _, err := e.c.Get(e.ctx, contactsS, "bogus"); return err }, 400, "ErrorInvalidIdMalformed", nil},
		{"unknown mailbox is not a missing item", nil, func() error {
			_, err := e.c.Get(e.ctx, connector.Scope{User: "nobody@contoso.example", Kind: model.Contacts}, created.ID)
			return err
		}, 404, "ErrorInvalidUser", nil},
		{"forbidden with a chatty body", func(*http.Request, int) (*http.Response, error) { return synthetic(403, leaky), nil },
			func() error { _, err := e.c.FindByKey(e.ctx, contactsS, secretKey); return err }, 403, "ErrorAccessDenied", nil},
		{"code that is not a code", func(*http.Request, int) (*http.Response, error) {
			return synthetic(500, `{"error":{"code":"alice@contoso.example","message":"x"}}`), nil
		}, func() error { _, err := e.c.Changes(e.ctx, contactsS, ""); return err }, 500, "", nil},
		{"connection lost", func(*http.Request, int) (*http.Response, error) { return nil, errors.New("connection reset by peer") },
			func() error { _, err := e.c.FindByKey(e.ctx, contactsS, secretKey); return err }, 0, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.gw.intercept = c.intercept
			defer func() { e.gw.intercept = nil }()
			err := c.op()
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, leak := range []string{aliceUPN, "contoso", "nobody", secretKey, "carol", "eyJ0", "secret", "$filter", "deltatoken", "graph.microsoft.com", "Access to", clientSecret} {
				if strings.Contains(strings.ToLower(msg), strings.ToLower(leak)) {
					t.Fatalf("error %q contains %q", msg, leak)
				}
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("error %v is not %v", err, c.is)
			}
			if c.is == nil && errors.Is(err, connector.ErrNotFound) {
				t.Fatalf("error %v reads as a missing item", err)
			}
			var he *connector.HTTPError
			if c.status == 0 {
				if errors.As(err, &he) {
					t.Fatalf("transport error as HTTP error: %v", err)
				}
				return
			}
			if !errors.As(err, &he) || he.Status != c.status || he.Code != c.code || he.RequestID == "" || !strings.HasPrefix(he.Op, "graph ") {
				t.Fatalf("error %v (%+v), want HTTP %d %q with a request id", err, he, c.status, c.code)
			}
		})
	}
}

func TestScopeChecks(t *testing.T) {
	e := newEnv(t, Options{})
	ev := &model.Item{Event: &model.Event{Subject: "x", Start: winStart, End: winStart}}
	cases := []struct {
		name string
		op   func() error
	}{
		{"no user", func() error { _, err := e.c.Changes(e.ctx, connector.Scope{Kind: model.Contacts}, ""); return err }},
		{"no window", func() error {
			_, err := e.c.Changes(e.ctx, connector.Scope{User: aliceUPN, Kind: model.Events}, "")
			return err
		}},
		{"unknown kind", func() error {
			_, err := e.c.Get(e.ctx, connector.Scope{User: aliceUPN, Kind: "tasks"}, "x")
			return err
		}},
		{"empty key", func() error { _, err := e.c.Create(e.ctx, eventsS, "", ev); return err }},
		{"key with a newline", func() error { _, err := e.c.FindByKey(e.ctx, eventsS, "a\nb"); return err }},
		{"update without marker", func() error { _, err := e.c.Update(e.ctx, eventsS, "AAMkx", "", ev); return err }},
		{"contact as event", func() error { _, err := e.c.Create(e.ctx, eventsS, "k", &model.Item{Contact: &annContact}); return err }},
		{"all-day without dates", func() error {
			_, err := e.c.Create(e.ctx, eventsS, "k", &model.Item{Event: &model.Event{AllDay: true}})
			return err
		}},
	}
	for _, c := range cases {
		if err := c.op(); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if n := len(e.gw.Calls()); n != 0 {
		t.Fatalf("refused calls reached the gateway: %d", n)
	}
	for _, bad := range []string{"http://graph.microsoft.com/v1.0", "https://user:pw@graph.microsoft.com", "https://graph.microsoft.com/v1.0?x=1", ":"} {
		if _, err := New(http.DefaultClient, Options{BaseURL: bad}); err == nil {
			t.Errorf("base URL %q accepted", bad)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("nil client accepted")
	}
}
