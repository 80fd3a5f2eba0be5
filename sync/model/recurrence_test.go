package model

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no tzdata for %s: %v", name, err)
	}
	return l
}

func series(t *testing.T, rrule, tz string, start time.Time, dur time.Duration) *Event {
	t.Helper()
	r, err := ParseRRULE(rrule, tz)
	if err != nil {
		t.Fatalf("ParseRRULE(%q): %v", rrule, err)
	}
	return &Event{Subject: "S", Start: start.UTC(), End: start.Add(dur).UTC(), Recurrence: r, Series: "master"}
}

func localStarts(t *testing.T, ev *Event, from, to time.Time, loc *time.Location, layout string) []string {
	t.Helper()
	occ, err := ev.Occurrences(from, to)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range occ {
		out = append(out, o.Start.In(loc).Format(layout))
	}
	return out
}

var year2026 = [2]time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}

// The weeks when US and EU daylight saving differ (2026: US from 8 March,
// EU from 29 March; EU back on 25 October, US on 1 November) must not
// shift occurrences in the series' own zone.
func TestRecurrenceDSTWeeks(t *testing.T) {
	for _, tz := range []string{"Europe/Berlin", "America/New_York", "Europe/London", "Australia/Sydney"} {
		loc := mustLoc(t, tz)
		ev := series(t, "FREQ=WEEKLY;BYDAY=MO,WE", tz, time.Date(2026, 1, 5, 9, 30, 0, 0, loc), time.Hour)
		occ, err := ev.Occurrences(year2026[0], year2026[1])
		if err != nil {
			t.Fatal(err)
		}
		if len(occ) != 104 {
			t.Errorf("%s: %d occurrences in 2026, want 104", tz, len(occ))
		}
		for _, o := range occ {
			l := o.Start.In(loc)
			if h, m, _ := l.Clock(); h != 9 || m != 30 || (l.Weekday() != time.Monday && l.Weekday() != time.Wednesday) {
				t.Errorf("%s: occurrence at %s", tz, l.Format(time.RFC1123Z))
			}
			if o.End.Sub(o.Start) != time.Hour {
				t.Errorf("%s: duration %s", tz, o.End.Sub(o.Start))
			}
			if o.OriginalStart != o.Start.UTC().Format(time.RFC3339) {
				t.Errorf("key %s for %s", o.OriginalStart, o.Start)
			}
		}
	}
	// The UTC instants around the EU switch, for a Berlin series: 08:30Z
	// until 29 March, then 07:30Z; New York's switch on 8 March does not
	// move them.
	loc := mustLoc(t, "Europe/Berlin")
	ev := series(t, "FREQ=WEEKLY;BYDAY=MO,WE", "Europe/Berlin", time.Date(2026, 1, 5, 9, 30, 0, 0, loc), time.Hour)
	got := strings.Join(localStarts(t, ev, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 3, 0, 0, 0, 0, time.UTC), time.UTC, "01-02T15:04"), " ")
	want := "03-02T08:30 03-04T08:30 03-09T08:30 03-11T08:30 03-16T08:30 03-18T08:30 03-23T08:30 03-25T08:30 03-30T07:30 04-01T07:30"
	if got != want {
		t.Errorf("Berlin March:\n got %s\nwant %s", got, want)
	}
}

func TestRecurrenceGoldenYear(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	cases := []struct {
		name, rule string
		start      time.Time
		want       string // local dates (and times) in 2026
	}{
		{"last friday", "FREQ=MONTHLY;BYDAY=-1FR", time.Date(2026, 1, 30, 15, 0, 0, 0, ny),
			"01-30 02-27 03-27 04-24 05-29 06-26 07-31 08-28 09-25 10-30 11-27 12-25"},
		{"last weekday", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", time.Date(2026, 1, 30, 15, 0, 0, 0, ny),
			"01-30 02-27 03-31 04-30 05-29 06-30 07-31 08-31 09-30 10-30 11-30 12-31"},
		{"31st skips short months", "FREQ=MONTHLY;BYMONTHDAY=31", time.Date(2026, 1, 31, 8, 0, 0, 0, ny),
			"01-31 03-31 05-31 07-31 08-31 10-31 12-31"},
		{"second tuesday every 2 months", "FREQ=MONTHLY;INTERVAL=2;BYDAY=2TU", time.Date(2026, 1, 13, 8, 0, 0, 0, ny),
			"01-13 03-10 05-12 07-14 09-08 11-10"},
		{"every other week tue thu count 10", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=10", time.Date(2026, 2, 3, 8, 0, 0, 0, ny),
			"02-03 02-05 02-17 02-19 03-03 03-05 03-17 03-19 03-31 04-02"},
		{"daily until", "FREQ=DAILY;INTERVAL=3;UNTIL=20260315T120000Z", time.Date(2026, 3, 1, 8, 0, 0, 0, ny),
			"03-01 03-04 03-07 03-10 03-13"},
		{"yearly nth weekday", "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", time.Date(2020, 11, 26, 12, 0, 0, 0, ny),
			"11-26"},
		{"yearly default", "FREQ=YEARLY", time.Date(2019, 7, 4, 12, 0, 0, 0, ny), "07-04"},
		{"first monday", "FREQ=MONTHLY;BYDAY=1MO;COUNT=4", time.Date(2026, 3, 2, 8, 0, 0, 0, ny), "03-02 04-06 05-04 06-01"},
	}
	for _, c := range cases {
		ev := series(t, c.rule, "America/New_York", c.start, 30*time.Minute)
		got := localStarts(t, ev, year2026[0], year2026[1], ny, "01-02")
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s (%s):\n got %s\nwant %s", c.name, c.rule, strings.Join(got, " "), c.want)
		}
		for _, o := range localStarts(t, ev, year2026[0], year2026[1], ny, "15:04") {
			if o != c.start.Format("15:04") {
				t.Errorf("%s: local time %s", c.name, o)
			}
		}
	}
	// 29 February only in leap years.
	ev := series(t, "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "", time.Date(2024, 2, 29, 10, 0, 0, 0, time.UTC), time.Hour)
	got := localStarts(t, ev, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2033, 1, 1, 0, 0, 0, 0, time.UTC), time.UTC, "2006-01-02")
	if strings.Join(got, " ") != "2024-02-29 2028-02-29 2032-02-29" {
		t.Errorf("leap day: %v", got)
	}
}

// A series that started long before the window still has its occurrences
// in the window, and COUNT is counted from the first occurrence.
func TestRecurrenceLongRunning(t *testing.T) {
	ev := series(t, "FREQ=WEEKLY;BYDAY=FR", "Europe/Paris", time.Date(2015, 1, 2, 10, 0, 0, 0, mustLoc(t, "Europe/Paris")), time.Hour)
	occ, err := ev.Occurrences(year2026[0], year2026[1])
	if err != nil || len(occ) != 52 {
		t.Fatalf("%d occurrences, %v", len(occ), err)
	}
	ev = series(t, "FREQ=WEEKLY;BYDAY=FR;COUNT=3", "Europe/Paris", time.Date(2015, 1, 2, 10, 0, 0, 0, mustLoc(t, "Europe/Paris")), time.Hour)
	if occ, _ := ev.Occurrences(year2026[0], year2026[1]); len(occ) != 0 {
		t.Fatalf("COUNT=3 from 2015 has %d occurrences in 2026", len(occ))
	}
}

func TestRecurrenceExceptions(t *testing.T) {
	ev := series(t, "FREQ=WEEKLY;BYDAY=TU;COUNT=4", "", time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC), time.Hour)
	ev.Recurrence.Exceptions = []Exception{
		{OriginalStart: "2026-06-16T09:00:00Z", Cancelled: true, Subject: "ignored"},
		{OriginalStart: "2026-06-09T09:00:00Z", Start: time.Date(2026, 6, 10, 14, 0, 0, 0, time.UTC), End: time.Date(2026, 6, 10, 15, 0, 0, 0, time.UTC), Subject: "moved"},
	}
	occ, err := ev.Occurrences(year2026[0], year2026[1])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range occ {
		got = append(got, o.Start.Format("01-02T15")+"/"+o.Subject+"/"+o.OriginalStart[5:10])
	}
	if want := "06-02T09/S/06-02 06-10T14/moved/06-09 06-23T09/S/06-23"; strings.Join(got, " ") != want {
		t.Errorf("got %s want %s", strings.Join(got, " "), want)
	}
	keys, _ := ev.OriginalStarts(year2026[0], year2026[1])
	if len(keys) != 4 {
		t.Errorf("original starts %v", keys)
	}
}

func TestRecurrenceAllDay(t *testing.T) {
	r, _ := ParseRRULE("FREQ=MONTHLY;BYMONTHDAY=1;UNTIL=20260401", "America/Los_Angeles")
	ev := &Event{AllDay: true, StartDate: "2026-01-01", EndDate: "2026-01-02", Recurrence: r}
	occ, err := ev.Occurrences(year2026[0], year2026[1])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range occ {
		got = append(got, o.StartDate+"/"+o.EndDate)
	}
	if want := "2026-01-01/2026-01-02 2026-02-01/2026-02-02 2026-03-01/2026-03-02 2026-04-01/2026-04-02"; strings.Join(got, " ") != want {
		t.Errorf("got %v", got)
	}
}

func TestRecurrenceHashRoundTrip(t *testing.T) {
	a := series(t, "FREQ=WEEKLY;INTERVAL=1;BYDAY=WE,MO;WKST=SU", "Europe/Berlin", time.Date(2026, 1, 5, 9, 0, 0, 0, mustLoc(t, "Europe/Berlin")), time.Hour)
	b, err := ParseRRULE(a.Recurrence.RRULE(), "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	if got := b.RRULE(); got != "FREQ=WEEKLY;BYDAY=MO,WE" {
		t.Errorf("RRULE %q", got)
	}
	be := *a
	be.Recurrence = b
	ia, ib := &Item{Event: a}, &Item{Event: &be}
	if ia.Hash() != ib.Hash() {
		t.Error("round trip changes the hash")
	}
	// An exception that overrides nothing, or "moves" to the rule's own
	// time, is no change; a cancellation is.
	be.Recurrence = b.Clone()
	be.Recurrence.Exceptions = []Exception{{OriginalStart: "2026-01-07T08:00:00Z", Start: time.Date(2026, 1, 7, 8, 0, 0, 0, time.UTC), End: time.Date(2026, 1, 7, 9, 0, 0, 0, time.UTC)}}
	if ia.Hash() != ib.Hash() {
		t.Error("a no-op exception changes the hash")
	}
	be.Recurrence.Exceptions = []Exception{{OriginalStart: "2026-01-07T08:00:00Z", Cancelled: true}}
	if ia.Hash() == ib.Hash() {
		t.Error("a cancellation does not change the hash")
	}
	// The zone is content.
	c := a.Recurrence.Clone()
	c.TimeZone = "Europe/Paris"
	ce := *a
	ce.Recurrence = c
	if ia.Hash() == (&Item{Event: &ce}).Hash() {
		t.Error("the zone is not hashed")
	}
	// Clone is deep.
	cl := ia.Clone()
	cl.Event.Recurrence.ByDay[0] = "FR"
	if a.Recurrence.ByDay[0] == "FR" {
		t.Error("Clone shares the recurrence")
	}
}

func TestParseRRULEErrors(t *testing.T) {
	for _, s := range []string{"", "FREQ=HOURLY", "FREQ=WEEKLY;BYDAY=1MO", "FREQ=DAILY;COUNT=2;UNTIL=20260101T000000Z",
		"FREQ=MONTHLY;BYMONTHDAY=0", "FREQ=DAILY;BYHOUR=3", "FREQ=DAILY;INTERVAL=0", "FREQ=DAILY;UNTIL=2026", "FREQ=DAILY;FREQ=DAILY", "FREQ"} {
		if _, err := ParseRRULE(s, ""); !errors.Is(err, ErrRecurrence) {
			t.Errorf("ParseRRULE(%q) = %v", s, err)
		}
	}
	if _, err := ParseRRULE("FREQ=DAILY", "Mars/Olympus"); !errors.Is(err, ErrRecurrence) {
		t.Errorf("unknown zone: %v", err)
	}
}

func FuzzParseRRULE(f *testing.F) {
	f.Add("FREQ=MONTHLY;BYDAY=-1FR;COUNT=5")
	f.Add("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;UNTIL=20261231T235959Z")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRRULE(s, "Europe/Berlin")
		if err != nil {
			return
		}
		r2, err := ParseRRULE(r.RRULE(), "Europe/Berlin")
		if err != nil || r2.RRULE() != r.RRULE() {
			t.Fatalf("%q → %q → %v", s, r.RRULE(), err)
		}
		ev := &Event{Start: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), Recurrence: r}
		if _, err := ev.Occurrences(year2026[0], year2026[1]); err != nil {
			t.Fatal(err)
		}
	})
}

// UNTIL as an end date or as the last occurrence's instant is the same
// series.
func TestRecurrenceUntilCanonical(t *testing.T) {
	a := series(t, "FREQ=WEEKLY;BYDAY=MO;UNTIL=20261231T225959Z", "Europe/Berlin", time.Date(2026, 11, 2, 9, 0, 0, 0, mustLoc(t, "Europe/Berlin")), time.Hour)
	b := series(t, "FREQ=WEEKLY;BYDAY=MO;UNTIL=20261228T080000Z", "Europe/Berlin", time.Date(2026, 11, 2, 9, 0, 0, 0, mustLoc(t, "Europe/Berlin")), time.Hour)
	c := series(t, "FREQ=WEEKLY;BYDAY=MO;UNTIL=20261228T075959Z", "Europe/Berlin", time.Date(2026, 11, 2, 9, 0, 0, 0, mustLoc(t, "Europe/Berlin")), time.Hour)
	ha, hb, hc := (&Item{Event: a}).Hash(), (&Item{Event: b}).Hash(), (&Item{Event: c}).Hash()
	if ha != hb || hb == hc {
		t.Fatalf("UNTIL not canonical: %v %v %v", ha == hb, hb == hc, ha == hc)
	}
	if n := a.Normalize(); !n.Recurrence.Until.Equal(time.Date(2026, 12, 28, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("until %s", n.Recurrence.Until)
	}
}

func TestShiftDate(t *testing.T) {
	for _, c := range []struct{ k, start, end, want string }{
		{"2026-03-09", "2026-03-02", "2026-03-03", "2026-03-10"},
		{"2026-03-28", "2026-03-07", "2026-03-09", "2026-03-30"}, // across the EU change
		{"2026-12-31", "2026-01-01", "2026-01-02", "2027-01-01"},
		{"2028-02-28", "2026-02-28", "2026-03-01", "2028-02-29"},
		{"2026-03-09", "2026-03-02", "2026-03-02", "2026-03-09"},
		{"2026-3-9", "2026-03-02", "2026-03-03", ""},
		{"2026-03-09", "", "2026-03-03", ""},
	} {
		if got := ShiftDate(c.k, c.start, c.end); got != c.want {
			t.Errorf("ShiftDate(%q, %q, %q) = %q, want %q", c.k, c.start, c.end, got, c.want)
		}
	}
}
