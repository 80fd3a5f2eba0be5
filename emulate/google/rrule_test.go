package google

import (
	"strings"
	"testing"
	"time"
)

func TestRRULEExpansion(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse("2006-01-02T15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name    string
		lines   []string
		dtstart time.Time
		allDay  bool
		want    string // comma-separated starts, formatted below
	}{
		{"daily count", []string{"RRULE:FREQ=DAILY;COUNT=3"}, utc("2026-01-30T10:00"), false, "2026-01-30 10:00,2026-01-31 10:00,2026-02-01 10:00"},
		{"daily interval until inclusive", []string{"RRULE:FREQ=DAILY;INTERVAL=2;UNTIL=20260105T100000Z"}, utc("2026-01-01T10:00"), false, "2026-01-01 10:00,2026-01-03 10:00,2026-01-05 10:00"},
		{"weekly byday", []string{"RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=4"}, utc("2026-03-04T08:00"), false, "2026-03-04 08:00,2026-03-06 08:00,2026-03-09 08:00,2026-03-11 08:00"},
		{"biweekly", []string{"RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=3"}, utc("2026-03-02T08:00"), false, "2026-03-02 08:00,2026-03-16 08:00,2026-03-30 08:00"},
		{"monthly last friday", []string{"RRULE:FREQ=MONTHLY;BYDAY=-1FR;COUNT=3"}, utc("2026-01-30T09:00"), false, "2026-01-30 09:00,2026-02-27 09:00,2026-03-27 09:00"},
		{"monthly 31st skips short months", []string{"RRULE:FREQ=MONTHLY;COUNT=3"}, utc("2026-01-31T09:00"), false, "2026-01-31 09:00,2026-03-31 09:00,2026-05-31 09:00"},
		{"monthly second tuesday", []string{"RRULE:FREQ=MONTHLY;BYDAY=2TU;COUNT=2"}, utc("2026-01-13T09:00"), false, "2026-01-13 09:00,2026-02-10 09:00"},
		{"yearly leap day", []string{"RRULE:FREQ=YEARLY;COUNT=2"}, utc("2024-02-29T00:00"), true, "2024-02-29 00:00,2028-02-29 00:00"},
		{"exdate removes but counts", []string{"RRULE:FREQ=DAILY;COUNT=3", "EXDATE:20260102T100000Z"}, utc("2026-01-01T10:00"), false, "2026-01-01 10:00,2026-01-03 10:00"},
		{"all-day exdate", []string{"RRULE:FREQ=DAILY;COUNT=3", "EXDATE;VALUE=DATE:20260102"}, utc("2026-01-01T00:00"), true, "2026-01-01 00:00,2026-01-03 00:00"},
		{"wall clock across DST", []string{"RRULE:FREQ=WEEKLY;COUNT=2"}, time.Date(2026, 3, 23, 9, 30, 0, 0, berlin), false, "2026-03-23 09:30,2026-03-30 09:30"},
		{"exdate with TZID", []string{"RRULE:FREQ=DAILY;COUNT=2", "EXDATE;TZID=Europe/Berlin:20260324T093000"}, time.Date(2026, 3, 23, 9, 30, 0, 0, berlin), false, "2026-03-23 09:30"},
		{"rdate adds outside count", []string{"RRULE:FREQ=DAILY;COUNT=2", "RDATE:20260110T100000Z,20260102T100000Z"}, utc("2026-01-01T10:00"), false, "2026-01-01 10:00,2026-01-02 10:00,2026-01-10 10:00"},
		{"rdate with TZID", []string{"RRULE:FREQ=DAILY;COUNT=1", "RDATE;TZID=Europe/Berlin:20260330T093000"}, time.Date(2026, 3, 23, 9, 30, 0, 0, berlin), false, "2026-03-23 09:30,2026-03-30 09:30"},
		{"all-day rdate", []string{"RRULE:FREQ=YEARLY;COUNT=1", "RDATE;VALUE=DATE:20261231"}, utc("2026-12-25T00:00"), true, "2026-12-25 00:00,2026-12-31 00:00"},
		{"exdate removes an rdate", []string{"RRULE:FREQ=DAILY;COUNT=1", "RDATE:20260105T100000Z", "EXDATE:20260105T100000Z"}, utc("2026-01-01T10:00"), false, "2026-01-01 10:00"},
		{"byday on daily filters", []string{"RRULE:FREQ=DAILY;BYDAY=SA,SU;COUNT=2"}, utc("2026-03-02T09:00"), false, "2026-03-07 09:00,2026-03-08 09:00"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := parseRecurrence(tc.lines, tc.dtstart.Location())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range rec.expand(tc.dtstart, tc.dtstart.AddDate(10, 0, 0), 100, tc.allDay) {
				got = append(got, o.Format("2006-01-02 15:04"))
			}
			if strings.Join(got, ",") != tc.want {
				t.Fatalf("got  %s\nwant %s", strings.Join(got, ","), tc.want)
			}
		})
	}
}

func TestRRULEUnboundedStopsAtHorizonAndMax(t *testing.T) {
	rec, err := parseRecurrence([]string{"RRULE:FREQ=DAILY"}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if n := len(rec.expand(start, start.AddDate(0, 0, 9), 1000, false)); n != 10 {
		t.Fatalf("horizon: %d occurrences", n)
	}
	if n := len(rec.expand(start, start.AddDate(50, 0, 0), 7, false)); n != 7 {
		t.Fatalf("max: %d occurrences", n)
	}
	never, err := parseRecurrence([]string{"RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(never.expand(start, start.AddDate(1000, 0, 0), 10, false)); n != 0 {
		t.Fatalf("impossible rule produced %d", n)
	}
}

func TestRRULERejects(t *testing.T) {
	for _, lines := range [][]string{
		{"RRULE:FREQ=HOURLY"},
		{"RRULE:INTERVAL=2"},
		{"RRULE:FREQ=DAILY;COUNT=2;UNTIL=20260101"},
		{"RRULE:FREQ=WEEKLY;BYDAY=1MO"},
		{"RRULE:FREQ=MONTHLY;BYSETPOS=1"},
		{"RRULE:FREQ=DAILY;COUNT=0"},
		{"RRULE:FREQ=DAILY;FREQ=WEEKLY"},
		{"RRULE:FREQ=DAILY;UNTIL=tomorrow"},
		{"RDATE:20260101T000000Z"},
		{"EXDATE:20260101T000000Z"},
		{"RRULE FREQ=DAILY"},
		{"RRULE:FREQ=DAILY", "EXDATE;TZID=Mars/Olympus:20260101T000000"},
		{"RRULE:FREQ=DAILY", "RDATE;VALUE=PERIOD:19960403T020000Z/19960403T040000Z"},
		{"RRULE:FREQ=DAILY", "EXRULE:FREQ=WEEKLY"},
	} {
		if _, err := parseRecurrence(lines, time.UTC); err == nil {
			t.Errorf("%q accepted", lines)
		}
	}
}
