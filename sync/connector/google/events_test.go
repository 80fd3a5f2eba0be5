package google

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/calendar/v3"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// A full listing pages through the window with timeMin/timeMax,
// singleEvents=false and showDeleted=true and ends in a cursor; the next
// listing sends only the sync token and reports what changed: edits,
// deletions, nothing for events outside the window, and a cancelled
// occurrence of a series as an exception, never as a deletion.
func TestEventsFullThenIncremental(t *testing.T) {
	e := newEnv(t, Options{PageSize: 2})
	base := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 5 {
		ev := e.putEvent(alice, timedEvent("E"+string(rune('0'+i)), base.AddDate(0, 0, i), base.AddDate(0, 0, i).Add(time.Hour), "Europe/Berlin"))
		ids = append(ids, ev.Id)
	}
	outside := e.putEvent(alice, timedEvent("Old", time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC), "UTC"))
	master := timedEvent("Weekly", base, base.Add(30*time.Minute), "America/New_York")
	master.Recurrence = []string{"RRULE:FREQ=WEEKLY;COUNT=6"}
	m := e.putEvent(alice, master)
	e.putEvent(bob, timedEvent("Bob's", base, base.Add(time.Hour), "UTC"))

	full := e.changes(eventsS, "")
	if !full.Full || len(full.Deleted) != 0 || !strings.HasPrefix(full.Cursor, cursorPrefix) {
		t.Fatalf("full listing: full=%v deleted=%v cursor=%q", full.Full, full.Deleted, full.Cursor)
	}
	got := byID(full.Items)
	if len(got) != 6 || got[outside.Id] != nil || got[m.Id] == nil || got[m.Id].Event.Series != "master" {
		t.Fatalf("full listing: %d items %v", len(got), got)
	}
	for _, id := range ids {
		if it := got[id]; it == nil || it.Event.Series != "" || it.Marker == "" || it.Modified.IsZero() {
			t.Fatalf("event %s: %+v", id, it)
		}
	}
	calls := e.gw.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls for 6 events at 2 a page, want 3", len(calls))
	}
	for i, c := range calls {
		q, _ := url.ParseQuery(c.rawQuery)
		if c.subject != alice || c.path != "/calendar/v3/calendars/primary/events" || q.Get("singleEvents") != "false" || q.Get("showDeleted") != "true" ||
			q.Get("timeMin") != "2026-11-01T00:00:00Z" || q.Get("timeMax") != "2027-03-01T00:00:00Z" || q.Get("maxResults") != "2" || (i > 0) != q.Has("pageToken") || q.Has("syncToken") {
			t.Fatalf("call %d: %s %s?%s as %s", i, c.method, c.path, c.rawQuery, c.subject)
		}
	}

	// The user edits, deletes, moves one event out of the window, adds one
	// far in the past, and cancels one occurrence of the series.
	cal := e.userCalendar(alice)
	_, err := cal.Events.Patch("primary", ids[0], &calendar.Event{Summary: "Edited"}).Do()
	must(t, err)
	must(t, cal.Events.Delete("primary", ids[1]).Do())
	moved := timedEvent("", time.Date(2027, 5, 1, 9, 0, 0, 0, time.UTC), time.Date(2027, 5, 1, 10, 0, 0, 0, time.UTC), "UTC")
	_, err = cal.Events.Patch("primary", ids[2], &calendar.Event{Start: moved.Start, End: moved.End}).Do()
	must(t, err)
	e.putEvent(alice, timedEvent("Older", time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC), "UTC"))
	inst, err := cal.Events.Instances("primary", m.Id).Do()
	must(t, err)
	must(t, cal.Events.Delete("primary", inst.Items[1].Id).Do())
	added := e.putEvent(alice, allDayEvent("Offsite", "2026-12-24", "2026-12-27"))

	e.gw.reset()
	inc := e.changes(eventsS, full.Cursor)
	if inc.Full || !slices.Equal(inc.Deleted, []string{ids[1]}) {
		t.Fatalf("incremental: full=%v deleted=%v", inc.Full, inc.Deleted)
	}
	got = byID(inc.Items)
	if len(got) != 3 || got[ids[0]] == nil || got[ids[0]].Event.Subject != "Edited" || got[added.Id] == nil || got[ids[2]] != nil {
		t.Fatalf("incremental items: %v", got)
	}
	if ex := got[inst.Items[1].Id]; ex == nil || ex.Event.Series != "exception" {
		t.Fatalf("cancelled occurrence: %+v", ex)
	}
	for _, c := range e.gw.Calls() {
		q, _ := url.ParseQuery(c.rawQuery)
		if !q.Has("syncToken") || q.Has("timeMin") || q.Has("timeMax") || q.Get("showDeleted") != "true" || q.Get("singleEvents") != "false" {
			t.Fatalf("incremental call %s?%s", c.path, c.rawQuery)
		}
	}
	// Nothing changed since: an empty listing and a new cursor.
	again := e.changes(eventsS, inc.Cursor)
	if len(again.Items)+len(again.Deleted) != 0 || again.Cursor == "" {
		t.Fatalf("quiet listing: %+v", again)
	}
}

// An invalid cursor means a full resync: Google's 410 fullSyncRequired (on
// the first page or mid-listing) and a cursor made for another user or
// kind, or not made by this connector, which is refused without a call. A
// cursor made for another window lists the new window afresh.
func TestEventsResync(t *testing.T) {
	e := newEnv(t, Options{PageSize: 1})
	for i := range 3 {
		d := time.Date(2026, 12, 10+i, 9, 0, 0, 0, time.UTC)
		e.putEvent(alice, timedEvent("E", d, d.Add(time.Hour), "UTC"))
	}
	e.putEvent(bob, timedEvent("B", winStart.Add(time.Hour), winStart.Add(2*time.Hour), "UTC"))
	aliceCur := e.changes(eventsS, "").Cursor
	bobCur := e.changes(connector.Scope{User: bob, Kind: model.Events, WindowStart: winStart, WindowEnd: winEnd}, "").Cursor
	contactsCur := e.changes(contactsS, "").Cursor
	tok := func(cur string) string {
		v, err := url.ParseQuery(strings.TrimPrefix(cur, cursorPrefix))
		must(t, err)
		return v.Get("t")
	}
	cases := []struct {
		name    string
		cur     string
		prepare func()
		status  int
		code    string
	}{
		{"another user's cursor", bobCur, nil, 0, ""},
		{"a contacts cursor", contactsCur, nil, 0, ""},
		{"a bare sync token", tok(aliceCur), nil, 0, ""},
		{"garbage", "google:v1?%zz", nil, 0, ""},
		{"a forged token", withToken(t, aliceCur, "forged"), nil, 410, "fullSyncRequired"},
		{"no token", withToken(t, aliceCur, ""), nil, 0, ""},
		{"tokens invalidated by Google", aliceCur, func() { must(t, e.s.InvalidateSyncTokens(alice)) }, 410, "fullSyncRequired"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.prepare != nil {
				c.prepare()
			}
			e.gw.reset()
			ch, err := e.c.Changes(e.ctx, eventsS, c.cur)
			if ch != nil || !errors.Is(err, connector.ErrResync) {
				t.Fatalf("Changes = %+v, %v; want ErrResync", ch, err)
			}
			var he *connector.HTTPError
			switch {
			case c.status == 0 && len(e.gw.Calls()) != 0:
				t.Fatalf("an invalid cursor was followed: %+v", e.gw.Calls())
			case c.status != 0 && (!errors.As(err, &he) || he.Status != c.status || he.Code != c.code || he.RequestID == ""):
				t.Fatalf("error %v, want HTTP %d %s", err, c.status, c.code)
			}
			if full := e.changes(eventsS, ""); !full.Full || len(full.Items) != 3 {
				t.Fatalf("full listing after resync: %d items", len(full.Items))
			}
		})
	}
	t.Run("another window", func(t *testing.T) {
		cur := e.changes(eventsS, "").Cursor
		wider := eventsS
		wider.WindowEnd = winEnd.AddDate(1, 0, 0)
		e.gw.reset()
		ch := e.changes(wider, cur)
		if !ch.Full || len(ch.Items) < 3 {
			t.Fatalf("new window: full=%v items=%d", ch.Full, len(ch.Items))
		}
		if q, _ := url.ParseQuery(e.gw.Calls()[0].rawQuery); q.Has("syncToken") || q.Get("timeMax") != "2028-03-01T00:00:00Z" {
			t.Fatalf("new window listed with %s", e.gw.Calls()[0].rawQuery)
		}
	})
}

// Creating twice with one key makes one event, under the id derived from
// the key and carrying the key as a private extended property; FindByKey
// finds it (and an event carrying a key under another id); a create whose
// first event was deleted since restores it rather than making another.
func TestEventCreateIsIdempotent(t *testing.T) {
	e := newEnv(t, Options{})
	ev := &model.Item{Event: &model.Event{Subject: "Kick-off", Location: "Room 1", Description: "Agenda",
		Start: utc("2026-12-02T15:00:00Z"), End: utc("2026-12-02T16:00:00Z")}}
	const key = "0123456789abcdef0123456789abcdef"
	first, err := e.c.Create(e.ctx, eventsS, key, ev)
	must(t, err)
	second, err := e.c.Create(e.ctx, eventsS, key, ev)
	must(t, err)
	stored, err := e.s.Events(alice)
	must(t, err)
	if len(stored) != 1 || first.ID != EventID(key) || second.ID != first.ID || second.Marker != first.Marker || first.Key != key {
		t.Fatalf("two creates: %d stored, ids %s %s (want %s), key %q", len(stored), first.ID, second.ID, EventID(key), first.Key)
	}
	if p := stored[0].ExtendedProperties; p == nil || p.Private[KeyProperty] != key {
		t.Fatalf("stored properties: %+v", stored[0].ExtendedProperties)
	}
	found, err := e.c.FindByKey(e.ctx, eventsS, key)
	must(t, err)
	if found == nil || found.ID != first.ID || found.Hash() != first.Hash() {
		t.Fatalf("FindByKey: %+v", found)
	}
	none, err := e.c.FindByKey(e.ctx, eventsS, "no-such-key")
	if none != nil || err != nil {
		t.Fatalf("FindByKey of an unknown key: %+v %v", none, err)
	}
	// A key carried under another id (written by something else).
	other := timedEvent("Elsewhere", utc("2026-12-03T10:00:00Z"), utc("2026-12-03T11:00:00Z"), "UTC")
	other.ExtendedProperties = &calendar.EventExtendedProperties{Private: map[string]string{KeyProperty: "other-key"}}
	o := e.putEvent(alice, other)
	found, err = e.c.FindByKey(e.ctx, eventsS, "other-key")
	must(t, err)
	if found == nil || found.ID != o.Id || found.Key != "other-key" {
		t.Fatalf("FindByKey by property: %+v", found)
	}
	// The user deletes the event before the engine recorded it; the
	// retried create brings it back under the same id.
	must(t, e.userCalendar(alice).Events.Delete("primary", first.ID).Do())
	if f, err := e.c.FindByKey(e.ctx, eventsS, key); f != nil || err != nil {
		t.Fatalf("FindByKey of a deleted event: %+v %v", f, err)
	}
	again, err := e.c.Create(e.ctx, eventsS, key, ev)
	must(t, err)
	if again.ID != first.ID || again.Hash() != ev.Hash() {
		t.Fatalf("create after delete: %+v", again)
	}
	if got, err := e.c.Get(e.ctx, eventsS, first.ID); err != nil || got.Event.Subject != "Kick-off" {
		t.Fatalf("restored event: %+v %v", got, err)
	}
}

// Update writes only differing fields with If-Match; a stale marker is
// ErrConflict and writes nothing. Delete twice: the second is ErrNotFound,
// and so is a Get after it.
func TestEventUpdateConflictDelete(t *testing.T) {
	e := newEnv(t, Options{})
	created, err := e.c.Create(e.ctx, eventsS, "k-upd", &model.Item{Event: &model.Event{Subject: "Plan",
		Start: utc("2026-12-04T09:00:00Z"), End: utc("2026-12-04T10:00:00Z")}})
	must(t, err)
	next := created.Clone()
	next.Event.Subject = "Plan B"
	next.Event.Start, next.Event.End = utc("2026-12-04T13:00:00Z"), utc("2026-12-04T14:30:00Z")
	next.Event.Private = true
	next.Event.ShowAs = "free"
	e.gw.reset()
	upd, err := e.c.Update(e.ctx, eventsS, created.ID, created.Marker, next)
	must(t, err)
	if upd.Marker == created.Marker || upd.Hash() != next.Hash() {
		t.Fatalf("update: %+v %+v", upd.Event, next.Event)
	}
	calls := e.gw.Calls()
	patch := calls[len(calls)-1]
	if patch.method != "PATCH" || patch.header.Get("If-Match") != created.Marker {
		t.Fatalf("write %s with If-Match %q", patch.method, patch.header.Get("If-Match"))
	}
	var sent map[string]any
	must(t, json.Unmarshal(patch.body, &sent))
	for _, k := range []string{"summary", "start", "end", "visibility", "transparency"} {
		if _, ok := sent[k]; !ok {
			t.Fatalf("patch lacks %s: %s", k, patch.body)
		}
	}
	for _, k := range []string{"location", "description", "attendees", "extendedProperties", "id"} {
		if _, ok := sent[k]; ok {
			t.Fatalf("patch sends unchanged or unsynced %s: %s", k, patch.body)
		}
	}
	// Nothing differs: no write.
	e.gw.reset()
	same, err := e.c.Update(e.ctx, eventsS, created.ID, upd.Marker, next)
	must(t, err)
	if same.Marker != upd.Marker || countCalls(e.gw.Calls(), "PATCH", "") != 0 {
		t.Fatalf("an update with nothing to change wrote")
	}
	// Stale marker.
	e.gw.reset()
	if _, err := e.c.Update(e.ctx, eventsS, created.ID, created.Marker, created); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	if err := e.c.Delete(e.ctx, eventsS, created.ID, created.Marker); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("stale delete: %v", err)
	}
	if n := countCalls(e.gw.Calls(), "PATCH", "") + countCalls(e.gw.Calls(), "PUT", ""); n != 0 {
		t.Fatalf("a stale update wrote %d times", n)
	}
	must(t, e.c.Delete(e.ctx, eventsS, created.ID, upd.Marker))
	for _, marker := range []string{upd.Marker, ""} {
		if err := e.c.Delete(e.ctx, eventsS, created.ID, marker); !errors.Is(err, connector.ErrNotFound) {
			t.Fatalf("delete twice (marker %q): %v", marker, err)
		}
	}
	if _, err := e.c.Get(e.ctx, eventsS, created.ID); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := e.c.Update(e.ctx, eventsS, created.ID, upd.Marker, next); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("update deleted: %v", err)
	}
	if _, err := e.c.Get(e.ctx, eventsS, "nosuchevent00"); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
}

// Timed events in named zones read as the exact UTC instants, across DST
// changes; all-day events keep their dates whatever the zone of the
// machine (time.Local) and are written as dates, never as instants.
func TestEventTimes(t *testing.T) {
	e := newEnv(t, Options{})
	seeded := []struct {
		name       string
		ev         *calendar.Event
		allDay     bool
		start, end string
	}{
		{"New York after the US DST end", &calendar.Event{Summary: "ny",
			Start: &calendar.EventDateTime{DateTime: "2026-11-02T09:00:00-05:00", TimeZone: "America/New_York"},
			End:   &calendar.EventDateTime{DateTime: "2026-11-02T10:00:00-05:00", TimeZone: "America/New_York"}}, false, "2026-11-02T14:00:00Z", "2026-11-02T15:00:00Z"},
		{"Sydney in summer time", &calendar.Event{Summary: "syd",
			Start: &calendar.EventDateTime{DateTime: "2026-12-01T08:30:00+11:00", TimeZone: "Australia/Sydney"},
			End:   &calendar.EventDateTime{DateTime: "2026-12-01T09:00:00+11:00", TimeZone: "Australia/Sydney"}}, false, "2026-11-30T21:30:00Z", "2026-11-30T22:00:00Z"},
		{"Kathmandu, +05:45", &calendar.Event{Summary: "ktm",
			Start: &calendar.EventDateTime{DateTime: "2026-12-05T00:15:00+05:45", TimeZone: "Asia/Kathmandu"},
			End:   &calendar.EventDateTime{DateTime: "2026-12-05T01:15:00+05:45", TimeZone: "Asia/Kathmandu"}}, false, "2026-12-04T18:30:00Z", "2026-12-04T19:30:00Z"},
		{"offset only", &calendar.Event{Summary: "off",
			Start: &calendar.EventDateTime{DateTime: "2026-12-06T10:00:00+01:00"},
			End:   &calendar.EventDateTime{DateTime: "2026-12-06T11:00:00+01:00"}}, false, "2026-12-06T09:00:00Z", "2026-12-06T10:00:00Z"},
		{"one day", allDayEvent("day", "2026-12-31", "2027-01-01"), true, "2026-12-31", "2027-01-01"},
		{"three days", allDayEvent("days", "2026-11-30", "2026-12-03"), true, "2026-11-30", "2026-12-03"},
	}
	ids := map[string]string{}
	for _, c := range seeded {
		ids[c.name] = e.putEvent(alice, c.ev).Id
	}
	got := byID(e.changes(eventsS, "").Items)
	for _, c := range seeded {
		t.Run("read/"+c.name, func(t *testing.T) {
			ev := got[ids[c.name]].Event
			if c.allDay {
				if !ev.AllDay || ev.StartDate != c.start || ev.EndDate != c.end || !ev.Start.IsZero() {
					t.Fatalf("all-day read as %+v", ev)
				}
				return
			}
			if ev.AllDay || !ev.Start.Equal(utc(c.start)) || !ev.End.Equal(utc(c.end)) || ev.Start.Location() != time.UTC {
				t.Fatalf("timed read as %s - %s", ev.Start, ev.End)
			}
		})
	}
	// A timed event the user made in New York moves by an hour: the new
	// instants are written in the event's own zone.
	ny := ids["New York after the US DST end"]
	cur, err := e.c.Get(e.ctx, eventsS, ny)
	must(t, err)
	next := cur.Clone()
	next.Event.Start, next.Event.End = cur.Event.Start.Add(time.Hour), cur.Event.End.Add(time.Hour)
	upd, err := e.c.Update(e.ctx, eventsS, ny, cur.Marker, next)
	must(t, err)
	raw, err := e.userCalendar(alice).Events.Get("primary", ny).Do()
	must(t, err)
	if raw.Start.TimeZone != "America/New_York" || raw.Start.DateTime != "2026-11-02T10:00:00-05:00" || !upd.Event.Start.Equal(utc("2026-11-02T15:00:00Z")) {
		t.Fatalf("moved event stored as %+v, read as %s", raw.Start, upd.Event.Start)
	}
	// Timed to all-day and back through Update.
	toDay := upd.Clone()
	toDay.Event.AllDay, toDay.Event.StartDate, toDay.Event.EndDate = true, "2026-11-02", "2026-11-03"
	day, err := e.c.Update(e.ctx, eventsS, ny, upd.Marker, toDay)
	must(t, err)
	if !day.Event.AllDay || day.Event.StartDate != "2026-11-02" || day.Hash() != toDay.Hash() {
		t.Fatalf("to all-day: %+v", day.Event)
	}
	back, err := e.c.Update(e.ctx, eventsS, ny, day.Marker, upd)
	must(t, err)
	if back.Event.AllDay || back.Hash() != upd.Hash() {
		t.Fatalf("back to timed: %+v", back.Event)
	}
}

// An event written and read back through the feed hashes the same as what
// was written, for each field the model syncs.
func TestEventRoundTripHash(t *testing.T) {
	e := newEnv(t, Options{})
	cur := e.changes(eventsS, "").Cursor
	cases := []model.Event{
		{Subject: "Plain", Start: utc("2026-12-07T09:00:00Z"), End: utc("2026-12-07T09:30:00Z")},
		{Subject: "  Spaces and\r\nCRLF  ", Location: "Berlin, Room 4", Description: "Line 1\r\nLine 2\n\nÜmlaut ✓",
			Start: utc("2026-12-08T23:00:00Z"), End: utc("2026-12-09T01:00:00Z")},
		{Subject: "Private", Private: true, Start: utc("2026-12-09T10:00:00Z"), End: utc("2026-12-09T11:00:00Z")},
		{Subject: "Free", ShowAs: "free", Start: utc("2026-12-10T10:00:00Z"), End: utc("2026-12-10T11:00:00Z")},
		{Subject: "Zero length", Start: utc("2026-12-11T10:00:00Z"), End: utc("2026-12-11T10:00:00Z")},
		{Subject: "All day", AllDay: true, StartDate: "2026-12-12", EndDate: "2026-12-13", Private: true, ShowAs: "free"},
		{Subject: "Out of office", ShowAs: "oof", Start: utc("2026-12-13T10:00:00Z"), End: utc("2026-12-13T18:00:00Z")},
		{Subject: "Tentative", ShowAs: "tentative", Start: utc("2026-12-14T10:00:00Z"), End: utc("2026-12-14T11:00:00Z")},
	}
	written := map[string]string{}
	for i, ev := range cases {
		it := &model.Item{Event: &ev}
		created, err := e.c.Create(e.ctx, eventsS, "rt-"+string(rune('a'+i)), it)
		must(t, err)
		if created.Hash() != it.Hash() {
			t.Fatalf("case %d: create returned %+v for %+v", i, created.Event, ev)
		}
		written[created.ID] = it.Hash()
	}
	inc := e.changes(eventsS, cur)
	if len(inc.Items) != len(cases) {
		t.Fatalf("%d items in the feed, want %d", len(inc.Items), len(cases))
	}
	for _, it := range inc.Items {
		if it.Hash() != written[it.ID] {
			t.Fatalf("%s: read back %+v", it.ID, it.Event)
		}
		if !strings.HasPrefix(it.Key, "rt-") {
			t.Fatalf("%s: key %q", it.ID, it.Key)
		}
	}
}

// No write ever names attendees or lets Google notify anyone: every write
// carries sendUpdates=none, and on an event with guests the emulator
// records that nobody was emailed and the guests are still there.
func TestNoInvitationsEver(t *testing.T) {
	e := newEnv(t, Options{})
	meeting := timedEvent("Customer call", utc("2026-12-14T15:00:00Z"), utc("2026-12-14T16:00:00Z"), "UTC")
	meeting.Attendees = []*calendar.EventAttendee{{Email: alice, Organizer: true, Self: true}, {Email: bob}, {Email: "client@customer.example"}}
	m := e.putEvent(alice, meeting)
	cur, err := e.c.Get(e.ctx, eventsS, m.Id)
	must(t, err)
	next := cur.Clone()
	next.Event.Subject = "Customer call (moved)"
	next.Event.Start, next.Event.End = cur.Event.Start.Add(time.Hour), cur.Event.End.Add(time.Hour)
	upd, err := e.c.Update(e.ctx, eventsS, m.Id, cur.Marker, next)
	must(t, err)
	created, err := e.c.Create(e.ctx, eventsS, "k-inv", &model.Item{Event: &model.Event{Subject: "From the CRM",
		Start: utc("2026-12-15T10:00:00Z"), End: utc("2026-12-15T11:00:00Z")}})
	must(t, err)
	_, err = e.c.Create(e.ctx, eventsS, "k-inv", created) // the 409 path
	must(t, err)
	stored, err := e.userCalendar(alice).Events.Get("primary", m.Id).Do()
	must(t, err)
	if len(stored.Attendees) != 3 {
		t.Fatalf("update changed the guests: %+v", stored.Attendees)
	}
	must(t, e.c.Delete(e.ctx, eventsS, m.Id, upd.Marker))
	must(t, e.c.Delete(e.ctx, eventsS, created.ID, ""))

	writes := e.s.CalendarWrites(alice)
	if len(writes) != 4 {
		t.Fatalf("%d writes recorded, want 4: %+v", len(writes), writes)
	}
	for _, w := range writes {
		if w.SendUpdates != "none" || len(w.Notified) != 0 {
			t.Fatalf("write %+v: sendUpdates must be none and nobody notified", w)
		}
	}
	if n := e.s.Notifications(alice); len(n) != 0 {
		t.Fatalf("guests notified: %v", n)
	}
	for _, c := range e.gw.Calls() {
		if c.method == "GET" {
			continue
		}
		q, _ := url.ParseQuery(c.rawQuery)
		if q.Get("sendUpdates") != "none" || strings.Contains(string(c.body), "attendees") {
			t.Fatalf("%s %s?%s body %s", c.method, c.path, c.rawQuery, c.body)
		}
	}
}

// Visibility, transparency, out of office and the "selected" marker (the
// private property, or a configured colour) map as documented; series
// writes are refused.
func TestEventMapping(t *testing.T) {
	e := newEnv(t, Options{SelectedColorID: "11"})
	d := utc("2026-12-16T10:00:00Z")
	mk := func(mod func(*calendar.Event)) string {
		ev := timedEvent("m", d, d.Add(time.Hour), "UTC")
		mod(ev)
		return e.putEvent(alice, ev).Id
	}
	cases := []struct {
		name    string
		id      string
		private bool
		showAs  string
		cats    []string
	}{
		{"default", mk(func(*calendar.Event) {}), false, "", nil},
		{"private", mk(func(ev *calendar.Event) { ev.Visibility = "private" }), true, "", nil},
		{"confidential", mk(func(ev *calendar.Event) { ev.Visibility = "confidential" }), true, "", nil},
		{"public", mk(func(ev *calendar.Event) { ev.Visibility = "public" }), false, "", nil},
		{"transparent", mk(func(ev *calendar.Event) { ev.Transparency = "transparent" }), false, "free", nil},
		{"out of office", mk(func(ev *calendar.Event) { ev.EventType = "outOfOffice" }), false, "oof", nil},
		{"selected by property", mk(func(ev *calendar.Event) {
			ev.ExtendedProperties = &calendar.EventExtendedProperties{Private: map[string]string{SelectedProperty: "true"}}
		}), false, "", []string{DefaultSelectedCategory}},
		{"property not true", mk(func(ev *calendar.Event) {
			ev.ExtendedProperties = &calendar.EventExtendedProperties{Private: map[string]string{SelectedProperty: "no"}}
		}), false, "", nil},
		{"selected by colour", mk(func(ev *calendar.Event) { ev.ColorId = "11" }), false, "", []string{DefaultSelectedCategory}},
		{"another colour", mk(func(ev *calendar.Event) { ev.ColorId = "3" }), false, "", nil},
	}
	got := byID(e.changes(eventsS, "").Items)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := got[c.id].Event
			if ev.Private != c.private || ev.ShowAs != c.showAs || !slices.Equal(ev.Categories, c.cats) {
				t.Fatalf("read %+v, want private=%v showAs=%q categories=%v", ev, c.private, c.showAs, c.cats)
			}
		})
	}
	sel, err := e.c.Create(e.ctx, eventsS, "k-sel", &model.Item{Event: &model.Event{Subject: "Selected", Categories: []string{"salesforce"},
		Start: d, End: d.Add(time.Hour)}})
	must(t, err)
	if !slices.Equal(sel.Event.Categories, []string{DefaultSelectedCategory}) {
		t.Fatalf("created selected event reads as %v", sel.Event.Categories)
	}
	series := &model.Item{Event: &model.Event{Subject: "S", Series: "master", Start: d, End: d.Add(time.Hour)}}
	if _, err := e.c.Create(e.ctx, eventsS, "k-series", series); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("series create: %v", err)
	}
	master := timedEvent("Weekly", d, d.Add(time.Hour), "UTC")
	master.Recurrence = []string{"RRULE:FREQ=WEEKLY;COUNT=3"}
	mm := e.putEvent(alice, master)
	cur, err := e.c.Get(e.ctx, eventsS, mm.Id)
	must(t, err)
	if cur.Event.Series != "master" {
		t.Fatalf("master reads as %q", cur.Event.Series)
	}
	plain := cur.Clone()
	plain.Event.Series = ""
	if _, err := e.c.Update(e.ctx, eventsS, mm.Id, cur.Marker, plain); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("series update: %v", err)
	}
	if err := e.c.Delete(e.ctx, eventsS, mm.Id, ""); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("series delete without marker: %v", err)
	}
}

// allDayZoneEnv names the zone a child test process runs in (TZ), so that
// time.Local differs from the parent's without mutating it under running
// servers.
const allDayZoneEnv = "SYNCGATE_GOOGLE_TEST_ZONE"

// All-day events keep their dates whatever the zone of the machine running
// the connector: each zone runs in its own test process with TZ set, from
// UTC+14 to UTC-11 and a half-hour offset.
func TestAllDayDatesInEveryLocalZone(t *testing.T) {
	if zone := os.Getenv(allDayZoneEnv); zone != "" {
		allDayInThisZone(t, zone)
		return
	}
	if testing.Short() {
		t.Skip("starts a test process per zone")
	}
	for _, zone := range []string{"Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/Berlin", "America/St_Johns", "Asia/Kathmandu"} {
		t.Run(zone, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestAllDayDatesInEveryLocalZone$", "-test.count=1")
			cmd.Env = append(os.Environ(), "TZ="+zone, allDayZoneEnv+"="+zone)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "PASS") || strings.Contains(string(out), "no tests to run") {
				t.Fatalf("in %s: %v\n%s", zone, err, out)
			}
		})
	}
}

func allDayInThisZone(t *testing.T, zone string) {
	loc, err := time.LoadLocation(zone)
	must(t, err)
	probe := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	_, want := probe.In(loc).Zone()
	if _, got := probe.In(time.Local).Zone(); got != want {
		t.Fatalf("time.Local is not %s (offset %d, want %d)", zone, got, want)
	}
	e := newEnv(t, Options{})
	cur := e.changes(eventsS, "").Cursor
	ev := &model.Event{Subject: "Holiday", AllDay: true, StartDate: "2027-01-01", EndDate: "2027-01-02"}
	it, err := e.c.Create(e.ctx, eventsS, "k-allday", &model.Item{Event: ev})
	must(t, err)
	raw, err := e.userCalendar(alice).Events.Get("primary", it.ID).Do()
	must(t, err)
	if raw.Start.Date != "2027-01-01" || raw.End.Date != "2027-01-02" || raw.Start.DateTime != "" || raw.End.DateTime != "" {
		t.Fatalf("stored %+v - %+v", raw.Start, raw.End)
	}
	seeded := e.putEvent(alice, allDayEvent("New year", "2026-12-31", "2027-01-01"))
	got := byID(e.changes(eventsS, cur).Items)
	if r := got[it.ID].Event; !r.AllDay || r.StartDate != "2027-01-01" || r.EndDate != "2027-01-02" || got[it.ID].Hash() != (&model.Item{Event: ev}).Hash() {
		t.Fatalf("read back %+v", r)
	}
	if ev := got[seeded.Id].Event; !ev.AllDay || ev.StartDate != "2026-12-31" || ev.EndDate != "2027-01-01" {
		t.Fatalf("seeded read as %+v", ev)
	}
}

// Google has no tentative or out-of-office for an ordinary event: the
// CRM's is kept as a mark on a busy event and survives updates of other
// fields; changing it writes the mark (cleared by an empty value, as patch
// merges the map); a person making the event free in Google wins.
func TestEventShowAsKeptAcrossGoogle(t *testing.T) {
	e := newEnv(t, Options{})
	created, err := e.c.Create(e.ctx, eventsS, "k-oof", &model.Item{Event: &model.Event{Subject: "Offsite", ShowAs: "oof",
		Start: utc("2026-12-15T09:00:00Z"), End: utc("2026-12-15T17:00:00Z")}})
	must(t, err)
	if created.Event.ShowAs != "oof" {
		t.Fatalf("created reads back as %q", created.Event.ShowAs)
	}
	steps := []struct {
		name   string
		edit   func(ev *model.Event)
		showAs string
	}{
		{"rename keeps out of office", func(ev *model.Event) { ev.Subject = "Offsite (Berlin)" }, "oof"},
		{"tentative", func(ev *model.Event) { ev.ShowAs = "tentative" }, "tentative"},
		{"busy clears the mark", func(ev *model.Event) { ev.ShowAs = "" }, ""},
		{"out of office again", func(ev *model.Event) { ev.ShowAs = "oof" }, "oof"},
		{"free", func(ev *model.Event) { ev.ShowAs = "free" }, "free"},
	}
	cur := created
	for _, st := range steps {
		next := cur.Clone()
		st.edit(next.Event)
		upd, err := e.c.Update(e.ctx, eventsS, cur.ID, cur.Marker, next)
		must(t, err)
		got, err := e.c.Get(e.ctx, eventsS, cur.ID)
		must(t, err)
		if got.Event.ShowAs != st.showAs || upd.Event.ShowAs != st.showAs || got.Hash() != next.Hash() {
			t.Fatalf("%s: read back %q (update returned %q), want %q", st.name, got.Event.ShowAs, upd.Event.ShowAs, st.showAs)
		}
		cur = got
	}
	// Back to out of office, then a person makes it free in Google.
	next := cur.Clone()
	next.Event.ShowAs = "oof"
	_, err = e.c.Update(e.ctx, eventsS, cur.ID, cur.Marker, next)
	must(t, err)
	if _, err := e.userCalendar(eventsS.User).Events.Patch("primary", cur.ID, &calendar.Event{Transparency: "transparent"}).Do(); err != nil {
		t.Fatal(err)
	}
	got, err := e.c.Get(e.ctx, eventsS, cur.ID)
	must(t, err)
	if got.Event.ShowAs != "free" {
		t.Fatalf("made free in Google, reads %q", got.Event.ShowAs)
	}
}
