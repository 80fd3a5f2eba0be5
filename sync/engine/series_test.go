package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
	"github.com/syncgate/syncgate/sync/state"
)

var seriesNow = time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)

// weekly is a Monday 09:00 Berlin series that began in January 2024, long
// before the sync window (30 days back from seriesNow).
func weekly(t testing.TB, subject string, xs ...model.Exception) *model.Item {
	t.Helper()
	r, err := model.ParseRRULE("FREQ=WEEKLY;BYDAY=MO", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	r.Exceptions = xs
	loc, _ := time.LoadLocation("Europe/Berlin")
	start := time.Date(2024, 1, 8, 9, 0, 0, 0, loc)
	return &model.Item{Event: &model.Event{Subject: subject, Start: start.UTC(), End: start.Add(time.Hour).UTC(), Series: "master", Recurrence: r}}
}

// Occurrences in the window: 7 and 14 December 2026, 08:00Z.
var (
	moved = model.Exception{OriginalStart: "2026-12-07T08:00:00Z", Start: time.Date(2026, 12, 8, 13, 0, 0, 0, time.UTC),
		End: time.Date(2026, 12, 8, 14, 0, 0, 0, time.UTC), Subject: "Standup (moved)"}
	cancelled = model.Exception{OriginalStart: "2026-12-14T08:00:00Z", Cancelled: true}
)

func seriesWorld(t *testing.T, st state.Store) *world {
	w := newWorld(t, st)
	w.crm.Series, w.mail.Series = true, true
	w.eng.Now = func() time.Time { return seriesNow }
	return w
}

func expansions(t testing.TB, it *model.Item) string {
	t.Helper()
	occ, err := it.Event.Occurrences(seriesNow.AddDate(0, -1, 0), seriesNow.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, o := range occ {
		b.WriteString(o.Start.Format(time.RFC3339) + "/" + o.Subject + " ")
	}
	return b.String()
}

// TestSeriesSyncsAsOneItem: a weekly series with one moved and one
// cancelled occurrence, begun long before the window, syncs as one item
// each way; a second pass writes nothing; cancelling another occurrence
// is an update of the master, never a delete; occurrences listed on their
// own are not synced as extra events.
func TestSeriesSyncsAsOneItem(t *testing.T) {
	forEachStore(t, func(t *testing.T, st state.Store) {
		w := seriesWorld(t, st)
		mailID := w.mail.Put(w.user, "", weekly(t, "Standup", moved, cancelled))
		occ := &model.Item{Event: &model.Event{Subject: "Standup", Start: moved.Start, End: moved.End, Series: "exception"}}
		w.mail.Put(w.user, "", occ)
		w.crm.Put(w.user, "", weekly(t, "Review"))
		ks := KindSettings{Direction: Both, Deletes: true, Series: true}
		r := w.mustPass(model.Events, ks)
		if r.Created != 2 || r.Deleted != 0 {
			t.Fatalf("first pass %+v", r)
		}
		crm, mail := w.crm.Live(w.user), w.mail.Live(w.user)
		if len(crm) != 2 || len(mail) != 3 {
			t.Fatalf("crm %s, mail %s", describe(crm), describe(mail))
		}
		for _, c := range crm {
			if c.Event.Recurrence == nil {
				t.Fatalf("crm item %s without recurrence", c.ID)
			}
		}
		var crmStandup *model.Item
		for _, c := range crm {
			if c.Event.Subject == "Standup" {
				crmStandup = c
			}
		}
		src, _ := w.mail.Get(t.Context(), connector.Scope{User: w.user, Kind: model.Events}, mailID)
		if crmStandup == nil || crmStandup.Hash() != src.Hash() || expansions(t, crmStandup) != expansions(t, src) {
			t.Fatalf("CRM copy differs: %v", crmStandup)
		}
		if got := expansions(t, crmStandup); !strings.Contains(got, "2026-12-08T13:00:00Z/Standup (moved)") || strings.Contains(got, "2026-12-14") || !strings.HasPrefix(got, "2026-11-02T08:00:00Z/Standup") {
			t.Fatalf("expansion %s", got)
		}
		if r := w.mustPass(model.Events, ks); r.Writes() != 0 {
			t.Fatalf("second pass wrote: %+v", r)
		}
		// Cancel one more occurrence in the mailbox.
		x := weekly(t, "Standup", moved, cancelled, model.Exception{OriginalStart: "2026-12-21T08:00:00Z", Cancelled: true})
		w.mail.Put(w.user, mailID, x)
		r = w.mustPass(model.Events, ks)
		if r.Updated != 1 || r.Deleted != 0 || len(w.crm.Live(w.user)) != 2 {
			t.Fatalf("cancel: %+v", r)
		}
		got, _ := w.crm.Get(t.Context(), connector.Scope{User: w.user, Kind: model.Events}, crmStandup.ID)
		if strings.Contains(expansions(t, got), "2026-12-21") {
			t.Fatal("the cancellation did not reach the CRM")
		}
		if r := w.mustPass(model.Events, ks); r.Writes() != 0 {
			t.Fatalf("pass after the cancel wrote: %+v", r)
		}
	})
}

// TestSeriesSkippedWithoutSupport: with one end that cannot hold series,
// series are skipped and recorded, as in part 1.
func TestSeriesSkippedWithoutSupport(t *testing.T) {
	w := seriesWorld(t, stores[0].open(t))
	w.crm.Series = false
	w.mail.Put(w.user, "", weekly(t, "Standup", cancelled))
	r := w.mustPass(model.Events, KindSettings{Direction: Both, Series: true})
	if r.Writes() != 0 || r.Skipped != 1 || len(w.crm.Live(w.user)) != 0 {
		t.Fatalf("%+v", r)
	}
	if a := w.audit.all[len(w.audit.all)-1]; !strings.Contains(a.Reason, "crm cannot hold series") {
		t.Fatalf("reason %q", a.Reason)
	}
}

// TestSeriesUnsupportedRuleUnresolved: a pattern the other side cannot
// express is unresolved for that series, never flattened into singles.
func TestSeriesUnsupportedRuleUnresolved(t *testing.T) {
	w := seriesWorld(t, stores[0].open(t))
	w.mail.RefuseRule = func(r *model.Recurrence) bool { return len(r.BySetPos) > 0 }
	r, _ := model.ParseRRULE("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "America/New_York")
	start := time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)
	w.crm.Put(w.user, "", &model.Item{Event: &model.Event{Subject: "Close", Start: start, End: start.Add(time.Hour), Series: "master", Recurrence: r}})
	res := w.mustPass(model.Events, KindSettings{Direction: Both, Series: true})
	if res.Unresolved != 1 || res.Writes() != 0 || len(w.mail.Live(w.user)) != 0 {
		t.Fatalf("%+v, mail %s", res, describe(w.mail.Live(w.user)))
	}
}

// TestSeriesEndedOrOutsideWindowNotDeleted: a series no longer listed
// (all its occurrences before the window, on a full re-list) is not taken
// for deleted; a deleted master is a series delete only when the master
// itself is gone.
func TestSeriesOutsideWindowNotDeleted(t *testing.T) {
	w := seriesWorld(t, stores[0].open(t))
	ks := KindSettings{Direction: Both, Deletes: true, Series: true}
	id := w.mail.Put(w.user, "", weekly(t, "Standup"))
	w.mustPass(model.Events, ks)
	// Move the clock two years on with the rule ending in between: the
	// series leaves the window; a full re-list does not list it.
	x := weekly(t, "Standup")
	x.Event.Recurrence.Until = time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	w.mail.Put(w.user, id, x)
	w.mustPass(model.Events, ks)
	w.eng.Now = func() time.Time { return seriesNow.AddDate(2, 0, 0) }
	w.mail.ExpireCursors()
	w.crm.ExpireCursors()
	if r := w.mustPass(model.Events, ks); r.Deleted != 0 || r.Unlinked != 0 || len(w.crm.Live(w.user)) != 1 {
		t.Fatalf("%+v", r)
	}
	// The master deleted in the mailbox: the series goes.
	w.eng.Now = func() time.Time { return seriesNow }
	w.mail.Remove(w.user, id)
	if r := w.mustPass(model.Events, ks); r.Deleted != 1 || len(w.crm.Live(w.user)) != 0 {
		t.Fatalf("delete: %+v", r)
	}
}

// TestSeriesBusyPlaceholder: a private series under busy_only is written
// as a busy series: the rule and the exceptions' times, no content.
func TestSeriesBusyPlaceholder(t *testing.T) {
	w := seriesWorld(t, stores[0].open(t))
	it := weekly(t, "Therapy", moved, cancelled)
	it.Event.Private = true
	w.mail.Put(w.user, "", it)
	w.mustPass(model.Events, KindSettings{Direction: Both, Private: PrivateBusyOnly, Series: true})
	crm := w.crm.Live(w.user)
	if len(crm) != 1 || crm[0].Event.Subject != PlaceholderSubject || crm[0].Event.Recurrence == nil {
		t.Fatalf("%s", describe(crm))
	}
	got := expansions(t, crm[0])
	if strings.Contains(got, "moved") || !strings.Contains(got, "2026-12-08T13:00:00Z/Busy") || strings.Contains(got, "2026-12-14") {
		t.Fatalf("placeholder expansion %s", got)
	}
	if r := w.mustPass(model.Events, KindSettings{Direction: Both, Private: PrivateBusyOnly, Series: true}); r.Writes() != 0 {
		t.Fatalf("second pass %+v", r)
	}
}

// TestSeriesExceptionsOutsideWindow: exceptions before the window are not
// compared (each end reports those in the window) and are not lost when
// the series is written back.
func TestSeriesExceptionsOutsideWindow(t *testing.T) {
	w := seriesWorld(t, stores[0].open(t))
	ks := KindSettings{Direction: Both, Series: true}
	old := model.Exception{OriginalStart: "2025-03-03T08:00:00Z", Cancelled: true}
	crmID := w.crm.Put(w.user, "", weekly(t, "Standup", old, moved))
	if r := w.mustPass(model.Events, ks); r.Created != 1 {
		t.Fatalf("%+v", r)
	}
	m := w.mail.Live(w.user)[0]
	if n := len(m.Event.Recurrence.Exceptions); n != 1 {
		t.Fatalf("mail got %d exceptions, want only the one in the window", n)
	}
	if r := w.mustPass(model.Events, ks); r.Writes() != 0 {
		t.Fatalf("second pass %+v", r)
	}
	w.mail.Put(w.user, m.ID, weekly(t, "Standup", moved, cancelled))
	if r := w.mustPass(model.Events, ks); r.Updated != 1 {
		t.Fatalf("%+v", r)
	}
	for _, it := range w.crm.Live(w.user) {
		if it.ID == crmID && len(it.Event.Recurrence.Normalize().Exceptions) != 3 {
			t.Fatalf("CRM exceptions %+v", it.Event.Recurrence.Exceptions)
		}
	}
	if r := w.mustPass(model.Events, ks); r.Writes() != 0 {
		t.Fatalf("last pass %+v", r)
	}
}

// TestSeriesSettingOff: with both ends able but the setting off, series
// are skipped and recorded.
func TestSeriesSettingOff(t *testing.T) {
	w := seriesWorld(t, stores[0].open(t))
	w.mail.Put(w.user, "", weekly(t, "Standup"))
	r := w.mustPass(model.Events, KindSettings{Direction: Both})
	if r.Writes() != 0 || r.Skipped != 1 {
		t.Fatalf("%+v", r)
	}
	if a := w.audit.all[len(w.audit.all)-1]; !strings.Contains(a.Reason, "series: skip") {
		t.Fatalf("reason %q", a.Reason)
	}
	if err := (KindSettings{Series: true}).Validate(model.Contacts); err == nil {
		t.Fatal("series accepted for contacts")
	}
}
