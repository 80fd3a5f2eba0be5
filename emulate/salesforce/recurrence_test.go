package salesforce

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestEventSeries(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	query := func(q string) []any {
		t.Helper()
		return e.do(t, "GET", v+"/query?"+url.Values{"q": {q}}.Encode(), nil).json(t)["records"].([]any)
	}
	// Weekly on Mondays at 09:00 Berlin, four times, across the EU switch
	// to summer time (29 March 2026).
	r := e.do(t, "POST", v+"/sobjects/Event", map[string]any{"Subject": "Standup", "StartDateTime": "2026-03-16T08:00:00Z",
		"EndDateTime": "2026-03-16T08:30:00Z", "IsRecurrence2": true, "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4",
		"Recurrence2PatternTimeZone": "Europe/Berlin"})
	if r.status != 201 {
		t.Fatalf("create series: %d %s", r.status, r.body)
	}
	series := r.json(t)["id"].(string)
	rows := query("SELECT Id, StartDateTime, RecurrenceActivityId, IsRecurrence2, IsRecurrence2Exception, Subject FROM Event WHERE RecurrenceActivityId = '" + series + "' ORDER BY StartDateTime")
	want := []string{"2026-03-16T08:00:00.000+0000", "2026-03-23T08:00:00.000+0000", "2026-03-30T07:00:00.000+0000", "2026-04-06T07:00:00.000+0000"}
	if len(rows) != len(want) {
		t.Fatalf("%d occurrences, want %d", len(rows), len(want))
	}
	for i, row := range rows {
		m := row.(map[string]any)
		if m["StartDateTime"] != want[i] || m["IsRecurrence2"] != false || m["IsRecurrence2Exception"] != false || m["Subject"] != "Standup" {
			t.Fatalf("occurrence %d: %v", i, m)
		}
	}
	sr := query("SELECT IsRecurrence2, Recurrence2PatternVersion, Recurrence2PatternStartDate, RecurrenceActivityId FROM Event WHERE Id = '" + series + "'")[0].(map[string]any)
	if sr["IsRecurrence2"] != true || sr["Recurrence2PatternVersion"] != "1" || sr["Recurrence2PatternStartDate"] != want[0] || sr["RecurrenceActivityId"] != nil {
		t.Fatalf("series record %v", sr)
	}
	occ := func(i int) string { return rows[i].(map[string]any)["Id"].(string) }
	// Move one occurrence: it becomes an exception. Cancel another.
	if r := e.do(t, "PATCH", v+"/sobjects/Event/"+occ(1), map[string]any{"StartDateTime": "2026-03-24T12:00:00Z"}); r.status != 204 {
		t.Fatalf("move: %d %s", r.status, r.body)
	}
	if r := e.do(t, "DELETE", v+"/sobjects/Event/"+occ(2), nil); r.status != 204 {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	// A new subject on the series reaches the occurrences that are not
	// exceptions.
	if r := e.do(t, "PATCH", v+"/sobjects/Event/"+series, map[string]any{"Subject": "Daily"}); r.status != 204 {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	got := map[string]string{}
	for _, o := range e.srv.Occurrences(series) {
		got[o["StartDateTime"].(time.Time).Format(time.RFC3339)] = o["Subject"].(string)
		if o["StartDateTime"].(time.Time).Equal(time.Date(2026, 3, 24, 12, 0, 0, 0, time.UTC)) && o["IsRecurrence2Exception"] != true {
			t.Fatal("moved occurrence not an exception")
		}
	}
	if len(got) != 3 || got["2026-03-16T08:00:00Z"] != "Daily" || got["2026-03-24T12:00:00Z"] != "Standup" || got["2026-04-06T07:00:00Z"] != "Daily" {
		t.Fatalf("occurrences %v", got)
	}
	// The deleted occurrence shows in queryAll.
	all := e.do(t, "GET", v+"/queryAll?"+url.Values{"q": {"SELECT Id, IsDeleted FROM Event WHERE RecurrenceActivityId = '" + series + "'"}}.Encode(), nil).json(t)["records"].([]any)
	if len(all) != 4 {
		t.Fatalf("queryAll: %d rows", len(all))
	}
	// A new pattern replaces every occurrence.
	if r := e.do(t, "PATCH", v+"/sobjects/Event/"+series, map[string]any{"Recurrence2PatternText": "RRULE:FREQ=DAILY;COUNT=2"}); r.status != 204 {
		t.Fatalf("re-pattern: %d %s", r.status, r.body)
	}
	if n := len(e.srv.Occurrences(series)); n != 2 {
		t.Fatalf("%d occurrences after re-pattern", n)
	}
	// Deleting the series deletes its occurrences.
	if r := e.do(t, "DELETE", v+"/sobjects/Event/"+series, nil); r.status != 204 {
		t.Fatalf("delete series: %d %s", r.status, r.body)
	}
	if n := len(e.srv.Occurrences(series)); n != 0 {
		t.Fatalf("%d occurrences after deleting the series", n)
	}
}

func TestEventSeriesErrors(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	base := func(extra map[string]any) map[string]any {
		m := map[string]any{"Subject": "S", "StartDateTime": "2026-03-16T08:00:00Z", "EndDateTime": "2026-03-16T08:30:00Z"}
		for k, x := range extra {
			m[k] = x
		}
		return m
	}
	for _, c := range []struct {
		body map[string]any
		code string
	}{
		{base(map[string]any{"IsRecurrence2": true}), "REQUIRED_FIELD_MISSING"},
		{base(map[string]any{"IsRecurrence2": true, "Recurrence2PatternText": "FREQ=DAILY"}), "FIELD_INTEGRITY_EXCEPTION"},
		{base(map[string]any{"IsRecurrence2": true, "Recurrence2PatternText": "RRULE:FREQ=HOURLY"}), "FIELD_INTEGRITY_EXCEPTION"},
		{base(map[string]any{"IsRecurrence2": true, "Recurrence2PatternText": "RRULE:FREQ=DAILY", "Recurrence2PatternTimeZone": "Mars/Base"}), "FIELD_INTEGRITY_EXCEPTION"},
		{base(map[string]any{"IsRecurrence2": true, "Recurrence2PatternText": "RRULE:FREQ=DAILY", "Recurrence2PatternVersion": "2"}), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"},
		{base(map[string]any{"Recurrence2PatternText": "RRULE:FREQ=DAILY"}), "FIELD_INTEGRITY_EXCEPTION"},
		{base(map[string]any{"IsRecurrence2Exception": true}), "INVALID_FIELD_FOR_INSERT_UPDATE"},
		{base(map[string]any{"RecurrenceActivityId": "00U5g0000000001"}), "INVALID_FIELD_FOR_INSERT_UPDATE"},
	} {
		if r := e.do(t, "POST", v+"/sobjects/Event", c.body); r.status != 400 || r.errCode(t) != c.code {
			t.Errorf("%v: %d %s, want %s", c.body, r.status, r.body, c.code)
		}
	}
	id := e.do(t, "POST", v+"/sobjects/Event", base(nil)).json(t)["id"].(string)
	if r := e.do(t, "PATCH", v+"/sobjects/Event/"+id, map[string]any{"IsRecurrence2": true, "Recurrence2PatternText": "RRULE:FREQ=DAILY"}); r.status != 400 || r.errCode(t) != "FIELD_INTEGRITY_EXCEPTION" {
		t.Errorf("single → series: %d %s", r.status, r.body)
	}
}

// An all-day series repeats its date, not the midnight-UTC instant it is
// stored at: its occurrences are all-day records on the rule's dates in
// summer and winter time alike (in a zone east and one west of UTC), as
// long as the series, up to a DATE UNTIL.
func TestAllDayEventSeries(t *testing.T) {
	for _, tz := range []string{"Europe/Berlin", "America/New_York"} {
		e := newEnv(t, Options{})
		e.login(t)
		r := e.do(t, "POST", v+"/sobjects/Event", map[string]any{"Subject": "Market", "IsAllDayEvent": true, "ActivityDate": "2026-03-21",
			"DurationInMinutes": 2880, "IsRecurrence2": true, "Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=SA;UNTIL=20260411",
			"Recurrence2PatternTimeZone": tz})
		if r.status != 201 {
			t.Fatalf("create all-day series: %d %s", r.status, r.body)
		}
		series := r.json(t)["id"].(string)
		var got []string
		for _, o := range e.srv.Occurrences(series) {
			st := o["StartDateTime"].(time.Time)
			if o["IsAllDayEvent"] != true || o["DurationInMinutes"] != 2880 || !st.Equal(o["ActivityDate"].(time.Time)) {
				t.Fatalf("%s: occurrence %v", tz, o)
			}
			got = append(got, st.UTC().Format(time.RFC3339))
		}
		want := "2026-03-21T00:00:00Z 2026-03-28T00:00:00Z 2026-04-04T00:00:00Z 2026-04-11T00:00:00Z"
		if strings.Join(got, " ") != want {
			t.Errorf("%s:\n got %s\nwant %s", tz, strings.Join(got, " "), want)
		}
	}
}
