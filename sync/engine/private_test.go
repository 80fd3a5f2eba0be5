package engine

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/memory"
	"github.com/syncgate/syncgate/sync/model"
	"github.com/syncgate/syncgate/sync/state"
)

var evAt = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

func privateEvent(subject string, at time.Time) *model.Item {
	return &model.Item{Event: &model.Event{Subject: subject, Location: "Clinic", Description: "check-up", Start: at, End: at.Add(time.Hour),
		Private: true, ShowAs: "oof", Attendees: []string{"dr@clinic.example"}}}
}

func busyOnly(private PrivateMode) KindSettings {
	ks := both
	ks.Private = private
	ks.AutoRelate = true
	return ks
}

// only returns the one live item of a side.
func only(t *testing.T, s *memory.Side, user string) *model.Item {
	t.Helper()
	live := s.Live(user)
	if len(live) != 1 {
		t.Fatalf("%s has %d items, want 1: %s", s.Side(), len(live), describe(live))
	}
	return live[0]
}

func wantPlaceholder(t *testing.T, it *model.Item, start time.Time) {
	t.Helper()
	e := it.Event
	if e.Subject != PlaceholderSubject || !e.Private || e.Location != "" || e.Description != "" || e.ShowAs != "" || len(e.Attendees) != 0 {
		t.Fatalf("not a busy placeholder: %+v", e)
	}
	if !e.Start.Equal(start) || !e.End.Equal(start.Add(time.Hour)) {
		t.Fatalf("placeholder at %v-%v, want %v", e.Start, e.End, start)
	}
}

func quiet(t *testing.T, w *world, ks KindSettings) {
	t.Helper()
	cw, mw := w.crm.Writes(), w.mail.Writes()
	if r := w.mustPass(model.Events, ks); r.Writes() != 0 || w.crm.Writes() != cw || w.mail.Writes() != mw {
		t.Fatalf("a pass with no outside change wrote: %+v", r)
	}
}

func TestBusyOnlyCreatesPlaceholdersBothWays(t *testing.T) {
	forEachStore(t, func(t *testing.T, st state.Store) {
		w := newWorld(t, st)
		ks := busyOnly(PrivateBusyOnly)
		w.mail.Put(w.user, "", privateEvent("Doctor", evAt))
		w.crm.Put(w.user, "", privateEvent("Board interview", evAt.Add(48*time.Hour)))
		r := w.mustPass(model.Events, ks)
		if r.Created != 2 {
			t.Fatalf("result %+v, want 2 created", r)
		}
		var crmPh, mailPh *model.Item
		for _, it := range w.crm.Live(w.user) {
			if it.Key != "" {
				crmPh = it
			}
		}
		for _, it := range w.mail.Live(w.user) {
			if it.Key != "" {
				mailPh = it
			}
		}
		wantPlaceholder(t, crmPh, evAt)
		wantPlaceholder(t, mailPh, evAt.Add(48*time.Hour))
		if n := len(w.crm.Relates()); n != 0 {
			t.Fatalf("a placeholder was related to %d attendees lists; it has no attendees", n)
		}
		quiet(t, w, ks)
	})
}

func TestBusyOnlyAllDayPlaceholder(t *testing.T) {
	w := newWorld(t, stores[0].open(t))
	ks := busyOnly(PrivateBusyOnly)
	w.mail.Put(w.user, "", &model.Item{Event: &model.Event{Subject: "Leave", AllDay: true, StartDate: "2026-12-24", EndDate: "2026-12-27", Private: true}})
	w.mustPass(model.Events, ks)
	e := only(t, w.crm, w.user).Event
	if !e.AllDay || e.StartDate != "2026-12-24" || e.EndDate != "2026-12-27" || e.Subject != PlaceholderSubject || !e.Private {
		t.Fatalf("all-day placeholder %+v", e)
	}
	quiet(t, w, ks)
}

func TestBusyOnlyEventChangeUpdatesPlaceholder(t *testing.T) {
	forEachStore(t, func(t *testing.T, st state.Store) {
		w := newWorld(t, st)
		ks := busyOnly(PrivateBusyOnly)
		id := w.mail.Put(w.user, "", privateEvent("Doctor", evAt))
		w.mustPass(model.Events, ks)
		// A change the placeholder does not show: nothing written.
		ev := privateEvent("Dentist", evAt)
		w.mail.Put(w.user, id, ev)
		cw := w.crm.Writes()
		if r := w.mustPass(model.Events, ks); r.Writes() != 0 || w.crm.Writes() != cw {
			t.Fatalf("a subject change of a private event wrote its placeholder: %+v", r)
		}
		// A move: the placeholder follows.
		moved := evAt.Add(3 * time.Hour)
		w.mail.Put(w.user, id, privateEvent("Dentist", moved))
		if r := w.mustPass(model.Events, ks); r.Updated != 1 {
			t.Fatalf("move: %+v", r)
		}
		wantPlaceholder(t, only(t, w.crm, w.user), moved)
		quiet(t, w, ks)
		// No longer private: written in full, an ordinary copy again.
		pub := privateEvent("Dentist", moved)
		pub.Event.Private = false
		w.mail.Put(w.user, id, pub)
		w.mustPass(model.Events, ks)
		if got := only(t, w.crm, w.user).Event; got.Subject != "Dentist" || got.Private || got.Location != "Clinic" {
			t.Fatalf("public again: %+v", got)
		}
		quiet(t, w, ks)
		// An edit in the CRM now flows back as for any event.
		crmIt := only(t, w.crm, w.user)
		crmIt.Event.Subject = "Dentist (Dr Ng)"
		w.crm.Put(w.user, crmIt.ID, crmIt)
		w.mustPass(model.Events, ks)
		if got := only(t, w.mail, w.user).Event.Subject; got != "Dentist (Dr Ng)" {
			t.Fatalf("an ordinary copy's edit did not flow back: %q", got)
		}
	})
}

func TestBusyOnlyPlaceholderEditDoesNotFlowBack(t *testing.T) {
	forEachStore(t, func(t *testing.T, st state.Store) {
		w := newWorld(t, st)
		ks := busyOnly(PrivateBusyOnly)
		id := w.mail.Put(w.user, "", privateEvent("Doctor", evAt))
		w.mustPass(model.Events, ks)
		ph := only(t, w.crm, w.user)
		// Someone renames and moves the placeholder in the CRM.
		ph.Event.Subject = "Lunch"
		ph.Event.Private = false
		ph.Event.Start, ph.Event.End = evAt.Add(time.Hour), evAt.Add(2*time.Hour)
		w.crm.Put(w.user, ph.ID, ph)
		skips := w.audit.count(ActSkip)
		mw := w.mail.Writes()
		r := w.mustPass(model.Events, ks)
		if r.Writes() != 0 || w.mail.Writes() != mw {
			t.Fatalf("the placeholder's edit flowed back: %+v", r)
		}
		if got := only(t, w.mail, w.user).Event; got.Subject != "Doctor" || !got.Start.Equal(evAt) {
			t.Fatalf("the event was overwritten: %+v", got)
		}
		if w.audit.count(ActSkip) != skips+1 {
			t.Fatal("the placeholder's edit was not recorded as a skip")
		}
		quiet(t, w, ks)
		// Both change: the event's side is taken, the placeholder rewritten.
		ph = only(t, w.crm, w.user)
		ph.Event.Subject = "Gym"
		w.crm.Put(w.user, ph.ID, ph)
		moved := evAt.Add(24 * time.Hour)
		w.mail.Put(w.user, id, privateEvent("Doctor", moved))
		w.mustPass(model.Events, ks)
		if got := only(t, w.mail, w.user).Event; got.Subject != "Doctor" || !got.Start.Equal(moved) {
			t.Fatalf("event after both changed: %+v", got)
		}
		wantPlaceholder(t, only(t, w.crm, w.user), moved)
		quiet(t, w, ks)
		// Deleting the event deletes its placeholder (deletes on), even
		// after the placeholder was edited.
		ph = only(t, w.crm, w.user)
		ph.Event.Subject = "Edited again"
		w.crm.Put(w.user, ph.ID, ph)
		w.mail.Remove(w.user, id)
		r = w.mustPass(model.Events, ks)
		if r.Deleted != 1 || len(w.crm.Live(w.user)) != 0 || len(w.mail.Live(w.user)) != 0 {
			t.Fatalf("delete of the event: %+v; crm %s mail %s", r, describe(w.crm.Live(w.user)), describe(w.mail.Live(w.user)))
		}
	})
}

func TestBusyOnlyPlaceholderNeverWinsAConflict(t *testing.T) {
	w := newWorld(t, stores[0].open(t))
	ks := busyOnly(PrivateBusyOnly)
	ks.Winner = WinNewest
	crmID := w.crm.Put(w.user, "", privateEvent("Offsite", evAt))
	w.mustPass(model.Events, ks)
	mailPh := only(t, w.mail, w.user)
	mailPh.Event.Subject = "Newer edit of the placeholder"
	mailPh.Modified = evAt.Add(time.Hour)
	w.mail.Put(w.user, mailPh.ID, mailPh)
	ev := privateEvent("Offsite 2", evAt.Add(time.Hour))
	ev.Modified = evAt
	w.crm.Put(w.user, crmID, ev)
	w.mustPass(model.Events, ks)
	if got := only(t, w.crm, w.user).Event.Subject; got != "Offsite 2" {
		t.Fatalf("the event lost to its placeholder: %q", got)
	}
	wantPlaceholder(t, only(t, w.mail, w.user), evAt.Add(time.Hour))
}

func TestPrivateSkipAndSyncModes(t *testing.T) {
	forEachStore(t, func(t *testing.T, st state.Store) {
		t.Run("skip", func(t *testing.T) {
			w := newWorld(t, st)
			ks := busyOnly(PrivateSkip)
			w.mail.Put(w.user, "", privateEvent("Doctor", evAt))
			r := w.mustPass(model.Events, ks)
			if r.Created != 0 || r.Skipped != 1 || len(w.crm.Live(w.user)) != 0 {
				t.Fatalf("skip: %+v", r)
			}
		})
		t.Run("SkipPrivate is skip", func(t *testing.T) {
			w := newWorld(t, st)
			w.user = "skip2@corp.example"
			ks := both
			ks.SkipPrivate = true
			w.mail.Put(w.user, "", privateEvent("Doctor", evAt))
			if r := w.mustPass(model.Events, ks); r.Created != 0 || len(w.crm.Live(w.user)) != 0 {
				t.Fatalf("SkipPrivate: %+v", r)
			}
		})
		t.Run("sync", func(t *testing.T) {
			w := newWorld(t, st)
			w.user = "sync@corp.example"
			ks := busyOnly(PrivateSync)
			w.mail.Put(w.user, "", privateEvent("Doctor", evAt))
			w.mustPass(model.Events, ks)
			if got := only(t, w.crm, w.user).Event; got.Subject != "Doctor" || got.Location != "Clinic" || !got.Private {
				t.Fatalf("sync: %+v", got)
			}
			quiet(t, w, ks)
		})
	})
}

func TestPrivateSettingsValidate(t *testing.T) {
	for _, tc := range []struct {
		kind model.Kind
		ks   KindSettings
		ok   bool
	}{
		{model.Events, KindSettings{Private: PrivateBusyOnly}, true},
		{model.Events, KindSettings{Private: "hide"}, false},
		{model.Events, KindSettings{Private: PrivateBusyOnly, SkipPrivate: true}, false},
		{model.Contacts, KindSettings{Private: PrivateBusyOnly}, false},
		{model.Contacts, KindSettings{AutoRelate: true}, false},
		{model.Contacts, KindSettings{}, true},
	} {
		err := tc.ks.Defaults().Validate(tc.kind)
		if (err == nil) != tc.ok {
			t.Errorf("%s %+v: %v", tc.kind, tc.ks, err)
		}
	}
}

func TestAutoRelateOnCreateAndUpdate(t *testing.T) {
	forEachStore(t, func(t *testing.T, st state.Store) {
		w := newWorld(t, st)
		ks := busyOnly(PrivateSync)
		ev := &model.Item{Event: &model.Event{Subject: "QBR", Start: evAt, End: evAt.Add(time.Hour),
			Attendees: []string{"ann@acme.example", "bo@acme.example"}}}
		id := w.mail.Put(w.user, "", ev)
		w.mustPass(model.Events, ks)
		calls := w.crm.Relates()
		crmID := only(t, w.crm, w.user).ID
		if len(calls) != 1 || calls[0].EventID != crmID || calls[0].User != w.user || !slices.Equal(calls[0].Emails, ev.Event.Attendees) {
			t.Fatalf("relate calls %+v, want one for %s", calls, crmID)
		}
		if w.audit.count(ActRelate) != 1 {
			t.Fatalf("relate not recorded: %+v", w.audit.all)
		}
		for _, a := range w.audit.all {
			if a.Action == ActRelate && (a.Reason != "related 2 contacts" || a.CRMID != crmID || a.MailID != id) {
				t.Fatalf("relate record %+v", a)
			}
		}
		quiet(t, w, ks)
		if n := len(w.crm.Relates()); n != 1 {
			t.Fatalf("a quiet pass related again (%d calls)", n)
		}
		// A change of attendees alone is no change of the event.
		ev.Event.Attendees = append(ev.Event.Attendees, "cy@acme.example")
		w.mail.Put(w.user, id, ev)
		quiet(t, w, ks)
		// An update relates again (the CRM side is idempotent).
		ev.Event.Subject = "QBR (moved room)"
		w.mail.Put(w.user, id, ev)
		w.crm.RelateFunc = func(string, []string) (int, bool, error) { return 0, true, nil }
		w.mustPass(model.Events, ks)
		calls = w.crm.Relates()
		if len(calls) != 2 || len(calls[1].Emails) != 3 {
			t.Fatalf("relate on update: %+v", calls)
		}
		if w.audit.all[len(w.audit.all)-1].Reason != "related lead" {
			t.Fatalf("last record %+v", w.audit.all[len(w.audit.all)-1])
		}
		// A CRM change written to the mailbox relates nothing.
		crmIt := only(t, w.crm, w.user)
		crmIt.Event.Location = "Room 2"
		w.crm.Put(w.user, crmIt.ID, crmIt)
		w.mustPass(model.Events, ks)
		if n := len(w.crm.Relates()); n != 2 {
			t.Fatalf("a write to the mailbox related (%d calls)", n)
		}
	})
}

func TestAutoRelateOffAndErrors(t *testing.T) {
	ev := func(subj string) *model.Item {
		return &model.Item{Event: &model.Event{Subject: subj, Start: evAt, End: evAt.Add(time.Hour), Attendees: []string{"ann@acme.example"}}}
	}
	t.Run("off", func(t *testing.T) {
		w := newWorld(t, stores[0].open(t))
		w.mail.Put(w.user, "", ev("QBR"))
		w.mustPass(model.Events, both)
		if n := len(w.crm.Relates()); n != 0 {
			t.Fatalf("relate with the setting off: %d calls", n)
		}
	})
	t.Run("refused is unresolved", func(t *testing.T) {
		w := newWorld(t, stores[0].open(t))
		ks := busyOnly(PrivateSync)
		w.mail.Put(w.user, "", ev("QBR"))
		w.crm.Fail("relate", &connector.HTTPError{Op: "salesforce: create EventRelation", Status: 400, Code: "FIELD_INTEGRITY_EXCEPTION", RequestID: "r-1"})
		r := w.mustPass(model.Events, ks)
		if r.Created != 1 || r.Unresolved != 1 {
			t.Fatalf("result %+v", r)
		}
		u, err := w.store.Unresolved(context.Background(), w.user, model.Events)
		if err != nil || len(u) != 1 {
			t.Fatalf("unresolved %v %v", u, err)
		}
		quiet(t, w, ks)
	})
	t.Run("other errors stop the pass", func(t *testing.T) {
		w := newWorld(t, stores[0].open(t))
		ks := busyOnly(PrivateSync)
		w.mail.Put(w.user, "", ev("QBR"))
		w.crm.Fail("relate", errors.New("connection reset"))
		if _, err := w.pass(model.Events, ks); err == nil {
			t.Fatal("a failed relate passed")
		}
		// The event exists once; the next pass writes nothing more.
		w.mustPass(model.Events, ks)
		if n := len(w.crm.Live(w.user)); n != 1 {
			t.Fatalf("crm has %d events", n)
		}
	})
}
