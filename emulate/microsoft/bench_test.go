package microsoft

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/emulate/clock"
)

func benchServer(b *testing.B) (*Server, string) {
	b.Helper()
	s := New(Options{Clock: clock.NewFake(epoch), RateLimit: 1 << 30})
	must(b, s.AddTenant(Tenant{ID: tenantA}))
	must(b, s.AddApp(App{TenantID: tenantA, ClientID: clientA, ClientSecret: secretA}))
	must(b, s.AddUser(User{TenantID: tenantA, ID: aliceID, UserPrincipalName: aliceUPN}))
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, tokenReq())
	if rec.Code != 200 {
		b.Fatalf("token: %d", rec.Code)
	}
	tok := rec.Body.String()
	tok = tok[strings.Index(tok, `"access_token":"`)+16:]
	return s, tok[:strings.IndexByte(tok, '"')]
}

func tokenReq() *http.Request {
	body := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientA}, "client_secret": {secretA}, "scope": {GraphScope}}.Encode()
	r := httptest.NewRequest("POST", "https://"+LoginHost+"/"+tenantA+"/oauth2/v2.0/token", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func BenchmarkTokenClientSecret(b *testing.B) {
	s, _ := benchServer(b)
	h := s.Handler()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, tokenReq())
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkContactsDeltaRound measures a full initial delta round over 500
// contacts in pages of 50.
func BenchmarkContactsDeltaRound(b *testing.B) {
	s, tok := benchServer(b)
	folder, _ := s.DefaultContactFolder(aliceID)
	for i := range 500 {
		if _, err := s.AddContact(aliceID, folder, map[string]any{"givenName": fmt.Sprint("G", i), "surname": "S",
			"emailAddresses": []any{map[string]any{"address": fmt.Sprintf("g%d@example.com", i)}}}); err != nil {
			b.Fatal(err)
		}
	}
	h := s.Handler()
	start := "https://" + GraphHost + "/v1.0/users/" + aliceID + "/contactFolders/" + folder + "/contacts/delta"
	b.ReportAllocs()
	for b.Loop() {
		next := start
		for next != "" {
			r := httptest.NewRequest("GET", next, nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("Prefer", "odata.maxpagesize=50")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != 200 {
				b.Fatal(rec.Code, rec.Body)
			}
			body := rec.Body.String()
			next = ""
			if i := strings.Index(body, `"@odata.nextLink":"`); i >= 0 {
				rest := body[i+19:]
				next = rest[:strings.IndexByte(rest, '"')]
			}
		}
	}
}

// BenchmarkCalendarViewExpand measures expanding a year of a daily series
// plus 200 single events.
func BenchmarkCalendarViewExpand(b *testing.B) {
	s, _ := benchServer(b)
	if _, err := s.AddEvent(aliceID, withRecurrence(sampleEvent("daily", "2026-01-01T09:00:00", "2026-01-01T09:15:00"),
		map[string]any{"type": "daily", "interval": 1}, map[string]any{"type": "noEnd", "startDate": "2026-01-01"})); err != nil {
		b.Fatal(err)
	}
	for i := range 200 {
		d := epoch.Add(time.Duration(i) * 36 * time.Hour)
		if _, err := s.AddEvent(aliceID, sampleEvent("x", d.Format("2006-01-02T15:04:05"), d.Add(time.Hour).Format("2006-01-02T15:04:05"))); err != nil {
			b.Fatal(err)
		}
	}
	u := s.users[strings.ToLower(aliceID)]
	ws, we := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		s.mu.Lock()
		v := u.calendarView(ws, we, true)
		s.mu.Unlock()
		if len(v) < 365 {
			b.Fatal(len(v))
		}
	}
}
