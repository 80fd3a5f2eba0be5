package google

import (
	"testing"
	"time"

	"google.golang.org/api/calendar/v3"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/internal/seriesgolden"
	"github.com/syncgate/syncgate/sync/model"
)

// year2026 is the golden year (sync/connector/internal/seriesgolden) as
// a scope of the user's events.
var year2026 = connector.Scope{User: alice, Kind: model.Events, WindowStart: seriesgolden.Start, WindowEnd: seriesgolden.End}

// emulatorInstances is what Google itself expands: events.instances over
// the year, as the user's own calendar app reads it.
func (e *env) emulatorInstances(t *testing.T, g seriesgolden.Series, id string) []string {
	t.Helper()
	var ts []time.Time
	var ds []string
	call := e.userCalendar(alice).Events.Instances("primary", id).
		TimeMin(year2026.WindowStart.Format(time.RFC3339)).TimeMax(year2026.WindowEnd.Format(time.RFC3339))
	must(t, call.Pages(e.ctx, func(p *calendar.Events) error {
		for _, in := range p.Items {
			if in.Start.Date != "" {
				ds = append(ds, in.Start.Date)
				continue
			}
			st, err := time.Parse(time.RFC3339, in.Start.DateTime)
			if err != nil {
				return err
			}
			ts = append(ts, st)
		}
		return nil
	}))
	return g.Render(t, ts, ds)
}

// Every golden series written to Google through the connector and read
// back: the same hash, the golden year's occurrences from the model, and
// the same from Google's own expansion (events.instances) — so the
// emulator and the model agree, across the weeks US and EU daylight saving
// differ.
func TestSeriesGoldenYear(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	for i, g := range seriesgolden.Read(t, seriesgolden.Path) {
		t.Run(g.Name, func(t *testing.T) {
			in := g.Item(t)
			got, err := e.c.Create(e.ctx, year2026, "golden-"+string(rune('a'+i)), in)
			must(t, err)
			if got.Hash() != in.Hash() {
				t.Fatalf("hash differs:\n got %+v\nwant %+v", got.Event.Recurrence, in.Event.Recurrence)
			}
			read, err := e.c.Get(e.ctx, year2026, got.ID)
			must(t, err)
			if read.Hash() != in.Hash() {
				t.Fatalf("Get: hash differs: %+v", read.Event.Recurrence)
			}
			if occ := g.Occurrences(t, read); !seriesgolden.Same(occ, g.Want) {
				t.Errorf("model occurrences:\n got %v\nwant %v", occ, g.Want)
			}
			if em := e.emulatorInstances(t, g, got.ID); !seriesgolden.Same(em, g.Want) {
				t.Errorf("events.instances:\n got %v\nwant %v", em, g.Want)
			}
		})
	}
}
