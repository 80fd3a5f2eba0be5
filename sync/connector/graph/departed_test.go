package graph

import (
	"testing"

	"github.com/syncgate/syncgate/sync/model"
)

// A person truncates a series so that it ends before the window (the
// original of a split at the window's first occurrence): the delta reports
// the master "@removed" with reason "changed", and the connector reports
// it in Changes.Departed with its new range, neither as an item nor as a
// deletion. A single event moved out of the window stays unreported.
func TestSeriesDepartedMaster(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	got, err := e.c.Create(e.ctx, eventsS, "key-1", berlinWeekly(t))
	must(t, err)
	single := addEvent(t, e, gEvent0("Single", "2026-11-04T09:00:00", "2026-11-04T09:30:00", "UTC"))
	full := e.changes(eventsS, "")
	if len(full.Items) != 2 || len(full.Departed) != 0 {
		t.Fatalf("full listing: %d items, %d departed", len(full.Items), len(full.Departed))
	}
	evs, err := e.s.Events(aliceID)
	must(t, err)
	var rec map[string]any
	for _, ev := range evs {
		if ev["id"] == got.ID {
			rec = ev["recurrence"].(map[string]any)
		}
	}
	if rec == nil {
		t.Fatal("the master is not in the emulator")
	}
	rng := map[string]any{}
	for k, v := range rec["range"].(map[string]any) {
		rng[k] = v
	}
	rng["type"], rng["endDate"] = "endDate", "2026-10-31"
	_, err = e.s.UpdateEvent(aliceID, got.ID, map[string]any{"recurrence": map[string]any{"pattern": rec["pattern"], "range": rng}})
	must(t, err)
	_, err = e.s.UpdateEvent(aliceID, single, map[string]any{
		"start": map[string]any{"dateTime": "2027-02-01T09:00:00", "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": "2027-02-01T09:30:00", "timeZone": "UTC"}})
	must(t, err)

	inc := e.changes(eventsS, full.Cursor)
	if len(inc.Items) != 0 {
		t.Fatalf("incremental round: items %v; want only the departed master", ids(inc.Items))
	}
	// The cut occurrences are gone (their ids are tombstones, which no
	// pair knows); the master and the single are not.
	for _, id := range inc.Deleted {
		if id == got.ID || id == single {
			t.Fatalf("%s reported deleted", id)
		}
	}
	if len(inc.Departed) != 1 || inc.Departed[0].ID != got.ID {
		t.Fatalf("departed %v, want the truncated master %s", ids(inc.Departed), got.ID)
	}
	d := inc.Departed[0]
	if d.Event.Series != "master" || d.Event.Recurrence == nil || d.Event.Recurrence.Until.IsZero() {
		t.Fatalf("departed master without its new range: %+v", d.Event.Recurrence)
	}
	if occ, err := d.Event.OriginalStarts(winStart, winEnd); err != nil || len(occ) != 0 {
		t.Fatalf("departed master has occurrences in the window: %v %v", occ, err)
	}
	if d.Key != "key-1" {
		t.Fatalf("departed master without syncgate's key: %q", d.Key)
	}
	// Nothing changed since: the next round is empty.
	if again := e.changes(eventsS, inc.Cursor); len(again.Items)+len(again.Departed) != 0 {
		t.Fatalf("round after: %d items, %d departed", len(again.Items), len(again.Departed))
	}
}

func ids(items []*model.Item) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}
