package graph

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

func berlinWeekly(t *testing.T, xs ...model.Exception) *model.Item {
	t.Helper()
	r, err := model.ParseRRULE("FREQ=WEEKLY;BYDAY=MO", "Europe/Berlin")
	must(t, err)
	r.Exceptions = xs
	loc, _ := time.LoadLocation("Europe/Berlin")
	st := time.Date(2024, 1, 8, 9, 0, 0, 0, loc)
	return &model.Item{Event: &model.Event{Subject: "Standup", Description: "Agenda", Location: "Room 1",
		Start: st.UTC(), End: st.Add(30 * time.Minute).UTC(), Series: "master", Recurrence: r}}
}

var (
	gMoved = model.Exception{OriginalStart: "2026-12-07T08:00:00Z", Start: mustParse("2026-12-08T13:00:00Z"),
		End: mustParse("2026-12-08T13:30:00Z"), Subject: "Standup (moved)"}
	gCancelled = model.Exception{OriginalStart: "2026-12-14T08:00:00Z", Cancelled: true}
)

func mustParse(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }

func occurrences(t *testing.T, it *model.Item) string {
	t.Helper()
	occ, err := it.Event.Occurrences(winStart, winEnd)
	must(t, err)
	var b []string
	for _, o := range occ {
		b = append(b, o.Start.Format(time.RFC3339)+"/"+o.Subject)
	}
	return strings.Join(b, " ")
}

// A series written and read back is one item with the same hash and the
// same occurrences over the window; no occurrence is listed on its own.
func TestSeriesRoundTrip(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	in := berlinWeekly(t, gMoved, gCancelled)
	got, err := e.c.Create(e.ctx, eventsS, "key-1", in)
	must(t, err)
	if got.Hash() != in.Hash() {
		t.Fatalf("created series reads back differently:\n got %+v\nwant %+v", got.Event.Recurrence, in.Event.Recurrence)
	}
	ch := e.changes(eventsS, "")
	if len(ch.Items) != 1 || ch.Items[0].ID != got.ID || ch.Items[0].Hash() != in.Hash() {
		t.Fatalf("listing: %d items", len(ch.Items))
	}
	if a, b := occurrences(t, ch.Items[0]), occurrences(t, in); a != b || !strings.Contains(a, "2026-12-08T13:00:00Z/Standup (moved)") || strings.Contains(a, "2026-12-14") {
		t.Fatalf("occurrences\n got %s\nwant %s", a, b)
	}
	// Nothing changed: an incremental round is empty.
	if again := e.changes(eventsS, ch.Cursor); len(again.Items) != 0 {
		t.Fatalf("incremental round: %d items", len(again.Items))
	}
	// Another occurrence cancelled through the connector: an update of the
	// master, which stays.
	upd := berlinWeekly(t, gMoved, gCancelled, model.Exception{OriginalStart: "2026-12-21T08:00:00Z", Cancelled: true})
	got2, err := e.c.Update(e.ctx, eventsS, got.ID, ch.Items[0].Marker, upd)
	must(t, err)
	if got2.Hash() != upd.Hash() || got2.ID != got.ID {
		t.Fatalf("update reads back differently: %+v", got2.Event.Recurrence.Exceptions)
	}
	found, err := e.c.FindByKey(e.ctx, eventsS, "key-1")
	must(t, err)
	if found == nil || found.Hash() != upd.Hash() {
		t.Fatal("FindByKey does not return the whole series")
	}
}

// Mailbox-side edits: occurrences come with few fields and name their
// master; a cancelled occurrence gives no signal but its removal; the
// master is completed from its instances.
func TestSeriesMailboxEdits(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	ev := gEvent0("Review", "2026-11-02T10:00:00", "2026-11-02T11:00:00", "W. Europe Standard Time")
	ev["recurrence"] = map[string]any{
		"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"monday", "wednesday"}, "firstDayOfWeek": "sunday"},
		"range":   map[string]any{"type": "noEnd", "startDate": "2026-11-02"},
	}
	master := addEvent(t, e, ev)
	addEvent(t, e, gEvent0("Single", "2026-11-04T09:00:00", "2026-11-04T09:30:00", "UTC"))
	ch := e.changes(eventsS, "")
	if len(ch.Items) != 2 {
		t.Fatalf("%d items, want the master and the single", len(ch.Items))
	}
	m := byID(ch.Items)[master]
	if m == nil || m.Event.Recurrence == nil || m.Event.Recurrence.RRULE() != "FREQ=WEEKLY;BYDAY=MO,WE" || m.Event.Recurrence.TimeZone != "Europe/Berlin" {
		t.Fatalf("master %+v", m)
	}
	// Cancel Wednesday 18 November (09:00Z) and move Monday 23 November.
	must(t, e.s.DeleteEvent(aliceID, master+".20261118T090000Z"))
	_, err := e.s.UpdateEvent(aliceID, master+".20261123T090000Z", map[string]any{
		"start": map[string]any{"dateTime": "2026-11-23T15:00:00", "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": "2026-11-23T16:00:00", "timeZone": "UTC"}})
	must(t, err)
	inc := e.changes(eventsS, ch.Cursor)
	var got *model.Item
	for _, it := range inc.Items {
		if it.Event.Series != "master" {
			t.Fatalf("an item that is not a master: %+v", it.Event)
		}
		got = it
	}
	if got == nil {
		t.Fatal("the master was not reported")
	}
	want := []model.Exception{{OriginalStart: "2026-11-18T09:00:00Z", Cancelled: true},
		{OriginalStart: "2026-11-23T09:00:00Z", Start: mustParse("2026-11-23T15:00:00Z"), End: mustParse("2026-11-23T16:00:00Z")}}
	xs := got.Event.Recurrence.Exceptions
	if len(xs) != 2 || !sameException(xs[0], want[0]) || !sameException(xs[1], want[1]) {
		t.Fatalf("exceptions %+v", xs)
	}
	for _, id := range inc.Deleted {
		if id == master {
			t.Fatal("a cancelled occurrence reported as the series' deletion")
		}
	}
}

// Patterns: each Graph pattern reads as a rule that maps back to it; rules
// Graph cannot express are ErrUnsupported.
func TestSeriesPatterns(t *testing.T) {
	start := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	for _, rule := range []string{"FREQ=DAILY;INTERVAL=2;COUNT=10", "FREQ=WEEKLY;BYDAY=MO,WE,FR", "FREQ=MONTHLY;BYMONTHDAY=27",
		"FREQ=MONTHLY;BYDAY=-1FR", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "FREQ=YEARLY;BYMONTH=11;BYMONTHDAY=27",
		"FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;WKST=SU"} {
		r, err := model.ParseRRULE(rule, "America/New_York")
		must(t, err)
		ev := model.Event{Start: start, End: start.Add(time.Hour), Recurrence: r}
		g, _, err := recurrenceToGraph(ev)
		if err != nil {
			t.Fatalf("%s: %v", rule, err)
		}
		b, _ := json.Marshal(g)
		var gr gRecurrence
		must(t, json.Unmarshal(b, &gr))
		back, err := recurrenceFromGraph(&gr, "UTC")
		if err != nil {
			t.Fatalf("%s → %s: %v", rule, b, err)
		}
		if back.RRULE() != r.RRULE() || back.TimeZone != "America/New_York" {
			t.Errorf("%s → %s → %s", rule, b, back.RRULE())
		}
	}
	for _, rule := range []string{"FREQ=MONTHLY;BYMONTHDAY=1,15", "FREQ=MONTHLY;BYDAY=2MO,4MO", "FREQ=DAILY;BYDAY=MO",
		"FREQ=YEARLY;BYMONTH=1,7", "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=5", "FREQ=MONTHLY;BYMONTHDAY=-1"} {
		r, err := model.ParseRRULE(rule, "")
		must(t, err)
		if _, _, err := recurrenceToGraph(model.Event{Start: start, End: start, Recurrence: r}); !errors.Is(err, connector.ErrUnsupported) {
			t.Errorf("%s: %v", rule, err)
		}
	}
}

// A series is not written when Series is off.
func TestSeriesOff(t *testing.T) {
	e := newEnv(t, Options{})
	if e.c.SupportsSeries() {
		t.Fatal("series on by default")
	}
	if _, err := e.c.Create(e.ctx, eventsS, "k", berlinWeekly(t)); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("create: %v", err)
	}
}

// UNTIL survives Graph's date-only endDate; COUNT is kept.
func TestSeriesRangeRoundTrip(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	for i, rule := range []string{"FREQ=DAILY;UNTIL=20261210T170000Z", "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=7"} {
		r, err := model.ParseRRULE(rule, "America/New_York")
		must(t, err)
		st := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC) // a Tuesday, 09:00 in New York
		in := &model.Item{Event: &model.Event{Subject: rule, Start: st, End: st.Add(time.Hour), Series: "master", Recurrence: r}}
		got, err := e.c.Create(e.ctx, eventsS, "range-"+string(rune('a'+i)), in)
		must(t, err)
		if got.Hash() != in.Hash() || occurrences(t, got) != occurrences(t, in) {
			t.Errorf("%s: read back as %s", rule, got.Event.Recurrence.RRULE())
		}
	}
}

// Monthly and yearly series round-trip through the emulator with the same
// hash and the same occurrences over the window.
func TestSeriesMonthlyRoundTrip(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	for i, rule := range []string{"FREQ=MONTHLY;BYDAY=-1FR", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
		"FREQ=MONTHLY;BYMONTHDAY=27;COUNT=5", "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", "FREQ=MONTHLY;INTERVAL=2;BYDAY=2TU"} {
		r, err := model.ParseRRULE(rule, "America/New_York")
		must(t, err)
		st := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC) // Friday 27 November, 15:00 New York
		if strings.Contains(rule, "2TU") {
			st = time.Date(2026, 11, 10, 20, 0, 0, 0, time.UTC)
		}
		if strings.Contains(rule, "4TH") {
			st = time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC) // Thanksgiving
		}
		in := &model.Item{Event: &model.Event{Subject: rule, Start: st, End: st.Add(time.Hour), Series: "master", Recurrence: r}}
		got, err := e.c.Create(e.ctx, eventsS, "monthly-"+string(rune('a'+i)), in)
		if err != nil {
			t.Fatalf("%s: %v", rule, err)
		}
		if got.Hash() != in.Hash() || occurrences(t, got) != occurrences(t, in) || occurrences(t, in) == "" {
			t.Errorf("%s: read back as %s\n got %s\nwant %s", rule, got.Event.Recurrence.RRULE(), occurrences(t, got), occurrences(t, in))
		}
	}
}

// Series mode changes events only: contacts are listed as before.
func TestSeriesModeKeepsContacts(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	_, err := e.s.AddContact(aliceID, "", annProps())
	must(t, err)
	if ch := e.changes(contactsS, ""); len(ch.Items) != 1 || ch.Items[0].Contact == nil {
		t.Fatalf("contacts in series mode: %d items", len(ch.Items))
	}
}
