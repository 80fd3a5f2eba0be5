package google

import (
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/model"
)

func gSeries(t *testing.T, xs ...model.Exception) *model.Item {
	t.Helper()
	r, err := model.ParseRRULE("FREQ=WEEKLY;BYDAY=MO", "Europe/Berlin")
	must(t, err)
	r.Exceptions = xs
	loc, _ := time.LoadLocation("Europe/Berlin")
	st := time.Date(2025, 1, 6, 9, 0, 0, 0, loc) // before the window
	return &model.Item{Event: &model.Event{Subject: "Standup", Location: "Room 1", Start: st.UTC(), End: st.Add(30 * time.Minute).UTC(),
		Series: "master", Recurrence: r}}
}

func gAt(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }

func gOcc(t *testing.T, it *model.Item) string {
	t.Helper()
	occ, err := it.Event.Occurrences(winStart, winEnd)
	must(t, err)
	var b []string
	for _, o := range occ {
		b = append(b, o.Start.Format(time.RFC3339)+"/"+o.Subject)
	}
	return strings.Join(b, " ")
}

// A series begun before the window, written to Google and read back: one
// item, same hash, same occurrences; a cancellation in the user's own
// calendar app is a cancelled instance, an update of the series and no
// deletion; the engine's update moves an instance back and renames; the
// master's deletion is the series'.
func TestSeriesRoundTrip(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	moved := model.Exception{OriginalStart: "2026-12-07T08:00:00Z", Start: gAt("2026-12-08T13:00:00Z"), End: gAt("2026-12-08T13:30:00Z"), Subject: "Standup (moved)"}
	cancelled := model.Exception{OriginalStart: "2026-12-14T08:00:00Z", Cancelled: true}
	in := gSeries(t, moved, cancelled)
	got, err := e.c.Create(e.ctx, eventsS, "series-key-1", in)
	must(t, err)
	if got.Hash() != in.Hash() || gOcc(t, got) != gOcc(t, in) {
		t.Fatalf("created series reads back differently:\n got %+v\nwant %+v", got.Event.Recurrence, in.Event.Recurrence)
	}
	ch := e.changes(eventsS, "")
	if len(ch.Items) != 1 || ch.Items[0].ID != got.ID || ch.Items[0].Hash() != in.Hash() {
		t.Fatalf("listing: %d items", len(ch.Items))
	}
	// The user cancels 21 December in Google Calendar.
	cal := e.userCalendar(alice)
	inst := got.ID + "_20261221T080000Z"
	must(t, cal.Events.Delete("primary", inst).Do())
	inc := e.changes(eventsS, ch.Cursor)
	if len(inc.Deleted) != 0 || len(inc.Items) != 1 || inc.Items[0].ID != got.ID {
		t.Fatalf("incremental: %d items, deleted %v", len(inc.Items), inc.Deleted)
	}
	want := gSeries(t, moved, cancelled, model.Exception{OriginalStart: "2026-12-21T08:00:00Z", Cancelled: true})
	if inc.Items[0].Hash() != want.Hash() {
		t.Fatalf("exceptions %+v", inc.Items[0].Event.Recurrence.Exceptions)
	}
	// The engine puts 7 December back in its place and renames the series.
	upd := gSeries(t, cancelled, model.Exception{OriginalStart: "2026-12-21T08:00:00Z", Cancelled: true})
	upd.Event.Subject = "Daily standup"
	got2, err := e.c.Update(e.ctx, eventsS, got.ID, inc.Items[0].Marker, upd)
	must(t, err)
	if got2.Hash() != upd.Hash() {
		t.Fatalf("update reads back %+v", got2.Event.Recurrence.Exceptions)
	}
	if f, err := e.c.FindByKey(e.ctx, eventsS, "series-key-1"); err != nil || f == nil || f.Hash() != upd.Hash() {
		t.Fatalf("FindByKey %v", err)
	}
	// Deleting the master is the series' deletion.
	must(t, e.c.Delete(e.ctx, eventsS, got.ID, got2.Marker))
	if _, err := e.c.Get(e.ctx, eventsS, got.ID); err == nil {
		t.Fatal("the series survived its deletion")
	}
}
