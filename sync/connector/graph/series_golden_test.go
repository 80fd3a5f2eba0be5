package graph

import (
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/internal/seriesgolden"
	"github.com/syncgate/syncgate/sync/model"
)

// year2026 is the golden year (sync/connector/internal/seriesgolden) as
// a scope of the user's events.
var year2026 = connector.Scope{User: aliceUPN, Kind: model.Events, WindowStart: seriesgolden.Start, WindowEnd: seriesgolden.End}

// emulatorView is what Graph itself expands: the calendar view over the
// year, the series' occurrences and exceptions.
func (e *env) emulatorView(t *testing.T, g seriesgolden.Series, masterID string) []string {
	t.Helper()
	view, err := e.s.CalendarView(aliceID, year2026.WindowStart, year2026.WindowEnd)
	must(t, err)
	var ts []time.Time
	var ds []string
	for _, in := range view {
		if in["seriesMasterId"] != masterID {
			continue
		}
		st := in["start"].(map[string]any)
		d := dateTimeTZ{st["dateTime"].(string), st["timeZone"].(string)}
		if g.AllDay {
			day, err := d.civilDate(g.Zone)
			must(t, err)
			ds = append(ds, day)
			continue
		}
		inst, err := d.instant()
		must(t, err)
		ts = append(ts, inst)
	}
	return g.Render(t, ts, ds)
}

// Every golden series written to Graph through the connector and read
// back: the same hash, the golden year's occurrences from the model, and
// the same from Graph's own expansion (the calendar view) — so the
// emulator and the model agree, across the weeks US and EU daylight
// saving differ.
func TestSeriesGoldenYear(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	for i, g := range seriesgolden.Read(t, seriesgolden.Path) {
		t.Run(g.Name, func(t *testing.T) {
			in := g.Item(t)
			got, err := e.c.Create(e.ctx, year2026, "golden-"+string(rune('a'+i)), in)
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
				t.Errorf("calendarView:\n got %v\nwant %v", em, g.Want)
			}
		})
	}
}
