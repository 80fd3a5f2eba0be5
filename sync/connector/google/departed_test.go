package google

import (
	"testing"

	"google.golang.org/api/calendar/v3"

	"github.com/syncgate/syncgate/sync/model"
)

// A person puts an UNTIL before the window on a series (the original of a
// split at the window's first occurrence): the sync token reports the
// master, which has no occurrence in the window any more, and the
// connector reports it in Changes.Departed with its new rule, neither as
// an item nor as a deletion. A single event moved out of the window stays
// unreported, and a full listing reports no departed master.
func TestSeriesDepartedMaster(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	got, err := e.c.Create(e.ctx, eventsS, "series-key-1", gSeries(t))
	must(t, err)
	single := e.putEvent(alice, timedEvent("Single", utc("2026-11-04T09:00:00Z"), utc("2026-11-04T09:30:00Z"), "UTC"))
	full := e.changes(eventsS, "")
	if len(full.Items) != 2 || len(full.Departed) != 0 {
		t.Fatalf("full listing: %d items, %d departed", len(full.Items), len(full.Departed))
	}
	cal := e.userCalendar(alice)
	_, err = cal.Events.Patch("primary", got.ID, &calendar.Event{Recurrence: []string{"RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20261026T235959Z"}}).Do()
	must(t, err)
	moved := timedEvent("Single", utc("2027-04-05T09:00:00Z"), utc("2027-04-05T09:30:00Z"), "UTC")
	_, err = cal.Events.Patch("primary", single.Id, &calendar.Event{Start: moved.Start, End: moved.End}).Do()
	must(t, err)

	inc := e.changes(eventsS, full.Cursor)
	if len(inc.Items) != 0 || len(inc.Deleted) != 0 {
		t.Fatalf("incremental: items %v, deleted %v; want only the departed master", idsOf(inc.Items), inc.Deleted)
	}
	if len(inc.Departed) != 1 || inc.Departed[0].ID != got.ID {
		t.Fatalf("departed %v, want the truncated master %s", idsOf(inc.Departed), got.ID)
	}
	d := inc.Departed[0]
	if d.Event.Recurrence == nil || !d.Event.Recurrence.Until.Before(winStart) || d.Key != "series-key-1" {
		t.Fatalf("departed master %+v (key %q), want its UNTIL before the window and syncgate's key", d.Event.Recurrence, d.Key)
	}
	if again := e.changes(eventsS, inc.Cursor); len(again.Items)+len(again.Departed)+len(again.Deleted) != 0 {
		t.Fatalf("round after: %d items, %d departed, %d deleted", len(again.Items), len(again.Departed), len(again.Deleted))
	}
	if relist := e.changes(eventsS, ""); len(relist.Items) != 0 || len(relist.Departed) != 0 {
		t.Fatalf("full listing after: items %v, departed %v", idsOf(relist.Items), idsOf(relist.Departed))
	}
}

func idsOf(items []*model.Item) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}
