package salesforce_test

import (
	"context"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/internal/seriesgolden"
	"github.com/syncgate/syncgate/sync/connector/salesforce"
	"github.com/syncgate/syncgate/sync/model"
)

// year2026 is the golden year (sync/connector/internal/seriesgolden) as
// a scope of the user's events.
var year2026 = connector.Scope{User: alice, Kind: model.Events, WindowStart: seriesgolden.Start, WindowEnd: seriesgolden.End}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// emulatorOccurrences is what Salesforce itself holds: the series' live
// occurrence records in the year.
func (e *env) emulatorOccurrences(t *testing.T, g seriesgolden.Series, seriesID string) []string {
	t.Helper()
	var ts []time.Time
	var ds []string
	for _, o := range e.srv.Occurrences(seriesID) {
		st := o["StartDateTime"].(time.Time)
		if g.AllDay {
			d := o["ActivityDate"].(time.Time)
			if d.Year() == 2026 {
				ds = append(ds, d.Format(time.DateOnly))
			}
			continue
		}
		if !st.Before(year2026.WindowStart) && st.Before(year2026.WindowEnd) {
			ts = append(ts, st)
		}
	}
	return g.Render(t, ts, ds)
}

// Every golden series written to Salesforce through the connector and
// read back: the same hash, the golden year's occurrences from the model,
// and the same from Salesforce's own occurrence records — so the emulator
// and the model agree, across the weeks US and EU daylight saving differ.
func TestSeriesGoldenYear(t *testing.T) {
	e := newEnv(t, func(o *salesforce.Options) { o.Series = true })
	ctx := context.Background()
	for i, g := range seriesgolden.Read(t, seriesgolden.Path) {
		t.Run(g.Name, func(t *testing.T) {
			in := g.Item(t)
			got, err := e.conn.Create(ctx, year2026, "golden-"+string(rune('a'+i)), in)
			mustOK(t, err)
			if got.Hash() != in.Hash() {
				t.Fatalf("hash differs:\n got %+v\nwant %+v", got.Event.Recurrence, in.Event.Recurrence)
			}
			read, err := e.conn.Get(ctx, year2026, got.ID)
			mustOK(t, err)
			if read.Hash() != in.Hash() {
				t.Fatalf("Get: hash differs: %+v", read.Event.Recurrence)
			}
			if occ := g.Occurrences(t, read); !seriesgolden.Same(occ, g.Want) {
				t.Errorf("model occurrences:\n got %v\nwant %v", occ, g.Want)
			}
			if em := e.emulatorOccurrences(t, g, got.ID); !seriesgolden.Same(em, g.Want) {
				t.Errorf("occurrence records:\n got %v\nwant %v", em, g.Want)
			}
		})
	}
}
