package model

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func allDaySeries(t *testing.T, rrule, tz, start, end string) *Event {
	t.Helper()
	r, err := ParseRRULE(rrule, tz)
	if err != nil {
		t.Fatalf("ParseRRULE(%q): %v", rrule, err)
	}
	return &Event{Subject: "Holiday", AllDay: true, StartDate: start, EndDate: end, Recurrence: r, Series: "master"}
}

func dates(t *testing.T, ev *Event, from, to time.Time) string {
	t.Helper()
	occ, err := ev.Occurrences(from, to)
	if err != nil {
		t.Fatal(err)
	}
	var b []string
	for _, o := range occ {
		if !o.Start.IsZero() || o.OriginalStart != o.StartDate {
			t.Errorf("all-day occurrence with an instant or a key other than its date: %+v", o)
		}
		b = append(b, o.StartDate[5:])
	}
	return strings.Join(b, " ")
}

// An all-day series ends on UNTIL's date whichever spelling (DATE in the
// series zone, or midnight UTC) and zone (west of UTC too); normalising it
// twice changes nothing (the canonical UNTIL is the last date, and the
// window of the probe must still hold that date).
func TestAllDayUntil(t *testing.T) {
	cases := []struct{ rule, tz string }{
		{"FREQ=WEEKLY;BYDAY=FR;UNTIL=20260327", "America/Los_Angeles"},
		{"FREQ=WEEKLY;BYDAY=FR;UNTIL=20260327", "Australia/Sydney"},
		{"FREQ=WEEKLY;BYDAY=FR;UNTIL=20260327T000000Z", "America/New_York"},
		{"FREQ=WEEKLY;BYDAY=FR;UNTIL=20260329", ""},
		{"FREQ=WEEKLY;BYDAY=FR;COUNT=12", "Europe/Berlin"},
	}
	var first string
	for _, c := range cases {
		ev := allDaySeries(t, c.rule, c.tz, "2026-01-02", "2026-01-03")
		got := dates(t, ev, year2026[0], year2026[1])
		want := "01-02 01-09 01-16 01-23 01-30 02-06 02-13 02-20 02-27 03-06 03-13 03-20"
		if !strings.HasPrefix(c.rule, "FREQ=WEEKLY;BYDAY=FR;COUNT") {
			want += " 03-27"
		}
		if got != want {
			t.Errorf("%s in %q:\n got %s\nwant %s", c.rule, c.tz, got, want)
		}
		n := ev.Normalize()
		nn := n.Normalize()
		if g := dates(t, &nn, year2026[0], year2026[1]); g != want {
			t.Errorf("%s in %q: normalised twice %s", c.rule, c.tz, g)
		}
		if h1, h2 := (&Item{Event: &n}).Hash(), (&Item{Event: &nn}).Hash(); h1 != h2 {
			t.Errorf("%s: Normalize is not idempotent", c.rule)
		}
		if !n.Recurrence.Until.IsZero() && !n.Recurrence.Until.Equal(time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: canonical UNTIL %s", c.rule, n.Recurrence.Until)
		}
		if strings.Contains(c.rule, "UNTIL") {
			if d := ev.Recurrence.UntilDate(); d != "2026-03-27" && !strings.Contains(c.rule, "20260329") {
				t.Errorf("%s in %q: UntilDate %s", c.rule, c.tz, d)
			}
			if d := n.Recurrence.UntilDate(); d != "2026-03-27" {
				t.Errorf("%s in %q: canonical UntilDate %s", c.rule, c.tz, d)
			}
			if r := n.Recurrence.RRULEDate(); !strings.HasSuffix(r, "UNTIL=20260327") {
				t.Errorf("RRULEDate %q", r)
			}
			if first == "" {
				first = n.Recurrence.RRULEDate()
			} else if n.Recurrence.RRULEDate() != first {
				t.Errorf("RRULEDate %q differs from %q", n.Recurrence.RRULEDate(), first)
			}
		}
	}
	// A window ending just after midnight holds that day.
	ev := allDaySeries(t, "FREQ=DAILY", "", "2026-06-01", "2026-06-02")
	if got := dates(t, ev, time.Date(2026, 6, 3, 12, 0, 0, 0, time.UTC), time.Date(2026, 6, 5, 0, 0, 1, 0, time.UTC)); got != "06-03 06-04 06-05" {
		t.Errorf("window dates %s", got)
	}
	if got := dates(t, ev, time.Date(2026, 6, 3, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 5, 0, 0, 0, 0, time.UTC)); got != "06-03 06-04" {
		t.Errorf("window dates %s", got)
	}
}

// A multi-day all-day series keeps its length, and exceptions are keyed
// by date.
func TestAllDayMultiDayAndExceptions(t *testing.T) {
	ev := allDaySeries(t, "FREQ=MONTHLY;BYDAY=-1FR;COUNT=4", "", "2026-01-30", "2026-02-02")
	ev.Recurrence.Exceptions = []Exception{{OriginalStart: "2026-02-27", Cancelled: true},
		{OriginalStart: "2026-03-27", StartDate: "2026-03-26", EndDate: "2026-03-27", Subject: "Short"}}
	occ, err := ev.Occurrences(year2026[0], year2026[1])
	if err != nil {
		t.Fatal(err)
	}
	var b []string
	for _, o := range occ {
		b = append(b, o.OriginalStart+"="+o.StartDate+".."+o.EndDate+"/"+o.Subject)
	}
	if want := "2026-01-30=2026-01-30..2026-02-02/Holiday 2026-03-27=2026-03-26..2026-03-27/Short 2026-04-24=2026-04-24..2026-04-27/Holiday"; strings.Join(b, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(b, " "), want)
	}
}

// RDATE adds occurrences outside COUNT, never doubles one the rule gives,
// can carry exceptions, and makes the series more than a pattern.
func TestRecurrenceRDates(t *testing.T) {
	ev := series(t, "FREQ=WEEKLY;BYDAY=MO;COUNT=3", "Europe/Berlin", time.Date(2026, 3, 2, 9, 0, 0, 0, mustLoc(t, "Europe/Berlin")), time.Hour)
	if ev.Recurrence.PatternOnly() != nil {
		t.Fatal("a plain rule is not PatternOnly")
	}
	ev.Recurrence.RDates = []string{"2026-03-20T15:00:00+01:00", "2026-03-09T08:00:00Z", "2026-03-20T14:00:00Z"}
	got := strings.Join(localStarts(t, ev, year2026[0], year2026[1], time.UTC, "01-02T15:04"), " ")
	if want := "03-02T08:00 03-09T08:00 03-16T08:00 03-20T14:00"; got != want {
		t.Errorf("got %s want %s", got, want)
	}
	if n := ev.Recurrence.Normalize(); strings.Join(n.RDates, ",") != "2026-03-09T08:00:00Z,2026-03-20T14:00:00Z" {
		t.Errorf("normalised RDates %v", n.RDates)
	}
	if err := ev.Recurrence.PatternOnly(); !errors.Is(err, ErrRecurrence) {
		t.Errorf("PatternOnly with RDATE: %v", err)
	}
	ev.Recurrence.Exceptions = []Exception{{OriginalStart: "2026-03-20T14:00:00Z", Cancelled: true}}
	if got := localStarts(t, ev, year2026[0], year2026[1], time.UTC, "01-02"); len(got) != 3 {
		t.Errorf("cancelled extra date still there: %v", got)
	}
	a, b := &Item{Event: ev}, ev.Normalize()
	b.Recurrence.RDates = nil
	if a.Hash() == (&Item{Event: &b}).Hash() {
		t.Error("extra dates are not hashed")
	}
	ad := allDaySeries(t, "FREQ=YEARLY", "", "2026-12-25", "2026-12-26")
	ad.Recurrence.RDates = []string{"2026-12-31"}
	if got := dates(t, ad, year2026[0], year2026[1]); got != "12-25 12-31" {
		t.Errorf("all-day RDATE %s", got)
	}
	ad.Recurrence.RDates = []string{"2026-12-31T10:00:00Z"}
	if _, err := ad.Occurrences(year2026[0], year2026[1]); !errors.Is(err, ErrRecurrence) {
		t.Errorf("an instant RDATE on an all-day series: %v", err)
	}
}
