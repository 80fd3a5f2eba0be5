package google

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

func ids(evs []map[string]any) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev["id"].(string))
	}
	sort.Strings(out)
	return out
}

// fullSync walks every page of a list query and returns items and the sync token.
func (e *env) fullSync(tok, query string) ([]map[string]any, string, int) {
	e.t.Helper()
	var all []map[string]any
	pageTok, pages := "", 0
	for {
		u := calEvents + "?" + query
		if pageTok != "" {
			u += "&pageToken=" + url.QueryEscape(pageTok)
		}
		r := e.do("GET", u, tok, nil)
		if r.code != 200 {
			e.t.Fatalf("list %s: %d %s", u, r.code, r.raw)
		}
		pages++
		all = append(all, items(e.t, r)...)
		next, hasNext := r.body["nextPageToken"].(string)
		sync, hasSync := r.body["nextSyncToken"].(string)
		if hasNext == hasSync {
			e.t.Fatalf("page %d: want exactly one of nextPageToken/nextSyncToken, got %v/%v", pages, hasNext, hasSync)
		}
		if hasSync {
			return all, sync, pages
		}
		pageTok = next
	}
}

func TestEventCRUDWithEtags(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(alice, ScopeCalendar)
	ins := timed("Kickoff", t0.Add(24*time.Hour), time.Hour)
	ins["extendedProperties"] = map[string]any{"private": map[string]any{"sfid": "00U1"}}
	r := e.do("POST", calEvents, tok, ins)
	if r.code != 200 {
		t.Fatalf("insert: %d %s", r.code, r.raw)
	}
	id, etag := r.body["id"].(string), r.body["etag"].(string)
	if r.body["kind"] != "calendar#event" || r.body["status"] != "confirmed" || !validEventID(id) || etag == "" {
		t.Fatalf("insert response: %s", r.raw)
	}
	evURL := calEvents + "/" + id
	if g := e.do("GET", evURL, tok, nil); g.code != 200 || g.body["summary"] != "Kickoff" {
		t.Fatalf("get: %d %s", g.code, g.raw)
	}
	if g := e.do("GET", CalendarBase+"calendars/"+url.PathEscape(alice)+"/events/"+id, tok, nil); g.code != 200 {
		t.Fatalf("get by calendar id = email: %d", g.code)
	}
	if g := e.do("GET", evURL, tok, nil, "If-None-Match", etag); g.code != 304 {
		t.Fatalf("If-None-Match: %d", g.code)
	}

	// Patch merges: the summary changes, the private property survives, a new one joins.
	p := e.do("PATCH", evURL, tok, map[string]any{"summary": "Kickoff v2", "extendedProperties": map[string]any{"private": map[string]any{"x": "1"}}}, "If-Match", etag)
	if p.code != 200 || p.body["summary"] != "Kickoff v2" || p.body["etag"] == etag {
		t.Fatalf("patch: %d %s", p.code, p.raw)
	}
	priv := p.body["extendedProperties"].(map[string]any)["private"].(map[string]any)
	if priv["sfid"] != "00U1" || priv["x"] != "1" {
		t.Fatalf("patch lost extended properties: %v", priv)
	}
	// The old etag is now stale for patch, update and delete.
	for _, m := range []string{"PATCH", "PUT", "DELETE"} {
		var body any
		if m != "DELETE" {
			body = timed("stale", t0, time.Hour)
		}
		r := e.do(m, evURL, tok, body, "If-Match", etag)
		if _, _, reason, _ := gerr(t, r); r.code != 412 || reason != "conditionNotMet" {
			t.Fatalf("%s with stale etag: %d %s", m, r.code, r.raw)
		}
	}
	// Update replaces: extended properties not sent are gone.
	u := e.do("PUT", evURL, tok, timed("Replaced", t0.Add(48*time.Hour), 2*time.Hour), "If-Match", p.body["etag"].(string))
	if u.code != 200 || u.body["summary"] != "Replaced" || u.body["extendedProperties"] != nil {
		t.Fatalf("update: %d %s", u.code, u.raw)
	}
	if u.body["sequence"].(float64) < 1 {
		t.Fatalf("moving an event must bump sequence: %s", u.raw)
	}
	if d := e.do("DELETE", evURL, tok, nil, "If-Match", u.body["etag"].(string)); d.code != 204 {
		t.Fatalf("delete: %d %s", d.code, d.raw)
	}
	if d := e.do("DELETE", evURL, tok, nil); d.code != 410 {
		t.Fatalf("second delete: %d", d.code)
	}
	if g := e.do("GET", evURL, tok, nil); g.code != 200 || g.body["status"] != "cancelled" {
		t.Fatalf("get deleted: %d %s", g.code, g.raw)
	}
	if g := e.do("GET", calEvents+"/nosuchevent1", tok, nil); g.code != 404 {
		t.Fatalf("get missing: %d", g.code)
	}
}

func TestInsertValidation(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(alice, ScopeCalendar)
	noEnd := timed("x", t0, time.Hour)
	delete(noEnd, "end")
	backwards := timed("x", t0, -time.Hour)
	mixed := timed("x", t0, time.Hour)
	mixed["end"] = map[string]any{"date": "2026-03-03"}
	recurNoTZ := timed("x", t0, time.Hour)
	recurNoTZ["recurrence"] = []string{"RRULE:FREQ=DAILY;COUNT=2"}
	badRule := timed("x", t0, time.Hour)
	badRule["start"].(map[string]any)["timeZone"] = "UTC"
	badRule["recurrence"] = []string{"RRULE:FREQ=HOURLY"}
	badID := timed("x", t0, time.Hour)
	badID["id"] = "UPPER_case!"
	cases := []struct {
		name   string
		body   any
		code   int
		reason string
	}{
		{"no end", noEnd, 400, "required"},
		{"end before start", backwards, 400, "timeRangeEmpty"},
		{"date and dateTime mixed", mixed, 400, "invalid"},
		{"recurring without time zone", recurNoTZ, 400, "required"},
		{"unsupported rule", badRule, 400, "invalid"},
		{"bad client id", badID, 400, "invalid"},
		{"not JSON", "[", 400, "parseError"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", calEvents, tok, tc.body)
			if _, _, reason, _ := gerr(t, r); r.code != tc.code || reason != tc.reason {
				t.Fatalf("got %d %s", r.code, r.raw)
			}
		})
	}
	withID := timed("x", t0, time.Hour)
	withID["id"] = "sfevent00001"
	if r := e.do("POST", calEvents, tok, withID); r.code != 200 || r.body["id"] != "sfevent00001" {
		t.Fatalf("client-chosen id: %d %s", r.code, r.raw)
	}
	if r := e.do("POST", calEvents, tok, withID); r.code != 409 {
		t.Fatalf("duplicate id: %d %s", r.code, r.raw)
	}
}

func TestListPagingAndIncrementalSync(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(alice, ScopeCalendar)
	var created []string
	for i := 0; i < 7; i++ {
		r := e.do("POST", calEvents, tok, timed("E", t0.Add(time.Duration(i)*time.Hour), time.Hour))
		created = append(created, r.body["id"].(string))
	}
	// Bob's events never show up in Alice's calendar.
	e.do("POST", calEvents, e.token(bob, ScopeCalendar), timed("Bob's", t0, time.Hour))

	all, syncTok, pages := e.fullSync(tok, "maxResults=3")
	if pages != 3 || len(all) != 7 {
		t.Fatalf("full sync: %d items in %d pages", len(all), pages)
	}
	sort.Strings(created)
	if got := ids(all); strings.Join(got, ",") != strings.Join(created, ",") {
		t.Fatalf("full sync ids %v, want %v", got, created)
	}
	// Nothing changed: an incremental sync is empty and hands back a token.
	r := e.do("GET", calEvents+"?syncToken="+url.QueryEscape(syncTok), tok, nil)
	if r.code != 200 || len(items(t, r)) != 0 || r.body["nextSyncToken"] == nil {
		t.Fatalf("empty incremental: %d %s", r.code, r.raw)
	}
	// Change one, delete one, add one.
	e.do("PATCH", calEvents+"/"+created[0], tok, map[string]any{"summary": "changed"})
	e.do("DELETE", calEvents+"/"+created[1], tok, nil)
	added := e.do("POST", calEvents, tok, timed("new", t0, time.Hour)).body["id"].(string)
	changes, next, _ := e.fullSync(tok, "syncToken="+url.QueryEscape(syncTok)+"&maxResults=2")
	byID := map[string]map[string]any{}
	for _, c := range changes {
		byID[c["id"].(string)] = c
	}
	if len(byID) != 3 || byID[created[0]]["summary"] != "changed" || byID[created[1]]["status"] != "cancelled" || byID[added] == nil {
		t.Fatalf("incremental changes: %v", changes)
	}
	if next == syncTok {
		t.Fatal("sync token did not move")
	}
	// A full listing without showDeleted hides the deleted event.
	full, _, _ := e.fullSync(tok, "")
	for _, ev := range full {
		if ev["id"] == created[1] {
			t.Fatal("deleted event listed without showDeleted")
		}
	}
	withDeleted, _, _ := e.fullSync(tok, "showDeleted=true")
	if len(withDeleted) != len(full)+1 {
		t.Fatalf("showDeleted: %d items, want %d", len(withDeleted), len(full)+1)
	}
}

func TestSyncTokenRules(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(alice, ScopeCalendar)
	for i := 0; i < 3; i++ {
		e.do("POST", calEvents, tok, timed("E", t0, time.Hour))
	}
	_, syncTok, _ := e.fullSync(tok, "")
	st := url.QueryEscape(syncTok)

	for _, restricted := range []string{"timeMin=2026-01-01T00:00:00Z", "timeMax=2026-01-01T00:00:00Z", "privateExtendedProperty=a%3Db", "q=x", "updatedMin=2026-01-01T00:00:00Z", "orderBy=updated", "iCalUID=x", "showDeleted=false"} {
		r := e.do("GET", calEvents+"?syncToken="+st+"&"+restricted, tok, nil)
		if code, _, reason, _ := gerr(t, r); r.code != 400 || code != 400 || reason != "syncTokenWithRequestRestrictions" {
			t.Fatalf("syncToken with %s: %d %s", restricted, r.code, r.raw)
		}
	}
	// Bob cannot use Alice's token; garbage is not a token.
	for name, c := range map[string]struct{ tok, st string }{
		"other user": {e.token(bob, ScopeCalendar), st},
		"garbage":    {tok, "garbage"},
		"tampered":   {tok, url.QueryEscape(syncTok[:len(syncTok)-2] + "AA")},
	} {
		r := e.do("GET", calEvents+"?syncToken="+c.st, c.tok, nil)
		if _, _, reason, _ := gerr(t, r); r.code != 410 || reason != "fullSyncRequired" {
			t.Fatalf("%s: %d %s", name, r.code, r.raw)
		}
	}
	// Paging with a page token from a different query is refused.
	if r := e.do("GET", calEvents+"?showDeleted=true&syncToken="+st, tok, nil); r.code != 200 {
		t.Fatalf("syncToken with showDeleted=true: %d %s", r.code, r.raw)
	}
	r := e.do("GET", calEvents+"?maxResults=1", tok, nil)
	pt := url.QueryEscape(r.body["nextPageToken"].(string))
	if r := e.do("GET", calEvents+"?maxResults=2&pageToken="+pt, tok, nil); r.code != 400 {
		t.Fatalf("page token with changed params: %d", r.code)
	}
	if r := e.do("GET", calEvents+"?maxResults=1&pageToken="+pt, tok, nil); r.code != 200 {
		t.Fatalf("page token with same params: %d %s", r.code, r.raw)
	}
	// Server-side invalidation: 410 with the documented body, then a full sync recovers.
	if err := e.srv.InvalidateSyncTokens(alice); err != nil {
		t.Fatal(err)
	}
	r = e.do("GET", calEvents+"?syncToken="+st, tok, nil)
	code, status, reason, domain := gerr(t, r)
	msg := r.body["error"].(map[string]any)["message"]
	if r.code != 410 || code != 410 || reason != "fullSyncRequired" || domain != "calendar" || status == "" || msg != "Sync token is no longer valid, a full sync is required." {
		t.Fatalf("invalidated token: %d %s", r.code, r.raw)
	}
	_, fresh, _ := e.fullSync(tok, "")
	if r := e.do("GET", calEvents+"?syncToken="+url.QueryEscape(fresh), tok, nil); r.code != 200 {
		t.Fatalf("token after recovery: %d %s", r.code, r.raw)
	}
}

func TestListFilters(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(alice, ScopeCalendar)
	early := timed("early", t0, time.Hour)
	early["extendedProperties"] = map[string]any{"private": map[string]any{"syncgate": "1", "sfid": "A"}}
	late := timed("late", t0.Add(72*time.Hour), time.Hour)
	late["extendedProperties"] = map[string]any{"private": map[string]any{"syncgate": "1", "sfid": "B"}}
	e.do("POST", calEvents, tok, early)
	e.do("POST", calEvents, tok, late)
	e.do("POST", calEvents, tok, timed("untagged", t0.Add(time.Hour), time.Hour))

	count := func(q string) int {
		all, _, _ := e.fullSync(tok, q)
		return len(all)
	}
	tm := func(t time.Time) string { return url.QueryEscape(t.Format(time.RFC3339)) }
	if n := count("privateExtendedProperty=syncgate%3D1"); n != 2 {
		t.Fatalf("private property filter: %d", n)
	}
	if n := count("privateExtendedProperty=syncgate%3D1&privateExtendedProperty=sfid%3DB"); n != 1 {
		t.Fatalf("two property filters: %d", n)
	}
	if n := count("timeMin=" + tm(t0.Add(30*time.Minute)) + "&timeMax=" + tm(t0.Add(24*time.Hour))); n != 2 {
		t.Fatalf("time window: %d", n) // early overlaps the window, untagged inside it
	}
	if n := count("timeMin=" + tm(t0.Add(time.Hour))); n != 2 {
		t.Fatalf("timeMin at an event's end excludes it: %d", n)
	}
	r := e.do("GET", calEvents+"?timeMin="+tm(t0)+"&timeMax="+tm(t0), tok, nil)
	if _, _, reason, domain := gerr(t, r); r.code != 400 || reason != "timeRangeEmpty" || domain != "calendar" {
		t.Fatalf("empty range: %d %s", r.code, r.raw)
	}
	for _, bad := range []string{"timeMin=yesterday", "maxResults=0", "maxResults=x", "singleEvents=maybe", "orderBy=startTime"} {
		if r := e.do("GET", calEvents+"?"+bad, tok, nil); r.code != 400 {
			t.Fatalf("%s: %d", bad, r.code)
		}
	}
	all, _, _ := e.fullSync(tok, "singleEvents=true&orderBy=startTime")
	if len(all) != 3 || all[0]["summary"] != "early" || all[2]["summary"] != "late" {
		t.Fatalf("orderBy=startTime: %v", all)
	}
}

func TestRecurringEvents(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(alice, ScopeCalendar)
	series := map[string]any{"summary": "Standup",
		"start":      map[string]any{"dateTime": "2026-03-02T09:30:00+01:00", "timeZone": "Europe/Berlin"},
		"end":        map[string]any{"dateTime": "2026-03-02T09:45:00+01:00", "timeZone": "Europe/Berlin"},
		"recurrence": []string{"RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10"}}
	r := e.do("POST", calEvents, tok, series)
	if r.code != 200 {
		t.Fatalf("insert series: %d %s", r.code, r.raw)
	}
	mid := r.body["id"].(string)
	inst, syncTok, _ := e.fullSync(tok, "singleEvents=true")
	if len(inst) != 10 {
		t.Fatalf("instances: %d", len(inst))
	}
	// The 4th occurrence is Wednesday 11 March; Europe/Berlin is UTC+1 then.
	wantID := mid + "_20260311T083000Z"
	var found map[string]any
	for _, it := range inst {
		if it["recurringEventId"] != mid || it["originalStartTime"] == nil || it["recurrence"] != nil {
			t.Fatalf("instance shape: %v", it)
		}
		if it["id"] == wantID {
			found = it
		}
	}
	if found == nil || found["start"].(map[string]any)["dateTime"] != "2026-03-11T09:30:00+01:00" {
		t.Fatalf("instance %s missing or wrong: %v", wantID, found)
	}
	// DST: 30 March is after the switch to CEST, the wall clock stays 09:30.
	var lastWall string
	for _, it := range inst {
		if strings.HasPrefix(it["start"].(map[string]any)["dateTime"].(string), "2026-03-30") {
			lastWall = it["start"].(map[string]any)["dateTime"].(string)
		}
	}
	if lastWall != "2026-03-30T09:30:00+02:00" {
		t.Fatalf("DST: %s", lastWall)
	}

	// Cancel one instance and move another: both become exceptions.
	if d := e.do("DELETE", calEvents+"/"+wantID, tok, nil); d.code != 204 {
		t.Fatalf("delete instance: %d %s", d.code, d.raw)
	}
	moved := mid + "_20260304T083000Z"
	p := e.do("PATCH", calEvents+"/"+moved, tok, map[string]any{"summary": "Standup (moved)",
		"start": map[string]any{"dateTime": "2026-03-04T11:00:00+01:00", "timeZone": "Europe/Berlin"},
		"end":   map[string]any{"dateTime": "2026-03-04T11:15:00+01:00", "timeZone": "Europe/Berlin"}})
	if p.code != 200 || p.body["recurringEventId"] != mid {
		t.Fatalf("patch instance: %d %s", p.code, p.raw)
	}
	inst, _, _ = e.fullSync(tok, "singleEvents=true")
	if len(inst) != 9 {
		t.Fatalf("instances after cancelling one: %d", len(inst))
	}
	withDeleted, _, _ := e.fullSync(tok, "singleEvents=true&showDeleted=true")
	if len(withDeleted) != 10 {
		t.Fatalf("instances with showDeleted: %d", len(withDeleted))
	}
	// singleEvents=false: the series plus its exceptions; the cancelled one is
	// listed even without showDeleted, as documented.
	raw, _, _ := e.fullSync(tok, "")
	got := map[string]string{}
	for _, it := range raw {
		got[it["id"].(string)] = it["status"].(string)
	}
	if len(got) != 3 || got[mid] != "confirmed" || got[wantID] != "cancelled" || got[moved] != "confirmed" {
		t.Fatalf("singleEvents=false: %v", got)
	}
	// The incremental sync reports both exceptions as instances.
	changes, _, _ := e.fullSync(tok, "singleEvents=true&syncToken="+url.QueryEscape(syncTok))
	st := map[string]string{}
	for _, c := range changes {
		st[c["id"].(string)] = c["status"].(string)
	}
	if len(st) != 2 || st[wantID] != "cancelled" || st[moved] != "confirmed" {
		t.Fatalf("incremental after exceptions: %v", st)
	}
	if g := e.do("GET", calEvents+"/"+mid+"_20260302T083000Z", tok, nil); g.code != 200 || g.body["recurringEventId"] != mid {
		t.Fatalf("get computed instance: %d %s", g.code, g.raw)
	}
	if g := e.do("GET", calEvents+"/"+mid+"_20260303T083000Z", tok, nil); g.code != 404 {
		t.Fatalf("get non-occurrence: %d", g.code)
	}
	// Deleting the series cancels every instance.
	e.do("DELETE", calEvents+"/"+mid, tok, nil)
	if left, _, _ := e.fullSync(tok, "singleEvents=true"); len(left) != 0 {
		t.Fatalf("instances after deleting the series: %d", len(left))
	}
}

func TestAllDayRecurringInstances(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(alice, ScopeCalendar)
	r := e.do("POST", calEvents, tok, map[string]any{"summary": "Payday",
		"start": map[string]any{"date": "2026-01-31"}, "end": map[string]any{"date": "2026-02-01"},
		"recurrence": []string{"RRULE:FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=3"}})
	if r.code != 200 {
		t.Fatalf("insert: %d %s", r.code, r.raw)
	}
	inst, _, _ := e.fullSync(tok, "singleEvents=true&orderBy=startTime")
	var dates []string
	for _, it := range inst {
		dates = append(dates, it["start"].(map[string]any)["date"].(string))
	}
	if strings.Join(dates, ",") != "2026-01-31,2026-02-28,2026-03-31" {
		t.Fatalf("dates: %v", dates)
	}
	if !strings.HasSuffix(inst[1]["id"].(string), "_20260228") {
		t.Fatalf("all-day instance id: %s", inst[1]["id"])
	}
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t, Options{UserRatePerMinute: 3})
	ta, tb := e.token(alice, ScopeCalendar), e.token(bob, ScopeCalendar)
	for i := 0; i < 3; i++ {
		if r := e.do("GET", calEvents, ta, nil); r.code != 200 {
			t.Fatalf("call %d: %d", i, r.code)
		}
	}
	r := e.do("GET", calEvents, ta, nil)
	if _, _, reason, domain := gerr(t, r); r.code != 403 || reason != "rateLimitExceeded" || domain != "usageLimits" {
		t.Fatalf("over budget: %d %s", r.code, r.raw)
	}
	if r := e.do("GET", calEvents, tb, nil); r.code != 200 {
		t.Fatalf("another user is not throttled: %d", r.code)
	}
	e.clk.Advance(time.Minute)
	if r := e.do("GET", calEvents, ta, nil); r.code != 200 {
		t.Fatalf("next window: %d", r.code)
	}
	e.srv.SetFaults(Faults{RateLimit: 429})
	r = e.do("GET", calEvents, tb, nil)
	if _, _, reason, _ := gerr(t, r); r.code != 429 || reason != "rateLimitExceeded" || r.header.Get("Retry-After") == "" {
		t.Fatalf("forced 429: %d %s", r.code, r.raw)
	}
	r = e.do("GET", PeopleBase+"v1/people/me/connections?personFields=names", e.token(bob, ScopeContacts), nil)
	if _, status, _, _ := gerr(t, r); r.code != 429 || status != "RESOURCE_EXHAUSTED" {
		t.Fatalf("people forced 429: %d %s", r.code, r.raw)
	}
}

func TestFailureAndLatencyFaults(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(alice, ScopeCalendar)
	e.srv.SetFaults(Faults{FailNext: 2, FailStatus: 500, FailService: "calendar"})
	for i := 0; i < 2; i++ {
		r := e.do("GET", calEvents, tok, nil)
		if _, _, reason, _ := gerr(t, r); r.code != 500 || reason != "backendError" {
			t.Fatalf("injected failure %d: %d %s", i, r.code, r.raw)
		}
	}
	if r := e.do("GET", calEvents, tok, nil); r.code != 200 {
		t.Fatalf("after the injected failures: %d", r.code)
	}
	e.srv.SetFaults(Faults{FailNext: 1, FailService: "oauth"})
	code, body := e.postToken(url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(e.claims(alice, ScopeCalendar), e.key, "")}})
	if code != 503 || body["access_token"] != nil {
		t.Fatalf("token endpoint failure: %d %v", code, body)
	}

	e.srv.SetFaults(Faults{LatencyMS: 5000})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", calEvents, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := e.client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("request answered despite 5 s latency: %d", resp.StatusCode)
	}
}

func TestCalendarAccessIsPerUser(t *testing.T) {
	e := newEnv(t, Options{})
	ta := e.token(alice, ScopeCalendar)
	id := e.do("POST", calEvents, ta, timed("private", t0, time.Hour)).body["id"].(string)
	tb := e.token(bob, ScopeCalendar)
	if r := e.do("GET", calEvents+"/"+id, tb, nil); r.code != 404 {
		t.Fatalf("bob reads alice's event via primary: %d", r.code)
	}
	if r := e.do("GET", CalendarBase+"calendars/"+url.PathEscape(alice)+"/events", tb, nil); r.code != 404 {
		t.Fatalf("bob lists alice's calendar: %d", r.code)
	}
	if r := e.do("DELETE", CalendarBase+"calendars/"+url.PathEscape(alice)+"/events/"+id, tb, nil); r.code != 404 {
		t.Fatalf("bob deletes alice's event: %d", r.code)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, Options{UserRatePerMinute: -1})
	tok := e.token(alice, ScopeCalendar, ScopeContacts)
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 10; i++ {
				req, _ := http.NewRequest("POST", calEvents, strings.NewReader(`{"summary":"c","start":{"dateTime":"2026-03-03T10:00:00Z"},"end":{"dateTime":"2026-03-03T11:00:00Z"}}`))
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := e.client.Do(req)
				if err != nil {
					done <- err
					return
				}
				resp.Body.Close()
				req, _ = http.NewRequest("GET", calEvents+"?maxResults=5", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				if resp, err = e.client.Do(req); err != nil {
					done <- err
					return
				}
				resp.Body.Close()
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	all, _, _ := e.fullSync(tok, "")
	if len(all) != 80 {
		t.Fatalf("%d events after 80 concurrent inserts", len(all))
	}
}
