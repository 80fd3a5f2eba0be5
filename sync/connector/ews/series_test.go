package ews

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	emu "github.com/syncgate/syncgate/emulate/ews"
	"github.com/syncgate/syncgate/policy"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// yearS is a scope whose window is a year, for comparing expansions.
var yearS = connector.Scope{User: alice, Kind: model.Events, WindowStart: winStart, WindowEnd: winStart.AddDate(1, 0, 0)}

func series(t *testing.T, rrule, tz, start string, dur time.Duration, xs ...model.Exception) *model.Item {
	t.Helper()
	r, err := model.ParseRRULE(rrule, tz)
	must(t, err)
	r.Exceptions = xs
	st := mustTime(t, start)
	return &model.Item{Event: &model.Event{Subject: "Standup", Description: "Agenda", Location: "Room 1",
		Start: st, End: st.Add(dur), Series: "master", Recurrence: r}}
}

// berlinWeekly is a weekly series on Mondays at 09:00 Berlin time.
func berlinWeekly(t *testing.T, xs ...model.Exception) *model.Item {
	t.Helper()
	return series(t, "FREQ=WEEKLY;BYDAY=MO", "Europe/Berlin", "2026-11-02T08:00:00Z", 30*time.Minute, xs...)
}

var (
	sMoved = model.Exception{OriginalStart: "2026-12-07T08:00:00Z", Start: time.Date(2026, 12, 8, 13, 0, 0, 0, time.UTC),
		End: time.Date(2026, 12, 8, 13, 30, 0, 0, time.UTC), Subject: "Standup (moved)"}
	sCancelled = model.Exception{OriginalStart: "2026-12-14T08:00:00Z", Cancelled: true}
)

func starts(t *testing.T, it *model.Item, s connector.Scope) string {
	t.Helper()
	occ, err := it.Event.Occurrences(s.WindowStart, s.WindowEnd)
	must(t, err)
	var b []string
	for _, o := range occ {
		b = append(b, o.Start.Format(time.RFC3339)+"/"+o.Subject)
	}
	return strings.Join(b, " ")
}

// emulatorStarts is the emulator's own expansion of master over the scope.
func (e *env) emulatorStarts(id string, s connector.Scope) string {
	e.t.Helper()
	occ, err := e.s.Occurrences(id, s.WindowStart, s.WindowEnd)
	must(e.t, err)
	var b []string
	for _, o := range occ {
		b = append(b, o.Start.Format(time.RFC3339)+"/"+o.Subject)
	}
	return strings.Join(b, " ")
}

func countOccurrenceWrites(calls []seen) int {
	n := 0
	for _, c := range calls {
		if (c.op == "UpdateItem" || c.op == "DeleteItem") && strings.Contains(string(c.body), "OccurrenceItemId") {
			n++
		}
	}
	return n
}

// A series written and read back is one item with the same hash and the
// same occurrences (the connector's and Exchange's expansion agree); a
// moved and a cancelled occurrence survive; cancelling another is an
// update of the master, never a delete; nothing is rewritten when nothing
// changed.
func TestSeriesRoundTrip(t *testing.T) {
	e := newEnv(t, Options{})
	in := berlinWeekly(t, sMoved, sCancelled)
	got, err := e.c.Create(e.ctx, eventsS, "key-1", in)
	must(t, err)
	if got.Hash() != in.Hash() || got.Key != "key-1" || got.Event.Series != "master" {
		t.Fatalf("created series reads back differently:\n got %+v\nwant %+v", got.Event.Recurrence, in.Event.Recurrence)
	}
	ch := e.changes(eventsS, "")
	if len(ch.Items) != 1 || ch.Items[0].ID != got.ID || ch.Items[0].Hash() != in.Hash() {
		t.Fatalf("listing: %d items", len(ch.Items))
	}
	a, b := starts(t, ch.Items[0], eventsS), starts(t, in, eventsS)
	if a != b || a != e.emulatorStarts(got.ID, eventsS) || !strings.Contains(a, "2026-12-08T13:00:00Z/Standup (moved)") || strings.Contains(a, "2026-12-14") {
		t.Fatalf("occurrences\n got %s\nwant %s\n emu %s", a, b, e.emulatorStarts(got.ID, eventsS))
	}
	if again := e.changes(eventsS, ch.Cursor); len(again.Items)+len(again.Deleted) != 0 {
		t.Fatalf("incremental round: %d items", len(again.Items))
	}
	// The same series again writes nothing.
	e.gw.reset()
	same, err := e.c.Update(e.ctx, eventsS, got.ID, ch.Items[0].Marker, in)
	must(t, err)
	if same.Hash() != in.Hash() || countOps(e.gw.Calls(), "UpdateItem")+countOps(e.gw.Calls(), "DeleteItem") != 0 {
		t.Fatalf("a no-op update wrote %d times", countOps(e.gw.Calls(), "UpdateItem")+countOps(e.gw.Calls(), "DeleteItem"))
	}
	// Another occurrence cancelled: an update of the master, which stays.
	upd := berlinWeekly(t, sMoved, sCancelled, model.Exception{OriginalStart: "2026-12-21T08:00:00Z", Cancelled: true})
	got2, err := e.c.Update(e.ctx, eventsS, got.ID, same.Marker, upd)
	must(t, err)
	if got2.Hash() != upd.Hash() || got2.ID != got.ID {
		t.Fatalf("update reads back differently: %+v", got2.Event.Recurrence.Exceptions)
	}
	next := e.changes(eventsS, ch.Cursor)
	if len(next.Deleted) != 0 || len(next.Items) != 1 || next.Items[0].ID != got.ID || next.Items[0].Hash() != upd.Hash() {
		t.Fatalf("after cancelling: %d items, deleted %v", len(next.Items), next.Deleted)
	}
	found, err := e.c.FindByKey(e.ctx, eventsS, "key-1")
	must(t, err)
	if found == nil || found.Hash() != upd.Hash() {
		t.Fatal("FindByKey does not return the whole series")
	}
	// A stale marker is a conflict, and nothing is written.
	e.gw.reset()
	if _, err := e.c.Update(e.ctx, eventsS, got.ID, ch.Items[0].Marker, in); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("stale marker: %v", err)
	}
	if countOps(e.gw.Calls(), "UpdateItem")+countOps(e.gw.Calls(), "DeleteItem") != 0 {
		t.Fatal("a conflicting update wrote")
	}
}

// Each pattern written through the connector reads back with the same
// hash and expands to the same instants over a year as Exchange's own
// expansion (DST in Berlin and New York included); rules EWS cannot
// express exactly are refused and nothing is created.
func TestSeriesPatterns(t *testing.T) {
	tests := []struct {
		name, rrule, tz, start string
	}{
		{"daily, every other day, count", "FREQ=DAILY;INTERVAL=2;COUNT=40", "UTC", "2026-11-02T09:00:00Z"},
		{"weekly two days, Berlin DST", "FREQ=WEEKLY;BYDAY=MO,WE", "Europe/Berlin", "2026-11-02T08:00:00Z"},
		{"every other week, week from Sunday, New York DST", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;WKST=SU", "America/New_York", "2026-11-03T14:00:00Z"},
		{"monthly on the 31st, the last day of shorter months", "FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1;COUNT=8", "UTC", "2026-12-31T10:00:00Z"},
		{"monthly on the 15th until", "FREQ=MONTHLY;BYMONTHDAY=15;UNTIL=20270615T235959Z", "Europe/Berlin", "2026-11-15T09:00:00Z"},
		{"monthly on the last day from the 31st", "FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1", "UTC", "2026-11-30T10:00:00Z"},
		{"last Friday", "FREQ=MONTHLY;BYDAY=-1FR", "America/New_York", "2026-11-27T17:00:00Z"},
		{"first weekday", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1", "UTC", "2026-11-02T09:00:00Z"},
		{"yearly on 15 March", "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=15;COUNT=3", "Europe/Berlin", "2027-03-15T08:00:00Z"},
		{"yearly second Tuesday of November", "FREQ=YEARLY;BYMONTH=11;BYDAY=2TU", "UTC", "2026-11-10T09:00:00Z"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			in := series(t, tt.rrule, tt.tz, tt.start, time.Hour)
			got, err := e.c.Create(e.ctx, yearS, "key-"+string(rune('a'+i)), in)
			must(t, err)
			if got.Hash() != in.Hash() {
				t.Fatalf("reads back differently:\n got %s %s %v\nwant %s %s %v", got.Event.Recurrence.RRULE(), got.Event.Recurrence.TimeZone, got.Event.Start,
					in.Event.Recurrence.RRULE(), in.Event.Recurrence.TimeZone, in.Event.Start)
			}
			ch := e.changes(yearS, "")
			if len(ch.Items) != 1 || ch.Items[0].Hash() != in.Hash() {
				t.Fatalf("listing: %d items", len(ch.Items))
			}
			a, b, x := starts(t, ch.Items[0], yearS), starts(t, in, yearS), e.emulatorStarts(got.ID, yearS)
			if a != b || a != x || a == "" {
				t.Fatalf("occurrences\n got %s\nwant %s\n emu %s", a, b, x)
			}
		})
	}
	unsupported := []struct{ name, rrule string }{
		{"31st skipping short months", "FREQ=MONTHLY;BYMONTHDAY=31"},
		{"yearly every other year", "FREQ=YEARLY;INTERVAL=2;BYMONTH=3;BYMONTHDAY=15"},
		{"two ordinals", "FREQ=MONTHLY;BYDAY=1MO,3MO"},
		{"daily with BYDAY", "FREQ=DAILY;BYDAY=MO"},
		{"count beyond Exchange's", "FREQ=DAILY;COUNT=1200"},
	}
	unsupported = append(unsupported, struct{ name, rrule string }{"extra dates", "FREQ=WEEKLY;BYDAY=MO"}, struct{ name, rrule string }{"zone without a Windows id", "FREQ=DAILY"})
	for _, tt := range unsupported {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			zone := "UTC"
			if tt.name == "zone without a Windows id" {
				zone = "Pacific/Chatham" // UTC+12:45, no Windows zone of the table
			}
			in := series(t, tt.rrule, zone, "2026-11-02T09:00:00Z", time.Hour)
			if tt.name == "extra dates" {
				in.Event.Recurrence.RDates = []string{"2026-11-05T09:00:00Z"}
			}
			if _, err := e.c.Create(e.ctx, yearS, "key-u", in); !errors.Is(err, connector.ErrUnsupported) {
				t.Fatalf("want ErrUnsupported, got %v", err)
			}
			if list, _ := e.s.Items(alice, "calendar"); len(list) != 0 {
				t.Fatalf("%d items created", len(list))
			}
		})
	}
}

// Series made in the mailbox: a master begun before the window is listed
// whole (not truncated, not deleted); only the exceptions in the window
// are reported; occurrences are never items of their own.
func TestSeriesFromMailbox(t *testing.T) {
	e := newEnv(t, Options{})
	st := mustTime(t, "2026-09-07T07:00:00Z") // Monday 09:00 Berlin (CEST)
	master, err := e.s.AddCalendarItemWith(alice, emu.CalendarItem{Subject: "Weekly", Location: "Room 2", Start: st, End: st.Add(time.Hour)},
		emu.Extras{Recurrence: &emu.Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: "Monday", FirstDayOfWeek: "Monday", StartDate: "2026-09-07"}, StartTimeZone: "W. Europe Standard Time"})
	must(t, err)
	// Occurrence 3 (21 Sep, before the window) moved; 10 (9 Nov) moved
	// and renamed; 11 (16 Nov) cancelled.
	_, err = e.s.ModifyOccurrence(master, 3, emu.OccurrenceEdit{Subject: "Outside"})
	must(t, err)
	_, err = e.s.ModifyOccurrence(master, 10, emu.OccurrenceEdit{Start: mustTime(t, "2026-11-10T15:00:00Z"), End: mustTime(t, "2026-11-10T16:00:00Z"), Subject: "Weekly (Tue)"})
	must(t, err)
	must(t, e.s.DeleteOccurrence(master, 11))
	ch := e.changes(eventsS, "")
	if len(ch.Items) != 1 || ch.Items[0].ID != master {
		t.Fatalf("listed %d items", len(ch.Items))
	}
	ev := ch.Items[0].Event
	want := []model.Exception{
		{OriginalStart: "2026-11-09T08:00:00Z", Start: mustTime(t, "2026-11-10T15:00:00Z"), End: mustTime(t, "2026-11-10T16:00:00Z"), Subject: "Weekly (Tue)"},
		{OriginalStart: "2026-11-16T08:00:00Z", Cancelled: true},
	}
	if !ev.Start.Equal(st) || ev.Recurrence == nil || ev.Recurrence.TimeZone != "Europe/Berlin" || len(ev.Recurrence.Exceptions) != 2 {
		t.Fatalf("series %+v %+v", ev, ev.Recurrence)
	}
	for i, x := range want {
		if !sameException(ev.Recurrence.Exceptions[i], x) {
			t.Fatalf("exception %d: %+v, want %+v", i, ev.Recurrence.Exceptions[i], x)
		}
	}
	if a, b := starts(t, ch.Items[0], eventsS), e.emulatorStarts(master, eventsS); a != b {
		t.Fatalf("occurrences\n got %s\n emu %s", a, b)
	}
	// Writing it back unchanged writes nothing and leaves the exception
	// outside the window alone; a new subject is one write on the master.
	e.gw.reset()
	next := ch.Items[0].Clone()
	next.Event.Subject = "Weekly sync"
	got, err := e.c.Update(e.ctx, eventsS, master, ch.Items[0].Marker, next)
	must(t, err)
	if got.Hash() != next.Hash() || countOps(e.gw.Calls(), "UpdateItem") != 1 || countOccurrenceWrites(e.gw.Calls()) != 0 {
		t.Fatalf("update: %d UpdateItem, %d occurrence writes", countOps(e.gw.Calls(), "UpdateItem"), countOccurrenceWrites(e.gw.Calls()))
	}
	occ, err := e.s.Occurrences(master, st, st.AddDate(0, 0, 20))
	must(t, err)
	if len(occ) != 3 || occ[2].Type != "Exception" || occ[2].Subject != "Outside" {
		t.Fatalf("exception before the window: %+v", occ)
	}
	// A series that ended before the window is not listed.
	old := mustTime(t, "2026-01-05T09:00:00Z")
	_, err = e.s.AddCalendarItemWith(alice, emu.CalendarItem{Subject: "Old", Start: old, End: old.Add(time.Hour)},
		emu.Extras{Recurrence: &emu.Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: "Monday", StartDate: "2026-01-05", Occurrences: 5}})
	must(t, err)
	if ch := e.changes(eventsS, ""); len(ch.Items) != 1 {
		t.Fatalf("a series ended before the window is listed: %d items", len(ch.Items))
	}
}

// An all-day series keeps its dates both ways; its occurrences are
// midnights of the series zone.
func TestAllDaySeries(t *testing.T) {
	e := newEnv(t, Options{})
	r, err := model.ParseRRULE("FREQ=WEEKLY;BYDAY=FR;COUNT=30", "Europe/Berlin")
	must(t, err)
	r.Exceptions = []model.Exception{{OriginalStart: "2026-11-27", Cancelled: true}}
	in := &model.Item{Event: &model.Event{Subject: "Home office", AllDay: true, StartDate: "2026-11-06", EndDate: "2026-11-07", Series: "master", Recurrence: r}}
	got, err := e.c.Create(e.ctx, eventsS, "key-ad", in)
	must(t, err)
	if got.Hash() != in.Hash() || got.Event.StartDate != "2026-11-06" {
		t.Fatalf("all-day series reads back differently: %+v %+v", got.Event, got.Event.Recurrence)
	}
	occ, err := e.s.Occurrences(got.ID, winStart, winEnd)
	must(t, err)
	// Midnights of Berlin; 27 Nov cancelled; 1 Jan begins before the
	// window ends (UTC).
	if len(occ) != 8 || occ[0].Start.Format(time.RFC3339) != "2026-11-05T23:00:00Z" || occ[3].Start.Format(time.RFC3339) != "2026-12-03T23:00:00Z" {
		t.Fatalf("occurrences %+v", occ)
	}
}

// ErrorServerBusy on the exceptions' GetItem and on the occurrence writes
// is waited out; a write interrupted by it converges when re-run, without
// a second exception for the same occurrence.
func TestSeriesServerBusy(t *testing.T) {
	e := newEnv(t, Options{})
	got, err := e.c.Create(e.ctx, eventsS, "key-1", berlinWeekly(t, sMoved))
	must(t, err)
	e.s.SetFaults(emu.Faults{ServerBusy: 2, BackOff: 200 * time.Millisecond, ServerBusyOp: "GetItem", ServerBusyOccurrences: true})
	ch := e.changes(eventsS, "")
	if len(ch.Items) != 1 || len(e.sleeps) != 2 || e.sleeps[0] != 200*time.Millisecond {
		t.Fatalf("busy exception reads: %d items, slept %v", len(ch.Items), e.sleeps)
	}
	// The cancellation waits once; the move gives up.
	e.sleeps = nil
	e.s.SetFaults(emu.Faults{ServerBusy: 1, BackOff: 100 * time.Millisecond, ServerBusyOp: "DeleteItem", ServerBusyOccurrences: true})
	want := berlinWeekly(t, sMoved, sCancelled)
	up, err := e.c.Update(e.ctx, eventsS, got.ID, ch.Items[0].Marker, want)
	must(t, err)
	if up.Hash() != want.Hash() || len(e.sleeps) != 1 {
		t.Fatalf("busy cancellation: slept %v", e.sleeps)
	}
	moved2 := model.Exception{OriginalStart: "2026-12-21T08:00:00Z", Start: mustTime(t, "2026-12-22T08:00:00Z"), End: mustTime(t, "2026-12-22T08:30:00Z")}
	moved3 := model.Exception{OriginalStart: "2026-12-28T08:00:00Z", Subject: "Year end"}
	want2 := berlinWeekly(t, sMoved, sCancelled, moved2, moved3)
	left := 1 // the first occurrence write goes through, the second is refused
	e.s.SetFaults(emu.Faults{})
	e.gw.intercept = func(op string, body []byte, _ int) *http.Response {
		if op == "UpdateItem" && strings.Contains(string(body), "OccurrenceItemId") {
			if left == 0 {
				return soapAnswer(500, busyFault)
			}
			left--
		}
		return nil
	}
	if _, err := e.c.Update(e.ctx, eventsS, got.ID, up.Marker, want2); err == nil {
		t.Fatal("interrupted update succeeded")
	}
	e.gw.intercept = nil
	cur, err := e.c.Get(e.ctx, eventsS, got.ID)
	must(t, err)
	if len(cur.Event.Recurrence.Exceptions) != 3 {
		t.Fatalf("half-done update: %+v", cur.Event.Recurrence.Exceptions)
	}
	e.gw.reset()
	done, err := e.c.Update(e.ctx, eventsS, got.ID, cur.Marker, want2)
	must(t, err)
	if done.Hash() != want2.Hash() || countOccurrenceWrites(e.gw.Calls()) != 1 {
		t.Fatalf("re-run: %d occurrence writes, exceptions %+v", countOccurrenceWrites(e.gw.Calls()), done.Event.Recurrence.Exceptions)
	}
	occ, err := e.s.Occurrences(got.ID, winStart, winEnd)
	must(t, err)
	exceptions := 0
	for _, o := range occ {
		if o.Type == "Exception" {
			exceptions++
		}
	}
	if exceptions != 3 {
		t.Fatalf("%d exceptions in the mailbox, want 3", exceptions)
	}
}

// Occurrence ids of another user's master are refused by the gateway (its
// id was never relayed to that subject) and never reach Exchange.
func TestSeriesOtherUsersMaster(t *testing.T) {
	e := newEnv(t, Options{})
	got, err := e.c.Create(e.ctx, eventsS, "key-1", berlinWeekly(t))
	must(t, err)
	bobS := eventsS
	bobS.User = bob
	e.gw.reset()
	_, err = e.c.getOccurrences(e.ctx, bobS, got.ID, map[int]string{2: ""})
	if !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("bob reading alice's occurrence: %v", err)
	}
	refused := 0
	for _, c := range e.gw.Calls() {
		if c.op == "GetItem" && c.status == 403 && c.reason == policy.ReasonEWSItemUnknown && c.subject == bob {
			refused++
		}
		if c.op == "GetItem" && c.status == 200 {
			t.Fatal("bob's GetItem of alice's occurrence reached Exchange")
		}
	}
	if refused != 1 {
		t.Fatalf("refusals: %d", refused)
	}
	if err := e.c.deleteOccurrence(e.ctx, bobS, got.ID, 2); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("bob cancelling alice's occurrence: %v", err)
	}
	if occ, _ := e.s.Occurrences(got.ID, winStart, winEnd); len(occ) != 9 {
		t.Fatalf("alice's series changed: %d occurrences", len(occ))
	}
}

// A master changed between the connector's read and its write is a
// conflict (ErrorIrresolvableConflict, ErrorChangeKeyMismatch), and the
// occurrences are not written.
func TestSeriesUpdateConflict(t *testing.T) {
	tests := []struct {
		name  string
		reply func(e *env, master string) *http.Response
	}{
		{"edited meanwhile", func(e *env, master string) *http.Response {
			must(e.t, e.s.EditItem(master, map[string]string{"Location": "Room 9"}))
			return nil // on to Exchange, which finds the ChangeKey stale
		}},
		{"ChangeKey mismatch", func(*env, string) *http.Response {
			return soapAnswer(200, `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="`+NSSOAP+`"><s:Body><m:UpdateItemResponse xmlns:m="`+NSMessages+`" xmlns:t="`+NSTypes+`"><m:ResponseMessages>`+
				`<m:UpdateItemResponseMessage ResponseClass="Error"><m:MessageText>x</m:MessageText><m:ResponseCode>ErrorChangeKeyMismatch</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Items/></m:UpdateItemResponseMessage>`+
				`</m:ResponseMessages></m:UpdateItemResponse></s:Body></s:Envelope>`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			got, err := e.c.Create(e.ctx, eventsS, "key-1", berlinWeekly(t))
			must(t, err)
			e.gw.intercept = func(op string, body []byte, _ int) *http.Response {
				if op == "UpdateItem" && !strings.Contains(string(body), "OccurrenceItemId") {
					return tt.reply(e, got.ID)
				}
				return nil
			}
			next := berlinWeekly(t, sCancelled)
			next.Event.Subject = "Renamed"
			e.gw.reset()
			if _, err := e.c.Update(e.ctx, eventsS, got.ID, got.Marker, next); !errors.Is(err, connector.ErrConflict) {
				t.Fatalf("want ErrConflict, got %v", err)
			}
			if n := countOccurrenceWrites(e.gw.Calls()); n != 0 {
				t.Fatalf("%d occurrence writes after a conflict", n)
			}
		})
	}
}

// A master deleted while its exceptions are read is left out of the round
// (its tombstone comes with the next one); the round does not fail.
func TestSeriesMasterGoneWhileReading(t *testing.T) {
	e := newEnv(t, Options{})
	got, err := e.c.Create(e.ctx, eventsS, "key-1", berlinWeekly(t, sMoved))
	must(t, err)
	single := e.addEvent(emu.CalendarItem{Subject: "Single", Start: mustTime(t, "2026-11-25T09:00:00Z"), End: mustTime(t, "2026-11-25T10:00:00Z")})
	gone := false
	e.gw.intercept = func(op string, body []byte, _ int) *http.Response {
		if op == "GetItem" && strings.Contains(string(body), "OccurrenceItemId") && !gone {
			gone = true
			must(t, e.s.RemoveItem(got.ID))
			return refusal("gw-x", ReasonItemUnknown) // as a restarted gateway would answer
		}
		return nil
	}
	ch := e.changes(eventsS, "")
	if !gone || len(ch.Items) != 1 || ch.Items[0].ID != single {
		t.Fatalf("round with a master gone: %d items", len(ch.Items))
	}
	next := e.changes(eventsS, ch.Cursor)
	if len(next.Deleted) != 1 || next.Deleted[0] != got.ID {
		t.Fatalf("next round: deleted %v", next.Deleted)
	}
}
