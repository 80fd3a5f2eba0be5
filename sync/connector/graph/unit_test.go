package graph

import (
	"github.com/syncgate/syncgate/sync/connector/internal/mailfmt"

	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

func TestWindowsZonesResolve(t *testing.T) {
	for win, iana := range mailfmt.WindowsZones() {
		if _, ok := parseZone(win); !ok {
			t.Errorf("%q (%s) does not resolve", win, iana)
		}
	}
	for _, bad := range []string{"tzone://Microsoft/Custom", "Customized Time Zone", "../etc/passwd", "Mars/Olympus"} {
		if _, ok := parseZone(bad); ok {
			t.Errorf("%q resolved", bad)
		}
	}
	for _, utc := range []string{"", "UTC", "utc", "tzone://Microsoft/Utc", "Coordinated Universal Time"} {
		if loc, ok := parseZone(utc); !ok || loc.String() != "UTC" {
			t.Errorf("%q: %v %v", utc, loc, ok)
		}
	}
}

func TestCivilDate(t *testing.T) {
	cases := []struct {
		dt, tz, orig, want string
	}{
		{"2026-11-23T00:00:00.0000000", "UTC", "UTC", "2026-11-23"},
		{"2026-11-22T23:00:00.0000000", "UTC", "W. Europe Standard Time", "2026-11-23"},
		{"2026-11-23T08:00:00.0000000", "UTC", "Pacific Standard Time", "2026-11-23"},
		{"2026-11-22T11:00:00.0000000", "UTC", "New Zealand Standard Time", "2026-11-23"},
		{"2026-11-23T00:00:00.0000000", "Tokyo Standard Time", "Tokyo Standard Time", "2026-11-23"},
		// Original zone unknown: the nearest midnight of the rendered time.
		{"2026-11-22T23:00:00.0000000", "UTC", "tzone://Microsoft/Custom", "2026-11-23"},
		{"2026-11-23T05:00:00.0000000", "UTC", "Customized Time Zone", "2026-11-23"},
		{"2026-11-23T00:00:00", "UTC", "", "2026-11-23"},
	}
	for _, c := range cases {
		got, err := dateTimeTZ{c.dt, c.tz}.civilDate(c.orig)
		if err != nil || got != c.want {
			t.Errorf("%s %s (orig %s): %q %v, want %q", c.dt, c.tz, c.orig, got, err, c.want)
		}
	}
	if _, err := (dateTimeTZ{"2026-11-23T10:00:00", "Mars/Olympus"}).instant(); err == nil {
		t.Error("unknown zone of a timed event accepted")
	}
	if got, err := (dateTimeTZ{"2026-11-23T10:00:00+01:00", "UTC"}).instant(); err != nil || !got.Equal(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("offset: %v %v", got, err)
	}
}

func TestHTMLToText(t *testing.T) {
	cases := map[string]string{
		"plain":                  "plain",
		"<p>a</p><p>b</p>":       "a\nb",
		"<div>one<br/>two</div>": "one\ntwo",
		"  <b>x</b>\n\n   y  ":   "x y",
		"<html><head><title>T</title><style>p{}</style></head><body>Body &lt;ok&gt;</body></html>": "Body <ok>",
		"<ul><li>1</li><li>2</li></ul>":  "1\n2",
		"<p>a</p><p></p><p></p><p>b</p>": "a\n\nb", // at most one empty line
		"<p>a<br><br><br>b</p>":          "a\n\nb",
		"<script>alert(1)</script>text":  "text",
		"caf&eacute;&nbsp;&amp;&#39;":    "café &'",
	}
	for in, want := range cases {
		if got := htmlToText(in); got != want {
			t.Errorf("htmlToText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCursorBinding(t *testing.T) {
	c, err := New(http.DefaultClient, Options{})
	must(t, err)
	link := "https://graph.microsoft.com/v1.0/users/alice@contoso.example/calendarView/delta?$deltatoken=abc"
	cur := makeCursor(link, eventsS)
	p, err := c.parseCursor(cur, eventsS)
	if err != nil || p.link.String() != link || !p.sameWindow(eventsS) {
		t.Fatalf("round trip: %+v %v", p, err)
	}
	other := eventsS
	other.WindowEnd = other.WindowEnd.Add(time.Hour)
	if p.sameWindow(other) {
		t.Fatal("another window matched")
	}
	for name, s := range map[string]connector.Scope{
		"user":  {User: bobUPN, Kind: model.Events, WindowStart: winStart, WindowEnd: winEnd},
		"kind":  {User: aliceUPN, Kind: model.Contacts},
		"case?": {User: "ALICE@contoso.example", Kind: model.Events, WindowStart: winStart, WindowEnd: winEnd},
	} {
		_, err := c.parseCursor(cur, s)
		if (err == nil) != (name == "case?") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestStatusMapping(t *testing.T) {
	body := func(code string) []byte { return []byte(`{"error":{"code":"` + code + `","message":"m"}}`) }
	cases := []struct {
		name   string
		status int
		ra     string
		code   string
		delta  bool
		is     error
		thrott time.Duration // -1: not a throttle
	}{
		{"429", 429, "7", "ApplicationThrottled", false, nil, 7 * time.Second},
		{"503 with a date in the past", 503, "Wed, 21 Oct 2015 07:28:00 GMT", "ServiceNotAvailable", false, nil, 0},
		{"503 without Retry-After is the gateway's", 503, "", "", false, nil, -1},
		{"410 on delta", 410, "", "SyncStateNotFound", true, connector.ErrResync, -1},
		{"410 elsewhere", 410, "", "Gone", false, nil, -1},
		{"resyncRequired", 400, "", "resyncRequired", true, connector.ErrResync, -1},
		{"item not found", 404, "", "ErrorItemNotFound", false, connector.ErrNotFound, -1},
		{"mailbox not found", 404, "", "ErrorInvalidUser", false, nil, -1},
		{"404 without a code", 404, "", "", false, nil, -1},
		{"412", 412, "", "ErrorIrresolvableConflict", false, connector.ErrConflict, -1},
	}
	for _, c := range cases {
		h := http.Header{}
		if c.ra != "" {
			h.Set("Retry-After", c.ra)
		}
		err := statusError(request{op: "graph x", delta: c.delta}, &http.Response{StatusCode: c.status, Header: h}, body(c.code))
		var te *connector.ThrottledError
		if got := errors.As(err, &te); got != (c.thrott >= 0) || (got && te.RetryAfter != c.thrott) {
			t.Errorf("%s: %v, throttle want %v", c.name, err, c.thrott)
		}
		for _, s := range []error{connector.ErrResync, connector.ErrNotFound, connector.ErrConflict} {
			if errors.Is(err, s) != (s == c.is) {
				t.Errorf("%s: %v; is %v: %v", c.name, err, s, errors.Is(err, s))
			}
		}
	}
}

func TestLinksStayOnTheService(t *testing.T) {
	c, err := New(http.DefaultClient, Options{})
	must(t, err)
	for link, ok := range map[string]bool{
		"https://graph.microsoft.com/v1.0/users/a/contacts/delta?$skiptoken=x": true,
		"https://GRAPH.microsoft.com/v1.0/users/a/contacts/delta":              true,
		"http://graph.microsoft.com/v1.0/users/a/contacts/delta":               false,
		"https://graph.microsoft.com/beta/users/a/contacts/delta":              false,
		"https://graph.microsoft.com/v1.0/../beta/users/a":                     false,
		"https://graph.microsoft.com/v1.0/%2E%2E/beta/users/a":                 false,
		"https://graph.microsoft.com.evil.example/v1.0/users/a":                false,
		"https://user@graph.microsoft.com/v1.0/users/a":                        false,
		"https://graph.microsoft.com/v1.0":                                     false,
	} {
		if _, got := c.underBase(link); got != ok {
			t.Errorf("%s: %v, want %v", link, got, ok)
		}
	}
	if !sameMarker(`W/"abc"`, "abc") || !sameMarker(`"abc"`, `W/"abc"`) || sameMarker(`W/"abc"`, `W/"abd"`) {
		t.Error("sameMarker")
	}
}
