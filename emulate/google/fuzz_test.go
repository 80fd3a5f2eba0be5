package google

import (
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func FuzzParseRecurrence(f *testing.F) {
	for _, s := range []string{
		"RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10",
		"RRULE:FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20270101T000000Z\nEXDATE:20260130T090000Z",
		"RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
		"RRULE:FREQ=DAILY;INTERVAL=1000",
		"RRULE:FREQ=MONTHLY;BYMONTHDAY=-31,31;WKST=SU",
		"EXDATE;TZID=Europe/Berlin:20260101T000000,20260102T000000\nRRULE:FREQ=DAILY",
		"RRULE:FREQ=WEEKLY;BYDAY=+1MO",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	dtstart := time.Date(2026, 1, 30, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, text string, allDay bool) {
		rec, err := parseRecurrence(strings.Split(text, "\n"), time.UTC)
		if err != nil {
			return
		}
		horizon := dtstart.AddDate(3, 0, 0)
		occ := rec.expand(dtstart, horizon, 200, allDay)
		if len(occ) > 200 {
			t.Fatalf("%d occurrences over the cap", len(occ))
		}
		if !sort.SliceIsSorted(occ, func(i, j int) bool { return occ[i].Before(occ[j]) }) {
			t.Fatal("occurrences out of order")
		}
		for _, o := range occ {
			if o.Before(dtstart) || o.After(horizon) {
				t.Fatalf("occurrence %v outside [dtstart, horizon]", o)
			}
		}
	})
}

func FuzzDecodeToken(f *testing.F) {
	s := New(Options{})
	f.Add(s.encodeToken(cursor{Kind: kindCalSync, Sub: alice, Snap: 7}))
	f.Add(s.encodeToken(cursor{Kind: kindPplPage, Sub: bob, Snap: 3, From: 1, Incr: true, AfterKey: "x", AfterID: "people/c1", Params: "p", Full: 99}))
	f.Add("")
	f.Add("garbage")
	f.Add(strings.Repeat("A", 5000))
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := decodeToken(s.tokenKey, tok)
		if err != nil {
			return
		}
		// Only tokens this server minted authenticate; they round-trip.
		again, err := decodeToken(s.tokenKey, s.encodeToken(c))
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip: %+v vs %+v (%v)", c, again, err)
		}
	})
}

func FuzzTokenRoundTrip(f *testing.F) {
	s := New(Options{})
	f.Add("cal-page", alice, int64(5), int64(2), "00000000000000000005", "abcde")
	f.Fuzz(func(t *testing.T, kind, sub string, snap, from int64, key, id string) {
		// Cursors only ever hold our own strings, which are UTF-8; JSON would
		// replace invalid bytes.
		for _, s := range []string{kind, sub, key, id} {
			if !utf8.ValidString(s) {
				return
			}
		}
		c := cursor{Kind: kind, Sub: sub, Snap: snap, From: from, AfterKey: key, AfterID: id}
		got, err := decodeToken(s.tokenKey, s.encodeToken(c))
		valid := kind != "" && sub != "" && snap >= 0 && from >= 0 && len(s.encodeToken(c)) <= maxTokenLen
		if valid != (err == nil) {
			t.Fatalf("valid=%v err=%v for %+v", valid, err, c)
		}
		if err == nil && !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip: %+v vs %+v", c, got)
		}
		// Another server's key never accepts it.
		if _, err := decodeToken(New(Options{}).tokenKey, s.encodeToken(c)); err == nil {
			t.Fatal("token accepted under a different key")
		}
	})
}

func FuzzListParams(f *testing.F) {
	for _, q := range []string{"syncToken=a&timeMin=2026-01-01T00:00:00Z", "maxResults=3&singleEvents=true&orderBy=startTime",
		"privateExtendedProperty=a%3Db&privateExtendedProperty=c", "timeMin=2026-01-02T00:00:00Z&timeMax=2026-01-01T00:00:00Z", "maxResults=-1"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, e := parseListParams(q)
		if (p == nil) == (e == nil) {
			t.Fatal("want exactly one of params and error")
		}
		if p != nil && (p.maxResults < 1 || p.maxResults > maxMaxResults) {
			t.Fatalf("maxResults %d", p.maxResults)
		}
	})
}

func FuzzAssertion(f *testing.F) {
	s := New(Options{})
	key, _ := testKeys()
	if err := s.AddServiceAccount(ServiceAccount{ClientEmail: saEmail, ClientID: saID, PublicKeyPEM: pemPublic(f, key)}); err != nil {
		f.Fatal(err)
	}
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJzeW5jZ2F0ZUBwcm9qLmlhbS5nc2VydmljZWFjY291bnQuY29tIn0.c2ln")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, assertion string) {
		tok, _, oerr := s.exchange(assertion)
		if oerr == nil || tok != "" {
			t.Fatalf("forged assertion accepted: %q", assertion)
		}
		if assertion != "" && len(assertion) > 8 && strings.Contains(oerr.Description, assertion) {
			t.Fatal("error echoes the assertion")
		}
	})
}

func FuzzPeopleRequest(f *testing.F) {
	s := New(Options{UserRatePerMinute: -1})
	if err := s.AddUser(alice); err != nil {
		f.Fatal(err)
	}
	tok, _ := s.IssueToken(saEmail, alice, []string{ScopeContacts})
	f.Add("GET", "/v1/people/me/connections?personFields=names&pageSize=2&requestSyncToken=true", "")
	f.Add("POST", "/v1/people:createContact?personFields=names", `{"names":[{"givenName":"A"},{"givenName":"B"}]}`)
	f.Add("PATCH", "/v1/people/c1:updateContact?updatePersonFields=names", `{"etag":"%x"}`)
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(method, " \r\n\t") || method == "" {
			return
		}
		req, err := newReq(method, "https://"+HostPeople+target, body)
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
		}
	})
}
