package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

func addEvent(t *testing.T, e *env, props map[string]any) string {
	t.Helper()
	m, err := e.s.AddEvent(aliceID, props)
	must(t, err)
	return m["id"].(string)
}

func TestEventsFullListingAndIncrementalRemovals(t *testing.T) {
	e := newEnv(t, Options{PageSize: 2})
	var ids []string
	for i, day := range []string{"03", "05", "07", "09", "11"} {
		ev := gEvent0("Meeting "+day, "2026-11-"+day+"T10:00:00", "2026-11-"+day+"T11:00:00", "UTC")
		ev["categories"] = []any{"CRM"}
		if i == 0 {
			ev["sensitivity"], ev["showAs"] = "private", "oof"
		}
		ids = append(ids, addEvent(t, e, ev))
	}
	outside := addEvent(t, e, gEvent0("Next year", "2027-02-01T10:00:00", "2027-02-01T11:00:00", "UTC"))

	full := e.changes(eventsS, "")
	got := byID(full.Items)
	if !full.Full || len(full.Items) != 5 || got[outside] != nil || full.Cursor == "" {
		t.Fatalf("full: full=%v items=%d outside listed=%v", full.Full, len(full.Items), got[outside] != nil)
	}
	first := got[ids[0]].Event
	want := model.Event{Subject: "Meeting 03", Description: "Agenda", Start: mustTime(t, "2026-11-03T10:00:00Z"),
		End: mustTime(t, "2026-11-03T11:00:00Z"), Private: true, ShowAs: "oof", Categories: []string{"CRM"}}
	if !reflect.DeepEqual(*first, want) {
		t.Fatalf("mapping:\n got %+v\nwant %+v", *first, want)
	}
	if n := countCalls(e.gw.Calls(), "GET", "/calendarView/delta"); n != 3 {
		t.Fatalf("%d delta pages for 5 events at 2 per page, want 3", n)
	}

	// Changed, deleted, and moved out of the window.
	_, err := e.s.UpdateEvent(aliceID, ids[1], map[string]any{"subject": "Moved agenda"})
	must(t, err)
	must(t, e.s.DeleteEvent(aliceID, ids[2]))
	_, err = e.s.UpdateEvent(aliceID, ids[3], map[string]any{
		"start": map[string]any{"dateTime": "2027-03-01T10:00:00", "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": "2027-03-01T11:00:00", "timeZone": "UTC"}})
	must(t, err)
	// And one moved into it.
	_, err = e.s.UpdateEvent(aliceID, outside, map[string]any{
		"start": map[string]any{"dateTime": "2026-12-01T10:00:00", "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": "2026-12-01T11:00:00", "timeZone": "UTC"}})
	must(t, err)

	ch := e.changes(eventsS, full.Cursor)
	got = byID(ch.Items)
	if ch.Full || len(ch.Items) != 2 || got[ids[1]] == nil || got[outside] == nil {
		t.Fatalf("incremental items: %v", got)
	}
	if !reflect.DeepEqual(ch.Deleted, []string{ids[2]}) {
		t.Fatalf("deleted %v, want only %s (an event that left the window is not deleted)", ch.Deleted, ids[2])
	}
}

// Graph's event-delta page says events that moved out of the window may
// come back as @removed with reason "deleted"; the emulator says
// "changed". The connector confirms every "deleted" with a GET.
func TestEventRemovedAsDeletedIsConfirmed(t *testing.T) {
	e := newEnv(t, Options{})
	stay := addEvent(t, e, gEvent0("Stays", "2026-11-10T10:00:00", "2026-11-10T11:00:00", "UTC"))
	moved := addEvent(t, e, gEvent0("Moves", "2026-11-12T10:00:00", "2026-11-12T11:00:00", "UTC"))
	deleted := addEvent(t, e, gEvent0("Goes", "2026-11-14T10:00:00", "2026-11-14T11:00:00", "UTC"))
	full := e.changes(eventsS, "")
	_, err := e.s.UpdateEvent(aliceID, moved, map[string]any{
		"start": map[string]any{"dateTime": "2027-05-01T10:00:00", "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": "2027-05-01T11:00:00", "timeZone": "UTC"}})
	must(t, err)
	must(t, e.s.DeleteEvent(aliceID, deleted))
	e.gw.rewrite = func(r *http.Request, b []byte) []byte {
		if strings.HasSuffix(r.URL.Path, "/calendarView/delta") {
			return bytes.ReplaceAll(b, []byte(`"reason":"changed"`), []byte(`"reason":"deleted"`))
		}
		return b
	}
	e.gw.reset()
	ch := e.changes(eventsS, full.Cursor)
	if !reflect.DeepEqual(ch.Deleted, []string{deleted}) || len(ch.Items) != 0 {
		t.Fatalf("deleted %v items %d, want only %s", ch.Deleted, len(ch.Items), deleted)
	}
	if n := countCalls(e.gw.Calls(), "GET", "/events/"+moved); n != 1 {
		t.Fatalf("%d confirmation reads of the moved event", n)
	}

	// A tombstone for an event that exists in the window: not deleted,
	// returned as an item.
	e.gw.rewrite = func(r *http.Request, b []byte) []byte {
		if !strings.HasSuffix(r.URL.Path, "/calendarView/delta") {
			return b
		}
		var page map[string]any
		must(t, json.Unmarshal(b, &page))
		page["value"] = append(page["value"].([]any), map[string]any{"id": stay, "@removed": map[string]any{"reason": "deleted"}})
		out, err := json.Marshal(page)
		must(t, err)
		return out
	}
	ch = e.changes(eventsS, ch.Cursor)
	if len(ch.Deleted) != 0 || len(ch.Items) != 1 || ch.Items[0].ID != stay || ch.Items[0].Event.Subject != "Stays" {
		t.Fatalf("tombstone of a live event: deleted %v items %d", ch.Deleted, len(ch.Items))
	}
}

func TestAbbreviatedDeltaItemIsReadAgain(t *testing.T) {
	cases := []struct {
		s     connector.Scope
		strip []string
		seed  func(e *env) string
		get   string
		check func(it *model.Item) bool
	}{
		{eventsS, []string{"subject", "body"},
			func(e *env) string {
				return addEvent(t, e, gEvent0("Full subject", "2026-11-10T10:00:00", "2026-11-10T11:00:00", "UTC"))
			}, "/events/",
			func(it *model.Item) bool {
				return it.Event.Subject == "Full subject" && it.Event.Description == "Agenda"
			}},
		{contactsS, []string{"givenName", "emailAddresses"},
			func(e *env) string {
				m, err := e.s.AddContact(aliceID, "", annProps())
				must(t, err)
				return m["id"].(string)
			}, "/contacts/",
			func(it *model.Item) bool { return *it.Contact == annContact }},
	}
	for _, c := range cases {
		t.Run(string(c.s.Kind), func(t *testing.T) {
			e := newEnv(t, Options{})
			id := c.seed(e)
			e.gw.rewrite = func(r *http.Request, b []byte) []byte {
				if !strings.HasSuffix(r.URL.Path, "/delta") {
					return b
				}
				var page map[string]any
				must(t, json.Unmarshal(b, &page))
				for _, v := range page["value"].([]any) {
					for _, f := range c.strip {
						delete(v.(map[string]any), f)
					}
				}
				out, err := json.Marshal(page)
				must(t, err)
				return out
			}
			ch := e.changes(c.s, "")
			if len(ch.Items) != 1 || !c.check(ch.Items[0]) {
				t.Fatalf("abbreviated item not completed: %+v %+v", ch.Items[0].Contact, ch.Items[0].Event)
			}
			if n := countCalls(e.gw.Calls(), "GET", c.get+id); n != 1 {
				t.Fatalf("%d reads of the abbreviated item, want 1", n)
			}
		})
	}
}

func TestEventsWindowMovedListsAgain(t *testing.T) {
	e := newEnv(t, Options{})
	addEvent(t, e, gEvent0("November", "2026-11-10T10:00:00", "2026-11-10T11:00:00", "UTC"))
	jan := addEvent(t, e, gEvent0("January", "2027-01-10T10:00:00", "2027-01-10T11:00:00", "UTC"))
	first := e.changes(eventsS, "")
	moved := eventsS
	moved.WindowStart, moved.WindowEnd = winStart.AddDate(0, 1, 0), winEnd.AddDate(0, 1, 0)
	ch := e.changes(moved, first.Cursor)
	if !ch.Full || len(ch.Items) != 1 || ch.Items[0].ID != jan {
		t.Fatalf("moved window: full=%v items=%d", ch.Full, len(ch.Items))
	}
	if again := e.changes(moved, ch.Cursor); again.Full || len(again.Items) != 0 {
		t.Fatalf("the new window's cursor: %+v", again)
	}
}

func TestEventSeriesAreMarked(t *testing.T) {
	e := newEnv(t, Options{})
	ev := gEvent0("Weekly", "2026-11-02T09:00:00", "2026-11-02T09:30:00", "UTC")
	ev["recurrence"] = map[string]any{
		"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"monday"}},
		"range":   map[string]any{"type": "numbered", "startDate": "2026-11-02", "numberOfOccurrences": 3},
	}
	master := addEvent(t, e, ev)
	single := addEvent(t, e, gEvent0("Single", "2026-11-04T09:00:00", "2026-11-04T09:30:00", "UTC"))
	ch := e.changes(eventsS, "")
	kinds := map[string]int{}
	for _, it := range ch.Items {
		kinds[it.Event.Series]++
		if it.ID == master && it.Event.Series != "master" {
			t.Fatalf("master marked %q", it.Event.Series)
		}
		if it.ID == single && it.Event.Series != "" {
			t.Fatalf("single marked %q", it.Event.Series)
		}
	}
	if kinds["master"] != 1 || kinds["occurrence"] != 3 || kinds[""] != 1 {
		t.Fatalf("series marking: %v", kinds)
	}
	// Part 1 does not write series.
	var id string
	for _, it := range ch.Items {
		if it.Event.Series == "occurrence" {
			id = it.ID
		}
	}
	occ := byID(ch.Items)[id]
	if _, err := e.c.Update(e.ctx, eventsS, id, occ.Marker, occ); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("update of an occurrence: %v", err)
	}
	if _, err := e.c.Create(e.ctx, eventsS, "k", occ); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("create of an occurrence: %v", err)
	}
}

func TestAllDayEventsKeepTheirDates(t *testing.T) {
	zones := []string{"UTC", "Europe/Berlin", "America/Los_Angeles", "Pacific/Auckland", "W. Europe Standard Time",
		"Tokyo Standard Time", "Pacific/Honolulu", "Pacific/Kiritimati"}
	e := newEnv(t, Options{})
	ids := map[string]string{}
	for _, z := range zones {
		ev := gEvent0("Holiday "+z, "2026-11-23T00:00:00", "2026-11-25T00:00:00", z)
		ev["isAllDay"] = true
		ids[addEvent(t, e, ev)] = z
	}
	check := func(how string, it *model.Item, sd, ed string) {
		t.Helper()
		ev := it.Event
		if !ev.AllDay || ev.StartDate != sd || ev.EndDate != ed || !ev.Start.IsZero() || !ev.End.IsZero() {
			t.Errorf("%s %s: all-day %v %s..%s, want %s..%s", how, ids[it.ID], ev.AllDay, ev.StartDate, ev.EndDate, sd, ed)
		}
	}
	for _, it := range e.changes(eventsS, "").Items {
		check("delta", it, "2026-11-23", "2026-11-25")
		got, err := e.c.Get(e.ctx, eventsS, it.ID)
		must(t, err)
		check("get", got, "2026-11-23", "2026-11-25")
	}

	// Written by the connector and read back: the same dates, every way.
	in := &model.Item{Event: &model.Event{Subject: "Offsite", AllDay: true, StartDate: "2026-12-24", EndDate: "2026-12-27"}}
	created, err := e.c.Create(e.ctx, eventsS, "allday", in)
	must(t, err)
	ids[created.ID] = "written"
	check("create", created, "2026-12-24", "2026-12-27")
	got, err := e.c.Get(e.ctx, eventsS, created.ID)
	must(t, err)
	check("get", got, "2026-12-24", "2026-12-27")
	found, err := e.c.FindByKey(e.ctx, eventsS, "allday")
	must(t, err)
	check("find", found, "2026-12-24", "2026-12-27")
	for _, it := range e.changes(eventsS, "").Items {
		if it.ID == created.ID {
			check("delta", it, "2026-12-24", "2026-12-27")
			if it.Hash() != in.Hash() {
				t.Fatal("all-day round trip changed the hash")
			}
		}
	}
	var stored map[string]any
	evs, err := e.s.Events(aliceID)
	must(t, err)
	for _, ev := range evs {
		if ev["id"] == created.ID {
			stored = ev
		}
	}
	if stored["isAllDay"] != true || str(stored, "start", "dateTime") != "2026-12-24T00:00:00.0000000" || str(stored, "end", "dateTime") != "2026-12-27T00:00:00.0000000" {
		t.Fatalf("written all-day event: %v %v %v", stored["isAllDay"], stored["start"], stored["end"])
	}
}

func TestTimedEventsKeepTheirInstants(t *testing.T) {
	e := newEnv(t, Options{})
	cases := []struct {
		zone, wall string
		want       string
	}{
		{"W. Europe Standard Time", "2026-11-23T11:00:00", "2026-11-23T10:00:00Z"},
		{"Pacific Standard Time", "2026-11-23T11:00:00", "2026-11-23T19:00:00Z"},
		{"Asia/Kolkata", "2026-11-23T11:00:00", "2026-11-23T05:30:00Z"},
		{"UTC", "2026-11-23T11:00:00.0000000", "2026-11-23T11:00:00Z"},
	}
	for _, c := range cases {
		id := addEvent(t, e, gEvent0(c.zone, c.wall, c.wall, c.zone))
		got, err := e.c.Get(e.ctx, eventsS, id)
		must(t, err)
		if want := mustTime(t, c.want); !got.Event.Start.Equal(want) || !got.Event.End.Equal(want) || got.Event.Start.Location() != time.UTC {
			t.Errorf("%s %s: %v, want %v", c.zone, c.wall, got.Event.Start, want)
		}
	}
	ny, err := time.LoadLocation("America/New_York")
	must(t, err)
	in := &model.Item{Event: &model.Event{Subject: "Call", Start: time.Date(2026, 11, 30, 9, 30, 0, 0, ny), End: time.Date(2026, 11, 30, 10, 15, 0, 0, ny)}}
	created, err := e.c.Create(e.ctx, eventsS, "timed", in)
	must(t, err)
	for _, it := range e.changes(eventsS, "").Items {
		if it.ID != created.ID {
			continue
		}
		if !it.Event.Start.Equal(in.Event.Start) || !it.Event.End.Equal(in.Event.End) || it.Hash() != in.Hash() || it.Hash() != created.Hash() {
			t.Fatalf("timed round trip: %v-%v, want %v-%v", it.Event.Start, it.Event.End, in.Event.Start, in.Event.End)
		}
		return
	}
	t.Fatal("created event not listed")
}

func TestEventCreateUpdateDelete(t *testing.T) {
	e := newEnv(t, Options{})
	in := &model.Item{Event: &model.Event{Subject: "Review", Location: "Room 4", Description: "Line 1\nLine 2",
		Start: mustTime(t, "2026-11-26T14:00:00Z"), End: mustTime(t, "2026-11-26T15:00:00Z"),
		Private: true, ShowAs: "tentative", Categories: []string{"CRM"}}}
	created, err := e.c.Create(e.ctx, eventsS, "evt-1", in)
	must(t, err)
	if created.Key != "evt-1" || created.Hash() != in.Hash() || !slices.Equal(created.Event.Categories, []string{"CRM"}) {
		t.Fatalf("created: %+v %+v", created, created.Event)
	}
	// A retried create (same key) returns the first event: transactionId.
	again, err := e.c.Create(e.ctx, eventsS, "evt-1", in)
	must(t, err)
	if again.ID != created.ID {
		t.Fatalf("retried create made a second event %s (first %s)", again.ID, created.ID)
	}
	evs, err := e.s.Events(aliceID)
	must(t, err)
	if len(evs) != 1 || evs[0]["transactionId"] != "evt-1" {
		t.Fatalf("stored events: %d, transactionId %v", len(evs), evs[0]["transactionId"])
	}

	next := *in.Event
	next.Subject, next.ShowAs, next.Private = "Review (moved)", "", false
	next.Start, next.End = next.Start.Add(time.Hour), next.End.Add(time.Hour)
	upd, err := e.c.Update(e.ctx, eventsS, created.ID, created.Marker, &model.Item{Event: &next})
	must(t, err)
	if upd.Marker == created.Marker || upd.Key != "evt-1" || upd.Hash() != (&model.Item{Event: &next}).Hash() {
		t.Fatalf("update: %+v %+v", upd, upd.Event)
	}
	if _, err := e.c.Update(e.ctx, eventsS, created.ID, created.Marker, in); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	if err := e.c.Delete(e.ctx, eventsS, created.ID, created.Marker); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("stale delete: %v", err)
	}
	must(t, e.c.Delete(e.ctx, eventsS, created.ID, upd.Marker))
	if err := e.c.Delete(e.ctx, eventsS, created.ID, upd.Marker); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := e.c.Get(e.ctx, eventsS, created.ID); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestNoWriteInvitesAnyone(t *testing.T) {
	e := newEnv(t, Options{})
	meeting := gEvent0("Board meeting", "2026-11-27T10:00:00", "2026-11-27T11:00:00", "UTC")
	meeting["attendees"] = []any{map[string]any{"emailAddress": map[string]any{"address": "board@contoso.example"}, "type": "required"}}
	mid := addEvent(t, e, meeting)
	full := e.changes(eventsS, "")
	m := byID(full.Items)[mid]

	// Writes of every kind; none may name attendees.
	ev := model.Event{Subject: "Solo", Start: mustTime(t, "2026-11-28T10:00:00Z"), End: mustTime(t, "2026-11-28T11:00:00Z")}
	c, err := e.c.Create(e.ctx, eventsS, "solo", &model.Item{Event: &ev})
	must(t, err)
	ev.Subject = "Solo 2"
	u, err := e.c.Update(e.ctx, eventsS, c.ID, c.Marker, &model.Item{Event: &ev})
	must(t, err)
	must(t, e.c.Delete(e.ctx, eventsS, u.ID, u.Marker))

	// The organiser's meeting: updating or deleting it would notify the
	// attendees, so the connector refuses without writing.
	changed := *m.Event
	changed.Subject = "Board meeting (CRM edit)"
	e.gw.reset()
	if _, err := e.c.Update(e.ctx, eventsS, mid, m.Marker, &model.Item{Event: &changed}); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("update of a meeting: %v, want ErrUnsupported", err)
	}
	if err := e.c.Delete(e.ctx, eventsS, mid, m.Marker); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("delete of a meeting: %v, want ErrUnsupported", err)
	}
	for _, call := range e.gw.Calls() {
		if call.method != http.MethodGet {
			t.Fatalf("a write reached the meeting: %s %s", call.method, call.path)
		}
	}
	if now, err := e.c.Get(e.ctx, eventsS, mid); err != nil || now.Marker != m.Marker {
		t.Fatalf("meeting changed: %v", err)
	}
	for _, call := range e.gw.Calls() {
		if bytes.Contains(call.body, []byte("attendees")) {
			t.Fatalf("%s %s names attendees: %s", call.method, call.path, call.body)
		}
	}
}

func TestEventFieldMapping(t *testing.T) {
	e := newEnv(t, Options{})
	cases := []struct {
		name  string
		props map[string]any
		want  func(ev *model.Event) bool
	}{
		{"confidential is private", map[string]any{"sensitivity": "confidential"}, func(ev *model.Event) bool { return ev.Private }},
		{"personal is not private", map[string]any{"sensitivity": "personal"}, func(ev *model.Event) bool { return !ev.Private }},
		{"free", map[string]any{"showAs": "free"}, func(ev *model.Event) bool { return ev.ShowAs == "free" }},
		{"workingElsewhere reads as busy", map[string]any{"showAs": "workingElsewhere"}, func(ev *model.Event) bool { return ev.ShowAs == "" }},
		{"location", map[string]any{"location": map[string]any{"displayName": " Room 9 "}}, func(ev *model.Event) bool { return ev.Location == "Room 9" }},
		{"html body as text", map[string]any{"body": map[string]any{"contentType": "html",
			"content": "<html><head><style>p{}</style></head><body><p>Hello&nbsp;<b>team</b></p><p>Line&amp;2<br>Line 3</p></body></html>"}},
			func(ev *model.Event) bool { return ev.Description == "Hello team\nLine&2\nLine 3" }},
		{"categories sorted", map[string]any{"categories": []any{"b", "a"}}, func(ev *model.Event) bool { return slices.Equal(ev.Categories, []string{"a", "b"}) }},
	}
	for _, c := range cases {
		p := gEvent0(c.name, "2026-11-20T10:00:00", "2026-11-20T11:00:00", "UTC")
		for k, v := range c.props {
			p[k] = v
		}
		id := addEvent(t, e, p)
		got, err := e.c.Get(e.ctx, eventsS, id)
		must(t, err)
		if !c.want(got.Event) {
			t.Errorf("%s: %+v", c.name, got.Event)
		}
	}
}

func TestRoundTripHashes(t *testing.T) {
	e := newEnv(t, Options{PageSize: 3})
	items := []struct {
		s  connector.Scope
		it *model.Item
	}{
		{contactsS, &model.Item{Contact: &annContact}},
		{contactsS, &model.Item{Contact: &model.Contact{LastName: "Only"}}},
		{contactsS, &model.Item{Contact: &model.Contact{FirstName: "Bo", LastName: "Ek", Email: "BO@EK.example", Notes: "  spaced  "}}},
		{eventsS, &model.Item{Event: &model.Event{Subject: "Timed", Description: "a\r\nb", Start: mustTime(t, "2026-11-21T08:00:00Z"), End: mustTime(t, "2026-11-21T08:45:00Z")}}},
		{eventsS, &model.Item{Event: &model.Event{Subject: "Zero length", Start: mustTime(t, "2026-11-21T08:00:00Z"), End: mustTime(t, "2026-11-21T08:00:00Z")}}},
		{eventsS, &model.Item{Event: &model.Event{Subject: "All day", AllDay: true, StartDate: "2026-11-30", EndDate: "2026-12-01", ShowAs: "free"}}},
		{eventsS, &model.Item{Event: &model.Event{Subject: "Private", Location: "Home", Private: true, ShowAs: "oof", Start: mustTime(t, "2026-12-02T08:00:00Z"), End: mustTime(t, "2026-12-02T18:00:00Z")}}},
	}
	made := map[string]*model.Item{}
	for i, x := range items {
		c, err := e.c.Create(e.ctx, x.s, "rt-"+string(rune('a'+i)), x.it)
		must(t, err)
		if c.Hash() != x.it.Hash() {
			t.Errorf("item %d: create returned another content: %+v %+v", i, c.Contact, c.Event)
		}
		made[c.ID] = x.it
	}
	n := 0
	for _, s := range []connector.Scope{contactsS, eventsS} {
		for _, it := range e.changes(s, "").Items {
			want := made[it.ID]
			if want == nil {
				continue
			}
			n++
			if it.Hash() != want.Hash() {
				t.Errorf("%s: read back through delta with another hash:\n got %+v %+v\nwant %+v %+v", it.ID, it.Contact, it.Event, want.Contact, want.Event)
			}
		}
	}
	if n != len(items) {
		t.Fatalf("%d of %d items read back", n, len(items))
	}
}
