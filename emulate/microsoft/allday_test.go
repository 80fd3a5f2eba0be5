package microsoft

import (
	"testing"
	"time"
)

// isAllDay events must start and end at midnight in one time zone (event
// resource, isAllDay); an all-day series' occurrences are whole days in
// the series zone, also on the days daylight saving changes, and an
// occurrence edited without new times keeps its midnights there.
func TestAllDayEvents(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	base := userURL(aliceID, "events")
	allDay := func(start, sz, end, ez string) map[string]any {
		ev := sampleEvent("Holiday", start, end)
		ev["start"] = map[string]any{"dateTime": start, "timeZone": sz}
		ev["end"] = map[string]any{"dateTime": end, "timeZone": ez}
		ev["isAllDay"] = true
		return ev
	}
	for name, ev := range map[string]map[string]any{
		"start not midnight": allDay("2026-11-23T09:00:00", "UTC", "2026-11-24T00:00:00", "UTC"),
		"end not midnight":   allDay("2026-11-23T00:00:00", "Europe/Berlin", "2026-11-23T23:59:00", "Europe/Berlin"),
		"two zones":          allDay("2026-11-23T00:00:00", "Europe/Berlin", "2026-11-24T00:00:00", "UTC"),
		"no length":          allDay("2026-11-23T00:00:00", "UTC", "2026-11-23T00:00:00", "UTC"),
	} {
		r := e.do("POST", base, tok, ev)
		if r.status != 400 {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	if r := e.do("POST", base, tok, allDay("2026-11-23T00:00:00", "Europe/Berlin", "2026-11-24T00:00:00", "W. Europe Standard Time")); r.status != 201 {
		t.Fatalf("a valid all-day event: %d %s", r.status, r.raw)
	}
	// Sundays in Berlin, over the day summer time ends (25 October, 25 h).
	ev := allDay("2026-10-18T00:00:00", "Europe/Berlin", "2026-10-19T00:00:00", "Europe/Berlin")
	ev["recurrence"] = map[string]any{"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"sunday"}},
		"range": map[string]any{"type": "numbered", "startDate": "2026-10-18", "numberOfOccurrences": 3, "recurrenceTimeZone": "Europe/Berlin"}}
	r := e.do("POST", base, tok, ev)
	if r.status != 201 {
		t.Fatalf("series: %d %s", r.status, r.raw)
	}
	master := r.str("id")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	inst := e.do("GET", base+"/"+master+"/instances?startDateTime=2026-10-01T00:00:00Z&endDateTime=2026-12-01T00:00:00Z", tok, nil).list()
	if len(inst) != 3 {
		t.Fatalf("%d instances", len(inst))
	}
	for _, in := range inst {
		st, _ := time.Parse("2006-01-02T15:04:05.9999999", in["start"].(map[string]any)["dateTime"].(string))
		en, _ := time.Parse("2006-01-02T15:04:05.9999999", in["end"].(map[string]any)["dateTime"].(string))
		ls, le := st.In(berlin), en.In(berlin)
		if ls.Hour() != 0 || le.Hour() != 0 || le.Day() == ls.Day() || ls.Weekday() != time.Sunday {
			t.Errorf("occurrence %s .. %s in Berlin", ls, le)
		}
	}
	// 25 October edited (subject only): still midnight to midnight there.
	occ := master + "." + time.Date(2026, 10, 25, 0, 0, 0, 0, berlin).UTC().Format("20060102T150405Z")
	p := e.do("PATCH", base+"/"+occ, tok, map[string]any{"subject": "Holiday (edited)"})
	if p.status != 200 {
		t.Fatalf("edit occurrence: %d %s", p.status, p.raw)
	}
	st, _ := time.Parse("2006-01-02T15:04:05.9999999", p.str("start", "dateTime"))
	en, _ := time.Parse("2006-01-02T15:04:05.9999999", p.str("end", "dateTime"))
	if ls, le := st.In(berlin), en.In(berlin); ls.Format("01-02T15") != "10-25T00" || le.Format("01-02T15") != "10-26T00" {
		t.Fatalf("edited occurrence %s .. %s in Berlin", ls, le)
	}
}
