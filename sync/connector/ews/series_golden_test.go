package ews

import (
	"errors"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/internal/seriesgolden"
	"github.com/syncgate/syncgate/sync/model"
)

// year2026 is the golden year (sync/connector/internal/seriesgolden) as
// a scope of the user's events.
var year2026 = connector.Scope{User: alice, Kind: model.Events, WindowStart: seriesgolden.Start, WindowEnd: seriesgolden.End}

// goldenUnsupported are the golden series EWS cannot express exactly:
// Exchange puts day 31 on the last day of shorter months, the rule skips
// them.
var goldenUnsupported = map[string]bool{"monthly on the 31st Sydney": true}

// emulatorView is Exchange's own expansion over the year (what a
// CalendarView shows).
func (e *env) emulatorView(t *testing.T, g seriesgolden.Series, masterID string) []string {
	t.Helper()
	occ, err := e.s.Occurrences(masterID, year2026.WindowStart, year2026.WindowEnd)
	must(t, err)
	var ts []time.Time
	var ds []string
	for _, o := range occ {
		if g.AllDay {
			ds = append(ds, civilDate(o.Start, g.Zone))
			continue
		}
		ts = append(ts, o.Start)
	}
	return g.Render(t, ts, ds)
}

// Every golden series written through the connector and read back: the
// same hash, the golden year's occurrences from the model and the same
// from Exchange's own expansion, across the weeks US and EU daylight
// saving differ; the one EWS cannot express is refused, nothing written.
func TestSeriesGoldenYear(t *testing.T) {
	e := newEnv(t, Options{})
	golden := seriesgolden.Read(t, seriesgolden.Path)
	for i, g := range golden {
		t.Run(g.Name, func(t *testing.T) {
			in := g.Item(t)
			got, err := e.c.Create(e.ctx, year2026, "golden-"+string(rune('a'+i)), in)
			if goldenUnsupported[g.Name] {
				if !errors.Is(err, connector.ErrUnsupported) {
					t.Fatalf("want ErrUnsupported, got %v", err)
				}
				return
			}
			must(t, err)
			if got.Hash() != in.Hash() {
				t.Fatalf("hash differs:\n got %s %+v\nwant %s %+v", got.Event.Recurrence.RRULE(), got.Event.Recurrence, in.Event.Recurrence.RRULE(), in.Event.Recurrence)
			}
			read, err := e.c.Get(e.ctx, year2026, got.ID)
			must(t, err)
			if read.Hash() != in.Hash() {
				t.Fatalf("Get: hash differs: %+v", read.Event.Recurrence)
			}
			if occ := g.Occurrences(t, read); !seriesgolden.Same(occ, g.Want) {
				t.Errorf("model occurrences:\n got %v\nwant %v", occ, g.Want)
			}
			if em := e.emulatorView(t, g, got.ID); !seriesgolden.Same(em, g.Want) {
				t.Errorf("Exchange's expansion:\n got %v\nwant %v", em, g.Want)
			}
		})
	}
	list, err := e.s.Items(alice, "calendar")
	must(t, err)
	if len(list) != len(golden)-len(goldenUnsupported) {
		t.Fatalf("%d masters in the mailbox", len(list))
	}
}

// The same pattern spelled otherwise (FREQ=YEARLY from 15 March and
// BYMONTH=3;BYMONTHDAY=15) is one AbsoluteYearlyRecurrence: a master reads
// back as the rule it was written from; an update that only respells it
// records the spelling and keeps the series' exceptions.
func TestSeriesRuleSpelling(t *testing.T) {
	e := newEnv(t, Options{})
	yearly := func(rule string, xs ...model.Exception) *model.Item {
		it := series(t, rule, "Asia/Kolkata", "2026-03-15T05:30:00Z", time.Hour, xs...)
		return it
	}
	moved := model.Exception{OriginalStart: "2027-03-15T05:30:00Z", Subject: "Renamed once"}
	in := yearly("FREQ=YEARLY", moved)
	yearS2 := yearS
	yearS2.WindowStart, yearS2.WindowEnd = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)
	got, err := e.c.Create(e.ctx, yearS2, "key-y", in)
	must(t, err)
	if got.Hash() != in.Hash() || got.Event.Recurrence.RRULE() != "FREQ=YEARLY" {
		t.Fatalf("written FREQ=YEARLY reads back as %s", got.Event.Recurrence.RRULE())
	}
	e.gw.reset()
	spelled := yearly("FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=15", moved)
	up, err := e.c.Update(e.ctx, yearS2, got.ID, got.Marker, spelled)
	must(t, err)
	if up.Hash() != spelled.Hash() || countOccurrenceWrites(e.gw.Calls()) != 0 || len(up.Event.Recurrence.Exceptions) != 1 {
		t.Fatalf("respelled: %s, %d occurrence writes, exceptions %+v", up.Event.Recurrence.RRULE(), countOccurrenceWrites(e.gw.Calls()), up.Event.Recurrence.Exceptions)
	}
	// A pattern changed in Outlook no longer matches the stored rule.
	must(t, e.s.EditItem(got.ID, map[string]string{"Subject": "x"}))
	m, err := e.c.Get(e.ctx, yearS2, got.ID)
	must(t, err)
	if m.Event.Recurrence.RRULE() != "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=15" {
		t.Fatalf("rule after a subject edit: %s", m.Event.Recurrence.RRULE())
	}
}
