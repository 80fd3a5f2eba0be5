package ews

import (
	"testing"
	"time"

	emu "github.com/syncgate/syncgate/emulate/ews"
	"github.com/syncgate/syncgate/sync/model"
)

// A series whose end moves before the window (the original of a split at
// the window's first occurrence): SyncFolderItems reports the change
// whatever the window, and the connector reports the master in
// Changes.Departed with its new rule, neither as an item nor as a
// deletion. A single event moved out of the window stays unreported, and
// a full listing reports no departed master.
func TestSeriesDepartedMaster(t *testing.T) {
	e := newEnv(t, Options{})
	st := mustTime(t, "2026-09-07T07:00:00Z") // Monday 09:00 Berlin (CEST)
	master, err := e.s.AddCalendarItemWith(alice, emu.CalendarItem{Subject: "Weekly", Start: st, End: st.Add(time.Hour)},
		emu.Extras{Recurrence: &emu.Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: "Monday", FirstDayOfWeek: "Monday", StartDate: "2026-09-07"}, StartTimeZone: "W. Europe Standard Time"})
	must(t, err)
	single, err := e.c.Create(e.ctx, eventsS, "single-1", &model.Item{Event: &model.Event{Subject: "Single",
		Start: mustTime(t, "2026-11-04T09:00:00Z"), End: mustTime(t, "2026-11-04T09:30:00Z")}})
	must(t, err)
	full := e.changes(eventsS, "")
	if len(full.Items) != 2 || len(full.Departed) != 0 {
		t.Fatalf("full listing: %d items, %d departed", len(full.Items), len(full.Departed))
	}
	listed := byID(full.Items)
	trunc := listed[master].Clone()
	r, err := model.ParseRRULE("FREQ=WEEKLY;BYDAY=MO;WKST=MO;UNTIL=20261026T215959Z", "Europe/Berlin")
	must(t, err)
	trunc.Event.Recurrence = r
	_, err = e.c.Update(e.ctx, eventsS, master, listed[master].Marker, trunc)
	must(t, err)
	away := listed[single.ID].Clone()
	away.Event.Start, away.Event.End = mustTime(t, "2027-02-01T09:00:00Z"), mustTime(t, "2027-02-01T09:30:00Z")
	_, err = e.c.Update(e.ctx, eventsS, single.ID, listed[single.ID].Marker, away)
	must(t, err)

	inc := e.changes(eventsS, full.Cursor)
	if len(inc.Items) != 0 || len(inc.Deleted) != 0 {
		t.Fatalf("incremental: %d items, deleted %v; want only the departed master", len(inc.Items), inc.Deleted)
	}
	if len(inc.Departed) != 1 || inc.Departed[0].ID != master {
		t.Fatalf("departed %d, want the truncated master", len(inc.Departed))
	}
	d := inc.Departed[0]
	if d.Event.Recurrence == nil || d.Event.Recurrence.Until.IsZero() || !d.Event.Recurrence.Until.Before(winStart) {
		t.Fatalf("departed master %+v, want its end before the window", d.Event.Recurrence)
	}
	if again := e.changes(eventsS, inc.Cursor); len(again.Items)+len(again.Departed)+len(again.Deleted) != 0 {
		t.Fatalf("round after: %d items, %d departed, %d deleted", len(again.Items), len(again.Departed), len(again.Deleted))
	}
	if relist := e.changes(eventsS, ""); len(relist.Items) != 0 || len(relist.Departed) != 0 {
		t.Fatalf("full listing after: %d items, %d departed", len(relist.Items), len(relist.Departed))
	}
}
