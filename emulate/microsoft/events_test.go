package microsoft

import (
	"sort"
	"strings"
	"testing"
	"time"
)

func sampleEvent(subject, start, end string) map[string]any {
	return map[string]any{
		"subject":  subject,
		"body":     map[string]any{"contentType": "HTML", "content": "Agenda"},
		"start":    map[string]any{"dateTime": start, "timeZone": "UTC"},
		"end":      map[string]any{"dateTime": end, "timeZone": "UTC"},
		"location": map[string]any{"displayName": "Room 1"},
	}
}

func TestEventsCRUD(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	base := userURL(aliceID, "events")
	ev := sampleEvent("Plan", "2026-11-23T10:00:00", "2026-11-23T11:00:00")
	ev["start"] = map[string]any{"dateTime": "2026-11-23T11:00:00", "timeZone": "Europe/Berlin"}
	ev["end"] = map[string]any{"dateTime": "2026-11-23T12:00:00", "timeZone": "W. Europe Standard Time"}
	r := e.do("POST", base, tok, ev)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id, et := r.str("id"), r.str("@odata.etag")
	if r.str("type") != "singleInstance" || r.str("start", "dateTime") != "2026-11-23T10:00:00.0000000" || r.str("start", "timeZone") != "UTC" {
		t.Fatalf("create response: %s", r.raw)
	}
	if r.str("originalStartTimeZone") != "Europe/Berlin" {
		t.Fatalf("originalStartTimeZone: %s", r.str("originalStartTimeZone"))
	}
	// /calendar/events is the same collection.
	if g := e.do("GET", userURL(aliceID, "calendar", "events", id), tok, nil); g.status != 200 || g.str("subject") != "Plan" {
		t.Fatalf("get via /calendar/events: %d %s", g.status, g.raw)
	}
	p := e.do("PATCH", base+"/"+id, tok, map[string]any{"subject": "Plan v2"}, "If-Match", et)
	if p.status != 200 || p.str("subject") != "Plan v2" || p.str("changeKey") == r.str("changeKey") {
		t.Fatalf("patch: %d %s", p.status, p.raw)
	}
	checkGraphError(t, e.do("PATCH", base+"/"+id, tok, map[string]any{"subject": "lost update"}, "If-Match", et), 412, "ErrorIrresolvableConflict")
	if p2 := e.do("PATCH", base+"/"+id, tok, map[string]any{"subject": "star"}, "If-Match", "*"); p2.status != 200 {
		t.Fatalf("If-Match * : %d", p2.status)
	}
	list := e.do("GET", base+"?$select=subject", tok, nil)
	if len(list.list()) != 1 || list.list()[0]["subject"] != "star" {
		t.Fatalf("list: %s", list.raw)
	}
	if d := e.do("DELETE", base+"/"+id, tok, nil); d.status != 204 {
		t.Fatalf("delete: %d", d.status)
	}
	checkGraphError(t, e.do("GET", base+"/"+id, tok, nil), 404, "ErrorItemNotFound")

	bad := map[string]map[string]any{
		"end before start": sampleEvent("x", "2026-11-23T10:00:00", "2026-11-23T09:00:00"),
		"no start":         {"subject": "x", "end": map[string]any{"dateTime": "2026-11-23T10:00:00", "timeZone": "UTC"}},
		"bad time zone":    {"start": map[string]any{"dateTime": "2026-11-23T10:00:00", "timeZone": "Mars/Olympus"}, "end": map[string]any{"dateTime": "2026-11-23T10:00:00", "timeZone": "UTC"}},
		"bad date":         sampleEvent("x", "23/11/2026", "2026-11-23T09:00:00"),
		"monthly without dayOfMonth": withRecurrence(sampleEvent("x", "2026-11-23T10:00:00", "2026-11-23T11:00:00"),
			map[string]any{"type": "absoluteMonthly", "interval": 1}, map[string]any{"type": "noEnd", "startDate": "2026-11-23"}),
		"relative with a bad index": withRecurrence(sampleEvent("x", "2026-11-23T10:00:00", "2026-11-23T11:00:00"),
			map[string]any{"type": "relativeMonthly", "interval": 1, "daysOfWeek": []any{"monday"}, "index": "fifth"}, map[string]any{"type": "noEnd", "startDate": "2026-11-23"}),
		"hourly pattern": withRecurrence(sampleEvent("x", "2026-11-23T10:00:00", "2026-11-23T11:00:00"),
			map[string]any{"type": "hourly", "interval": 1}, map[string]any{"type": "noEnd", "startDate": "2026-11-23"}),
		"weekly without days": withRecurrence(sampleEvent("x", "2026-11-23T10:00:00", "2026-11-23T11:00:00"),
			map[string]any{"type": "weekly", "interval": 1}, map[string]any{"type": "noEnd", "startDate": "2026-11-23"}),
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			r := e.do("POST", base, tok, b)
			if r.status != 400 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			checkGraphError(t, r, 400, r.str("error", "code"))
		})
	}
	if evs, _ := e.s.Events(aliceID); len(evs) != 0 {
		t.Fatalf("rejected events were stored: %d", len(evs))
	}
}

func withRecurrence(ev map[string]any, pattern, rng map[string]any) map[string]any {
	ev["recurrence"] = map[string]any{"pattern": pattern, "range": rng}
	return ev
}

func TestEventTransactionIDIdempotency(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	ev := sampleEvent("Once", "2026-11-24T10:00:00", "2026-11-24T10:30:00")
	ev["transactionId"] = "7E163156-7762-4BEB-A1C6-729EA81755A7"
	r1 := e.do("POST", userURL(aliceID, "events"), tok, ev)
	r2 := e.do("POST", userURL(aliceID, "events"), tok, ev)
	if r1.status != 201 || r2.status != 201 {
		t.Fatalf("creates: %d %d", r1.status, r2.status)
	}
	if r1.str("id") != r2.str("id") || r2.str("transactionId") != ev["transactionId"] {
		t.Fatalf("retry made a different event: %s vs %s", r1.str("id"), r2.str("id"))
	}
	ev["transactionId"] = "another"
	r3 := e.do("POST", userURL(aliceID, "events"), tok, ev)
	if r3.str("id") == r1.str("id") {
		t.Fatal("a different transactionId returned the same event")
	}
	// The same transactionId in another mailbox is independent.
	ev["transactionId"] = "7E163156-7762-4BEB-A1C6-729EA81755A7"
	if r4 := e.do("POST", userURL(carolID, "events"), tok, ev); r4.str("id") == r1.str("id") {
		t.Fatal("transactionId leaked across mailboxes")
	}
	if evs, _ := e.s.Events(aliceID); len(evs) != 2 {
		t.Fatalf("alice has %d events, want 2", len(evs))
	}
}

// seedSeries makes, for alice: a weekly Mon/Wed/Fri series of six from
// Mon 2026-11-23 10:00 UTC, and a single event on Tue 2026-11-24.
func seedSeries(t *testing.T, e *env) (master, single string) {
	t.Helper()
	ev := withRecurrence(sampleEvent("Standup", "2026-11-23T10:00:00", "2026-11-23T10:15:00"),
		map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"monday", "wednesday", "friday"}, "firstDayOfWeek": "sunday"},
		map[string]any{"type": "numbered", "startDate": "2026-11-23", "numberOfOccurrences": 6})
	m, err := e.s.AddEvent(aliceID, ev)
	must(t, err)
	if m["type"] != "seriesMaster" {
		t.Fatalf("series type %v", m["type"])
	}
	s, err := e.s.AddEvent(aliceID, sampleEvent("One-off", "2026-11-24T15:00:00", "2026-11-24T16:00:00"))
	must(t, err)
	return m["id"].(string), s["id"].(string)
}

func TestCalendarViewDelta(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	master, single := seedSeries(t, e)
	occ := func(day string) string { return master + "." + day + "T100000Z" }

	// Wednesday's occurrence becomes an exception; Friday's is cancelled.
	p := e.do("PATCH", userURL(aliceID, "events", occ("20261125")), tok, map[string]any{"subject": "Standup (moved)",
		"start": map[string]any{"dateTime": "2026-11-25T11:00:00", "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": "2026-11-25T11:15:00", "timeZone": "UTC"}})
	if p.status != 200 || p.str("type") != "exception" || p.str("seriesMasterId") != master || p.str("originalStart") != "2026-11-25T10:00:00Z" {
		t.Fatalf("exception: %d %s", p.status, p.raw)
	}
	if d := e.do("DELETE", userURL(aliceID, "events", occ("20261127")), tok, nil); d.status != 204 {
		t.Fatalf("cancel occurrence: %d %s", d.status, d.raw)
	}
	checkGraphError(t, e.do("GET", userURL(aliceID, "events", occ("20261127")), tok, nil), 404, "ErrorItemNotFound")
	checkGraphError(t, e.do("GET", userURL(aliceID, "events", occ("20261126")), tok, nil), 404, "ErrorItemNotFound")

	start := userURL(aliceID, "calendarView", "delta") + "?startDateTime=2026-11-22T00:00:00Z&endDateTime=2026-12-06T00:00:00Z"
	items, _, dl := e.followDelta(start, tok, 2)
	byID := map[string]map[string]any{}
	var types []string
	for _, it := range items {
		byID[it["id"].(string)] = it
		types = append(types, it["type"].(string))
	}
	sort.Strings(types)
	// Occurrences Mon 23, Mon 30, Wed 2, Fri 4; the exception; the single; the master.
	want := "exception,occurrence,occurrence,occurrence,occurrence,seriesMaster,singleInstance"
	if strings.Join(types, ",") != want || len(byID) != 7 {
		t.Fatalf("types %v, want %s", types, want)
	}
	for _, d := range []string{"20261123", "20261130", "20261202", "20261204"} {
		o := byID[occ(d)]
		if o == nil || o["seriesMasterId"] != master || o["type"] != "occurrence" {
			t.Fatalf("occurrence %s: %v", d, o)
		}
	}
	if x := byID[occ("20261125")]; x["subject"] != "Standup (moved)" || x["start"].(map[string]any)["dateTime"] != "2026-11-25T11:00:00.0000000" {
		t.Fatalf("exception in view: %v", x)
	}
	if byID[occ("20261127")] != nil {
		t.Fatal("cancelled occurrence in view")
	}

	// Changes: Monday 30 becomes an exception, the single event is deleted,
	// a new event appears outside the window (not reported).
	if _, err := e.s.UpdateEvent(aliceID, occ("20261130"), map[string]any{"subject": "Retro"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteEvent(aliceID, single); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.AddEvent(aliceID, sampleEvent("Later", "2027-01-10T10:00:00", "2027-01-10T11:00:00")); err != nil {
		t.Fatal(err)
	}
	items, _, dl2 := e.followDelta(dl, tok, 0)
	byID = map[string]map[string]any{}
	for _, it := range items {
		byID[it["id"].(string)] = it
	}
	if len(items) != 2 {
		t.Fatalf("want 2 changes, got %d: %v", len(items), items)
	}
	if x := byID[occ("20261130")]; x == nil || x["type"] != "exception" || x["subject"] != "Retro" {
		t.Fatalf("new exception: %v", x)
	}
	if rm, _ := byID[single]["@removed"].(map[string]any); rm["reason"] != "deleted" {
		t.Fatalf("deleted single: %v", byID[single])
	}

	// Moving the exception out of the window reports it removed ("changed").
	if _, err := e.s.UpdateEvent(aliceID, occ("20261130"), map[string]any{
		"start": map[string]any{"dateTime": "2026-12-20T10:00:00", "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": "2026-12-20T11:00:00", "timeZone": "UTC"}}); err != nil {
		t.Fatal(err)
	}
	items, _, _ = e.followDelta(dl2, tok, 0)
	if len(items) != 1 {
		t.Fatalf("want 1 change, got %v", items)
	}
	if rm, _ := items[0]["@removed"].(map[string]any); items[0]["id"] != occ("20261130") || rm["reason"] != "changed" {
		t.Fatalf("moved-out exception: %v", items[0])
	}

	checkGraphError(t, e.do("GET", userURL(aliceID, "calendarView", "delta"), tok, nil), 400, "ErrorInvalidParameter")
}

func TestCalendarViewAndInstances(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	master, _ := seedSeries(t, e)
	r := e.do("GET", userURL(aliceID, "calendarView")+"?startdatetime=2026-11-23T00:00:00&enddatetime=2026-11-26T00:00:00&$top=50", tok, nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	var got []string
	for _, it := range r.list() {
		got = append(got, it["type"].(string)+"@"+it["start"].(map[string]any)["dateTime"].(string)[:16])
	}
	want := "occurrence@2026-11-23T10:00,singleInstance@2026-11-24T15:00,occurrence@2026-11-25T10:00"
	if strings.Join(got, ",") != want {
		t.Fatalf("calendarView %v, want %s", got, want)
	}
	in := e.do("GET", userURL(aliceID, "events", master, "instances")+"?startDateTime=2026-11-01T00:00:00Z&endDateTime=2027-01-01T00:00:00Z", tok, nil)
	if n := len(in.list()); n != 6 {
		t.Fatalf("instances: %d, want 6 (%s)", n, in.raw)
	}
	// Re-patterning the series drops its exceptions.
	if _, err := e.s.UpdateEvent(aliceID, master+".20261123T100000Z", map[string]any{"subject": "x"}); err != nil {
		t.Fatal(err)
	}
	p := e.do("PATCH", userURL(aliceID, "events", master), tok, map[string]any{"recurrence": map[string]any{
		"pattern": map[string]any{"type": "daily", "interval": 1},
		"range":   map[string]any{"type": "numbered", "startDate": "2026-11-23", "numberOfOccurrences": 2}}})
	if p.status != 200 {
		t.Fatalf("re-pattern: %d %s", p.status, p.raw)
	}
	in = e.do("GET", userURL(aliceID, "events", master, "instances")+"?startDateTime=2026-11-01T00:00:00Z&endDateTime=2027-01-01T00:00:00Z", tok, nil)
	for _, it := range in.list() {
		if it["type"] != "occurrence" {
			t.Fatalf("exception survived re-patterning: %v", it)
		}
	}
	if len(in.list()) != 2 {
		t.Fatalf("instances after re-pattern: %d", len(in.list()))
	}
}

func TestRecurrenceExpansion(t *testing.T) {
	day := func(s string) time.Time { d, _ := time.Parse("2006-01-02T15:04", s); return d }
	tests := []struct {
		name    string
		start   map[string]any
		pattern map[string]any
		rng     map[string]any
		until   string
		want    []string // UTC
	}{
		{"daily every 2 days to end date", map[string]any{"dateTime": "2026-11-20T09:00:00", "timeZone": "UTC"},
			map[string]any{"type": "daily", "interval": 2.0}, map[string]any{"type": "endDate", "startDate": "2026-11-20", "endDate": "2026-11-26"},
			"2027-01-01T00:00", []string{"2026-11-20T09:00", "2026-11-22T09:00", "2026-11-24T09:00", "2026-11-26T09:00"}},
		{"weekly every 2 weeks, Tue/Thu, numbered", map[string]any{"dateTime": "2026-11-17T08:00:00", "timeZone": "UTC"},
			map[string]any{"type": "weekly", "interval": 2.0, "daysOfWeek": []any{"tuesday", "thursday"}, "firstDayOfWeek": "monday"},
			map[string]any{"type": "numbered", "startDate": "2026-11-17", "numberOfOccurrences": 5.0},
			"2027-01-01T00:00", []string{"2026-11-17T08:00", "2026-11-19T08:00", "2026-12-01T08:00", "2026-12-03T08:00", "2026-12-15T08:00"}},
		{"no end stops at until", map[string]any{"dateTime": "2026-11-20T09:00:00", "timeZone": "UTC"},
			map[string]any{"type": "daily"}, map[string]any{"type": "noEnd", "startDate": "2026-11-20"},
			"2026-11-22T09:00", []string{"2026-11-20T09:00", "2026-11-21T09:00"}},
		{"local time across DST end", map[string]any{"dateTime": "2026-10-30T09:00:00", "timeZone": "America/New_York"},
			map[string]any{"type": "daily"}, map[string]any{"type": "numbered", "startDate": "2026-10-30", "numberOfOccurrences": 4.0},
			"2027-01-01T00:00", []string{"2026-10-30T13:00", "2026-10-31T13:00", "2026-11-01T14:00", "2026-11-02T14:00"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, tz, err := parseDateTimeTimeZone(tc.start)
			must(t, err)
			rc, err := parseRecurrence(map[string]any{"pattern": tc.pattern, "range": tc.rng}, tz)
			must(t, err)
			var got []string
			rc.each(st, day(tc.until), func(o time.Time) bool { got = append(got, o.UTC().Format("2006-01-02T15:04")); return true })
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestDeleteExceptionAndSeries(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	master, _ := seedSeries(t, e)
	occ := master + ".20261130T100000Z"
	x := e.do("PATCH", userURL(aliceID, "events", occ), tok, map[string]any{"subject": "special"})
	if x.status != 200 || x.str("type") != "exception" {
		t.Fatalf("make exception: %d %s", x.status, x.raw)
	}
	// A stale etag on the exception is refused; the current one works.
	checkGraphError(t, e.do("DELETE", userURL(aliceID, "events", occ), tok, nil, "If-Match", `W/"stale"`), 412, "ErrorIrresolvableConflict")
	if d := e.do("DELETE", userURL(aliceID, "events", occ), tok, nil, "If-Match", x.str("@odata.etag")); d.status != 204 {
		t.Fatalf("delete exception: %d %s", d.status, d.raw)
	}
	// Deleting an exception cancels that occurrence: it does not come back.
	checkGraphError(t, e.do("GET", userURL(aliceID, "events", occ), tok, nil), 404, "ErrorItemNotFound")
	window := "?startDateTime=2026-11-01T00:00:00Z&endDateTime=2027-01-01T00:00:00Z"
	in := e.do("GET", userURL(aliceID, "events", master, "instances")+window, tok, nil)
	if len(in.list()) != 5 {
		t.Fatalf("instances after deleting an exception: %d, want 5", len(in.list()))
	}
	start := userURL(aliceID, "calendarView", "delta") + window
	_, _, dl := e.followDelta(start, tok, 0)
	if d := e.do("DELETE", userURL(aliceID, "events", master), tok, nil); d.status != 204 {
		t.Fatalf("delete series: %d", d.status)
	}
	items, _, _ := e.followDelta(dl, tok, 0)
	// Five occurrences and the master are reported removed.
	if len(items) != 6 {
		t.Fatalf("removals after deleting the series: %d, want 6: %v", len(items), items)
	}
	for _, it := range items {
		if rm, _ := it["@removed"].(map[string]any); rm["reason"] != "deleted" {
			t.Fatalf("not a deletion: %v", it)
		}
	}
	checkGraphError(t, e.do("GET", userURL(aliceID, "events", master, "instances")+window, tok, nil), 404, "ErrorItemNotFound")
	checkGraphError(t, e.do("PUT", userURL(aliceID, "events"), tok, nil), 405, "BadRequest")
}
