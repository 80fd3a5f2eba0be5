package google

import (
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/api/calendar/v3"
)

func BenchmarkListEventsPage(b *testing.B) {
	s := New(Options{UserRatePerMinute: -1})
	if err := s.AddUser(alice); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		st := t0.Add(time.Duration(i) * time.Hour)
		if _, err := s.PutEvent(alice, &calendar.Event{Summary: "e",
			Start: &calendar.EventDateTime{DateTime: st.Format(time.RFC3339)},
			End:   &calendar.EventDateTime{DateTime: st.Add(time.Hour).Format(time.RFC3339)}}); err != nil {
			b.Fatal(err)
		}
	}
	tok, _ := s.IssueToken(saEmail, alice, []string{ScopeCalendar})
	h := s.Handler()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", calEvents+"?maxResults=250", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

func BenchmarkTokenExchange(b *testing.B) {
	s := New(Options{})
	key, _ := testKeys()
	if err := s.AddServiceAccount(ServiceAccount{ClientEmail: saEmail, ClientID: saID, PublicKeyPEM: pemPublic(b, key), DWDScopes: []string{ScopeCalendar}}); err != nil {
		b.Fatal(err)
	}
	if err := s.AddUser(alice); err != nil {
		b.Fatal(err)
	}
	now := time.Now().Unix()
	assertion, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": saEmail, "aud": TokenURL, "iat": now, "exp": now + 3600, "scope": ScopeCalendar, "sub": alice}).SignedString(key)
	if err != nil {
		b.Fatal(err)
	}
	body := url.Values{"grant_type": {grantJWTBearer}, "assertion": {assertion}}.Encode()
	h := s.Handler()
	b.ResetTimer()
	for b.Loop() {
		req, _ := newReq("POST", TokenURL, body)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body)
		}
	}
}

func BenchmarkExpandWeeklyTwoYears(b *testing.B) {
	rec, err := parseRecurrence([]string{"RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR"}, time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if n := len(rec.expand(t0, t0.AddDate(2, 0, 0), maxInstances, false)); n < 300 {
			b.Fatal(n)
		}
	}
}
