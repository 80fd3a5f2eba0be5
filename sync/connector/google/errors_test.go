package google

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	gemu "github.com/syncgate/syncgate/emulate/google"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// onListPage answers the n-th listing request (events.list or
// connections.list) with answer, and passes every other request on.
func onListPage(n int, answer func(r *http.Request) (*http.Response, error)) func(*http.Request, int) (*http.Response, error) {
	seen := 0
	return func(r *http.Request, _ int) (*http.Response, error) {
		if r.Method != http.MethodGet || !(strings.HasSuffix(r.URL.Path, "/events") || strings.HasSuffix(r.URL.Path, "/connections")) {
			return nil, nil
		}
		seen++
		if seen == n {
			return answer(r)
		}
		return nil, nil
	}
}

// A failure on any page fails the whole listing: a shorter list would look
// like deletions.
func TestPartialListingIsAnError(t *testing.T) {
	cases := []struct {
		name     string
		page     int
		answer   func(r *http.Request) (*http.Response, error)
		throttle int  // the ThrottledError status expected, 0 = none
		resync   bool // ErrResync expected
		incr     bool // ErrResync expected on an incremental listing only
	}{
		{"server error on page 2", 2, func(*http.Request) (*http.Response, error) {
			return synthetic(500, `{"error":{"code":500,"message":"Backend Error","status":"INTERNAL"}}`), nil
		}, 0, false, false},
		{"connection lost on page 3", 3, func(*http.Request) (*http.Response, error) {
			return nil, errors.New("connection reset by peer")
		}, 0, false, false},
		{"rate limited (403) on page 2", 2, func(*http.Request) (*http.Response, error) {
			return synthetic(403, `{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}]}}`), nil
		}, 403, false, false},
		{"user rate limited (403) on page 2", 2, func(*http.Request) (*http.Response, error) {
			return synthetic(403, `{"error":{"code":403,"message":"x","errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded","message":"x"}]}}`), nil
		}, 403, false, false},
		{"throttled (429) on page 2", 2, func(*http.Request) (*http.Response, error) {
			return synthetic(429, `{"error":{"code":429,"message":"x","status":"RESOURCE_EXHAUSTED"}}`, "Retry-After", "30"), nil
		}, 429, false, false},
		{"malformed page 2", 2, func(*http.Request) (*http.Response, error) {
			return synthetic(200, `{"items":[{"id":`), nil
		}, 0, false, false},
		{"sync state lost on page 2", 2, func(*http.Request) (*http.Response, error) {
			return synthetic(410, `{"error":{"code":410,"message":"x","errors":[{"domain":"calendar","reason":"fullSyncRequired","message":"x"}]}}`), nil
		}, 0, true, false},
		{"expired sync token on page 2", 2, func(*http.Request) (*http.Response, error) {
			return synthetic(400, `{"error":{"code":400,"message":"Sync token is expired.","status":"FAILED_PRECONDITION","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"EXPIRED_SYNC_TOKEN","domain":"people.googleapis.com"}]}}`), nil
		}, 0, true, false},
		{"bad request on page 2", 2, func(*http.Request) (*http.Response, error) {
			return synthetic(400, `{"error":{"code":400,"message":"Sync token cannot be used with other request restrictions.","status":"INVALID_ARGUMENT","errors":[{"domain":"global","reason":"syncTokenWithRequestRestrictions","message":"x"}]}}`), nil
		}, 0, false, true},
	}
	for _, s := range []connector.Scope{contactsS, eventsS} {
		for _, incremental := range []bool{false, true} {
			for _, c := range cases {
				name := string(s.Kind) + "/full/" + c.name
				if incremental {
					name = string(s.Kind) + "/incremental/" + c.name
				}
				t.Run(name, func(t *testing.T) {
					e := newEnv(t, Options{PageSize: 2})
					seed := func(i int) {
						d := time.Date(2026, 12, 1+i, 10, 0, 0, 0, time.UTC)
						e.putEvent(alice, timedEvent("E", d, d.Add(time.Hour), "UTC"))
						e.putContact(alice, person("C", string(rune('a'+i)), "c@example.com"))
					}
					for i := range 7 {
						seed(i)
					}
					cur := ""
					if incremental {
						cur = e.changes(s, "").Cursor
						for i := 7; i < 14; i++ {
							seed(i)
						}
					}
					e.gw.intercept = onListPage(c.page, c.answer)
					ch, err := e.c.Changes(e.ctx, s, cur)
					if ch != nil || err == nil {
						t.Fatalf("a failed page gave %+v, %v", ch, err)
					}
					var te *connector.ThrottledError
					if (c.throttle != 0) != errors.As(err, &te) || (te != nil && te.Status != c.throttle) {
						t.Fatalf("error %v (%+v), want throttled %d", err, te, c.throttle)
					}
					if te != nil && c.throttle == 429 && te.RetryAfter != 30*time.Second {
						t.Fatalf("Retry-After lost: %+v", te)
					}
					if want := c.resync || c.incr && incremental; want != errors.Is(err, connector.ErrResync) {
						t.Fatalf("error %v: resync %v, want %v", err, !want, want)
					}
				})
			}
		}
	}
}

// The emulator's own throttling: Calendar's 403 rateLimitExceeded (not
// retried by the gateway client) and 429, People's 429, all surface as
// ThrottledError, so the engine stops the pass.
func TestThrottlingSurfaces(t *testing.T) {
	for _, c := range []struct {
		status int
		s      connector.Scope
	}{{403, eventsS}, {429, eventsS}, {429, contactsS}, {403, contactsS}} {
		e := newEnv(t, Options{})
		e.s.SetFaults(gemu.Faults{RateLimit: c.status})
		_, err := e.c.Changes(e.ctx, c.s, "")
		var te *connector.ThrottledError
		want := c.status
		if c.s.Kind == model.Contacts {
			want = 429 // People answers every throttle with 429 RESOURCE_EXHAUSTED
		}
		if !errors.As(err, &te) || te.Status != want {
			t.Fatalf("%s throttled with %d: %v", c.s.Kind, c.status, err)
		}
	}
}

// Errors carry the operation, status, Google's reason and the gateway
// request id, and never a body, a message, a URL, a query value, a user's
// address, a key or a token.
func TestErrorsCarryNoData(t *testing.T) {
	e := newEnv(t, Options{})
	secretKey := "carol.secret@example.org"
	cur := e.changes(eventsS, "").Cursor
	chatty := func(status int, reason string) func(*http.Request, int) (*http.Response, error) {
		return func(*http.Request, int) (*http.Response, error) {
			return synthetic(status, `{"error":{"code":`+strconv.Itoa(status)+`,"message":"Access to alice@corp.example denied; token ya29.secret","status":"PERMISSION_DENIED",`+
				`"errors":[{"domain":"global","reason":"`+reason+`","message":"alice@corp.example ya29.secret"}]}}`), nil
		}
	}
	cases := []struct {
		name      string
		intercept func(*http.Request, int) (*http.Response, error)
		op        func() error
		status    int
		code      string
		is        error
	}{
		{"event not found", nil, func() error { _, err := e.c.Get(e.ctx, eventsS, "doesnotexist0"); return err }, 404, "notFound", connector.ErrNotFound},
		{"contact not found", nil, func() error { _, err := e.c.Get(e.ctx, contactsS, "people/c999"); return err }, 404, "NOT_FOUND", connector.ErrNotFound},
		{"forbidden with a chatty body", chatty(403, "forbidden"),
			func() error { _, err := e.c.FindByKey(e.ctx, eventsS, secretKey); return err }, 403, "forbidden", nil},
		{"forbidden while listing contacts by key", chatty(403, "forbidden"),
			func() error { _, err := e.c.FindByKey(e.ctx, contactsS, secretKey); return err }, 403, "forbidden", nil},
		{"a reason that is not a code", chatty(500, "alice@corp.example"),
			func() error { _, err := e.c.Changes(e.ctx, eventsS, cur); return err }, 500, "PERMISSION_DENIED", nil},
		{"an unknown user's 404 while listing is no deletion", func(*http.Request, int) (*http.Response, error) {
			return synthetic(404, `{"error":{"code":404,"message":"Not Found","errors":[{"domain":"global","reason":"notFound","message":"Not Found"}]}}`), nil
		}, func() error { _, err := e.c.Changes(e.ctx, eventsS, cur); return err }, 404, "notFound", nil},
		{"connection lost", func(*http.Request, int) (*http.Response, error) { return nil, errors.New("connection reset by peer") },
			func() error { _, err := e.c.FindByKey(e.ctx, eventsS, secretKey); return err }, 0, "", nil},
		{"connection lost while listing", func(*http.Request, int) (*http.Response, error) { return nil, errors.New("connection reset by peer") },
			func() error { _, err := e.c.Changes(e.ctx, contactsS, ""); return err }, 0, "", nil},
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
			for _, leak := range []string{alice, "corp.example", "carol", secretKey, "ya29", "secret", "syncToken", "privateExtendedProperty",
				"googleapis.com", "Access to", "pageToken", "people/c999"} {
				if strings.Contains(strings.ToLower(msg), strings.ToLower(leak)) {
					t.Fatalf("error %q contains %q", msg, leak)
				}
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("error %v is not %v", err, c.is)
			}
			if c.is == nil && (errors.Is(err, connector.ErrNotFound) || errors.Is(err, connector.ErrResync)) {
				t.Fatalf("error %v reads as a missing item or a resync", err)
			}
			var he *connector.HTTPError
			if c.status == 0 {
				if errors.As(err, &he) {
					t.Fatalf("transport error as HTTP error: %v", err)
				}
				return
			}
			if !errors.As(err, &he) || he.Status != c.status || he.Code != c.code || he.RequestID == "" || !strings.HasPrefix(he.Op, "google ") {
				t.Fatalf("error %v (%+v), want HTTP %d %q with a request id", err, he, c.status, c.code)
			}
		})
	}
}

// Calls the connector refuses to make reach nobody.
func TestRefusedBeforeAnyCall(t *testing.T) {
	e := newEnv(t, Options{})
	ev := &model.Item{Event: &model.Event{Subject: "x", Start: winStart, End: winStart}}
	cases := []struct {
		name string
		op   func() error
	}{
		{"no user", func() error { _, err := e.c.Changes(e.ctx, connector.Scope{Kind: model.Contacts}, ""); return err }},
		{"no window", func() error {
			_, err := e.c.Changes(e.ctx, connector.Scope{User: alice, Kind: model.Events}, "")
			return err
		}},
		{"unknown kind", func() error { _, err := e.c.Get(e.ctx, connector.Scope{User: alice, Kind: "tasks"}, "x"); return err }},
		{"empty key", func() error { _, err := e.c.Create(e.ctx, eventsS, "", ev); return err }},
		{"key with a newline", func() error { _, err := e.c.FindByKey(e.ctx, eventsS, "a\nb"); return err }},
		{"update without marker", func() error { _, err := e.c.Update(e.ctx, eventsS, "abcdef", "", ev); return err }},
		{"contact as event", func() error { _, err := e.c.Create(e.ctx, eventsS, "k", &model.Item{Contact: &adaContact}); return err }},
		{"event as contact", func() error { _, err := e.c.Create(e.ctx, contactsS, "k", ev); return err }},
		{"all-day without dates", func() error {
			_, err := e.c.Create(e.ctx, eventsS, "k", &model.Item{Event: &model.Event{AllDay: true}})
			return err
		}},
		{"all-day ending before it starts", func() error {
			_, err := e.c.Create(e.ctx, eventsS, "k", &model.Item{Event: &model.Event{AllDay: true, StartDate: "2026-12-02", EndDate: "2026-12-02"}})
			return err
		}},
		{"event id with a slash", func() error { _, err := e.c.Get(e.ctx, eventsS, "a/../b"); return err }},
		{"contact id outside people/", func() error { _, err := e.c.Get(e.ctx, contactsS, "contactGroups/all"); return err }},
		{"contact id walking the path", func() error { return e.c.Delete(e.ctx, contactsS, "people/../v1/people/me", "") }},
		{"the user's own profile", func() error { _, err := e.c.Get(e.ctx, contactsS, "people/me"); return err }},
	}
	for _, c := range cases {
		if err := c.op(); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if n := len(e.gw.Calls()); n != 0 {
		t.Fatalf("refused calls reached the gateway: %d", n)
	}
	for _, bad := range []string{"http://www.googleapis.com/calendar/v3/", "https://user:pw@people.googleapis.com/", "https://people.googleapis.com/?x=1", ":"} {
		if _, err := New(http.DefaultClient, Options{PeopleEndpoint: bad}); err == nil {
			t.Errorf("endpoint %q accepted", bad)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("nil client accepted")
	}
}
