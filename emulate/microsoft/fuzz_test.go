package microsoft

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func FuzzParseAssertion(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsIng1dCI6ImFiYyJ9.eyJhdWQiOiJ4IiwiZXhwIjoxfQ.c2ln")
	f.Add("a.b.c")
	f.Add("..")
	f.Add("e30.e30.")
	f.Add("eyJhbGciOiJub25lIn0.eyJhdWQiOlsieCIsMV19.")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseAssertion(s)
		if err != nil {
			return
		}
		// A parsed assertion never verifies without a real signature.
		_, c, _ := rsaCertCached(t)
		if a.verify(c) == nil {
			t.Fatalf("unsigned input verified: %q", s)
		}
	})
}

func FuzzParseSelect(f *testing.F) {
	for _, s := range []string{"givenName,surname", " id , displayName ", "*", "a,,b", "emailAddresses/address", "GIVENNAME", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := parseSelect(s, contactProps, "microsoft.graph.contact")
		if err != nil {
			return
		}
		for _, p := range sel {
			if !contactProps[p] {
				t.Fatalf("accepted unknown property %q", p)
			}
		}
	})
}

func FuzzDecodeToken(f *testing.F) {
	f.Add(encodeToken(tokDelta, newTokenID(), 0))
	f.Add(encodeToken(tokSkip, newTokenID(), 42))
	f.Add("")
	f.Add("RA")
	f.Fuzz(func(t *testing.T, s string) {
		kind, id, off, err := decodeToken(s)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same token.
		if again := encodeToken(kind, id, off); again != s {
			t.Fatalf("decode/encode mismatch: %q -> %q", s, again)
		}
	})
}

func FuzzPrefer(f *testing.F) {
	for _, s := range []string{"odata.maxpagesize=3", `odata.maxpagesize="10", outlook.timezone="UTC"`, "odata.maxpagesize=-1", "odata.maxpagesize=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := parseMaxPageSize(http.Header{"Prefer": {s}})
		if n < 0 || n > maxPageSize {
			t.Fatalf("page size %d out of range for %q", n, s)
		}
	})
}

// FuzzEventBody feeds arbitrary JSON to event creation and then expands the
// calendar: no panic, and expansion terminates with bounded output.
func FuzzEventBody(f *testing.F) {
	seed, _ := json.Marshal(withRecurrence(sampleEvent("s", "2026-11-23T10:00:00", "2026-11-23T10:15:00"),
		map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"monday"}},
		map[string]any{"type": "noEnd", "startDate": "2026-11-23"}))
	f.Add(string(seed))
	f.Add(`{"start":{"dateTime":"1601-01-01T00:00:00","timeZone":"UTC"},"end":{"dateTime":"4500-01-01T00:00:00","timeZone":"UTC"},"recurrence":{"pattern":{"type":"daily","interval":1},"range":{"type":"noEnd","startDate":"1601-01-01"}}}`)
	f.Add(`{"start":{"dateTime":"2026-01-01T00:00","timeZone":"../../etc/passwd"},"end":{"dateTime":"2026-01-01T00:00"}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var m map[string]any
		if json.Unmarshal([]byte(body), &m) != nil || m == nil {
			return
		}
		u := &user{events: map[string]*item{}, txn: map[string]string{}, contacts: map[string]*item{}}
		now := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
		if _, _, e := u.createEvent(m, now); e != nil {
			if e.status != 400 {
				t.Fatalf("bad input answered %d", e.status)
			}
			return
		}
		v := u.calendarView(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), true)
		if len(v) > maxExpansion+2 {
			t.Fatalf("expansion produced %d instances", len(v))
		}
	})
}

// FuzzTokenEndpoint posts arbitrary form bodies to the token endpoint: the
// answer is always JSON, never a 5xx, and a token only for the real secret.
func FuzzTokenEndpoint(f *testing.F) {
	f.Add("grant_type=client_credentials&client_id=" + clientA + "&client_secret=" + url.QueryEscape(secretA) + "&scope=" + url.QueryEscape(GraphScope))
	f.Add("grant_type=client_credentials&client_id=" + clientA + "&client_assertion_type=" + url.QueryEscape(jwtBearerType) + "&client_assertion=a.b.c&scope=" + url.QueryEscape(GraphScope))
	f.Add("%zz")
	s := New(Options{})
	_, _, certPEM := rsaCertCached(f)
	must(f, s.AddTenant(Tenant{ID: tenantA}))
	must(f, s.AddApp(App{TenantID: tenantA, ClientID: clientA, ClientSecret: secretA, CertificatePEM: certPEM}))
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "https://"+LoginHost+"/"+tenantA+"/oauth2/v2.0/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%d for %q", rec.Code, body)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("non-JSON answer %q", rec.Body)
		}
		if rec.Code == 200 {
			v, _ := url.ParseQuery(body)
			if v.Get("client_secret") != secretA {
				t.Fatalf("token issued without the secret for %q", body)
			}
		}
	})
}
