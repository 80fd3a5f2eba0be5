package salesforce_test

import (
	"context"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector/salesforce"
	"github.com/syncgate/syncgate/sync/model"
)

// A series record ended before the window (the original of a "this and
// following" split at the window's first occurrence): the query returns
// every changed series record whatever its dates, and the connector
// reports it in Changes.Departed, neither as an item nor as a deletion; a
// full listing leaves it out, like a series that never reached the
// window. A single event moved out of the window stays unreported.
func TestSeriesDepartedMaster(t *testing.T) {
	e := newEnv(t, func(o *salesforce.Options) { o.Series = true })
	ctx := context.Background()
	ws, we := t0.AddDate(0, 0, -30), t0.AddDate(1, 0, 0)
	s := events(alice, ws, we)
	got, err := e.conn.Create(ctx, s, "series-1", sfSeries(t))
	if err != nil {
		t.Fatal(err)
	}
	single, err := e.conn.Create(ctx, s, "single-1", &model.Item{Event: &model.Event{Subject: "Single", Start: t0.Add(24 * time.Hour), End: t0.Add(25 * time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	full := e.changes(t, s, "")
	if len(full.Items) != 2 || len(full.Departed) != 0 {
		t.Fatalf("full listing: %d items, %d departed", len(full.Items), len(full.Departed))
	}
	listed := map[string]*model.Item{}
	for _, it := range full.Items {
		listed[it.ID] = it
	}
	e.clk.Advance(time.Minute)
	trunc := listed[got.ID].Clone()
	r, err := model.ParseRRULE("FREQ=WEEKLY;BYDAY=MO;UNTIL="+ws.AddDate(0, 0, -7).Format("20060102T150405Z"), "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	trunc.Event.Recurrence = r
	if _, err := e.conn.Update(ctx, s, got.ID, listed[got.ID].Marker, trunc); err != nil {
		t.Fatal(err)
	}
	away := listed[single.ID].Clone()
	away.Event.Start, away.Event.End = we.AddDate(0, 1, 0), we.AddDate(0, 1, 0).Add(time.Hour)
	if _, err := e.conn.Update(ctx, s, single.ID, listed[single.ID].Marker, away); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	inc := e.changes(t, s, full.Cursor)
	if len(inc.Items) != 0 || len(inc.Deleted) != 0 {
		t.Fatalf("incremental: %d items, deleted %v; want only the departed master", len(inc.Items), inc.Deleted)
	}
	if len(inc.Departed) != 1 || inc.Departed[0].ID != got.ID {
		t.Fatalf("departed %d, want the ended series", len(inc.Departed))
	}
	if d := inc.Departed[0]; d.Event.Recurrence == nil || !d.Event.Recurrence.Until.Before(ws) || d.Key != "series-1" {
		t.Fatalf("departed series %+v (key %q), want its end before the window and syncgate's key", d.Event.Recurrence, d.Key)
	}
	if relist := e.changes(t, s, ""); len(relist.Items) != 0 || len(relist.Departed) != 0 {
		t.Fatalf("full listing after: %d items, %d departed", len(relist.Items), len(relist.Departed))
	}
}
