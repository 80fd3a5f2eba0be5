package engine

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
	"github.com/syncgate/syncgate/sync/state"
)

var both = KindSettings{Direction: Both, Deletes: true, Winner: WinCRM}

func TestFirstSyncMatchesAdoptsAndCreates(t *testing.T) {
	forEachStore(t, func(t *testing.T, st state.Store) {
		w := newWorld(t, st)
		w.crm.Put(w.user, "", contact("Ann", "Lee", "ann@x.example"))
		w.crm.Put(w.user, "", contact("Bo", "Kim", "bo@x.example"))
		w.mail.Put(w.user, "", contact("Ann", "Lee", "ANN@x.example")) // same person, e-mail in other case
		w.mail.Put(w.user, "", contact("Cy", "Ng", "cy@x.example"))
		r := w.mustPass(model.Contacts, both)
		if r.Linked != 1 || r.Created != 2 || r.Updated != 0 {
			t.Fatalf("result %+v, want 1 linked without a write, 2 created", r)
		}
		if w.crm.Writes() != 1 || w.mail.Writes() != 1 {
			t.Fatalf("writes crm=%d mail=%d, want one create each", w.crm.Writes(), w.mail.Writes())
		}
		if got, want := itemsByHash(w.mail.Live(w.user)), itemsByHash(w.crm.Live(w.user)); len(got) != 3 || len(want) != 3 {
			t.Fatalf("not converged: crm %s mail %s", describe(w.crm.Live(w.user)), describe(w.mail.Live(w.user)))
		}
		r = w.mustPass(model.Contacts, both)
		if r.Writes() != 0 || w.crm.Writes()+w.mail.Writes() != 2 {
			t.Fatalf("second pass wrote: %+v", r)
		}
	})
}

func TestAmbiguousMatchIsUnresolvedAndWritesNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, st state.Store) {
		w := newWorld(t, st)
		w.crm.Put(w.user, "", contact("Ann", "Lee", "ann@x.example"))
		w.crm.Put(w.user, "", contact("Annie", "Lee", "ann@x.example"))
		w.mail.Put(w.user, "", contact("Ann", "Lee", "ann@x.example"))
		r := w.mustPass(model.Contacts, both)
		if r.Writes() != 0 || r.Unresolved != 3 {
			t.Fatalf("result %+v, want 3 unresolved and no write", r)
		}
		u, err := st.Unresolved(context.Background(), w.user, model.Contacts)
		if err != nil || len(u) != 3 {
			t.Fatalf("unresolved in state: %v %v", u, err)
		}
	})
}

func TestConflictAppliesWinnerAndKeepsLoser(t *testing.T) {
	for _, tc := range []struct {
		name   string
		winner Winner
		want   string
	}{{"crm wins", WinCRM, "crm-title"}, {"mail wins", WinMail, "mail-title"}, {"newest wins", WinNewest, "mail-title"}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, stores[0].open(t))
			ks := both
			ks.Winner = tc.winner
			id := w.crm.Put(w.user, "", contact("Ann", "Lee", "ann@x.example"))
			w.mustPass(model.Contacts, ks)
			mid := w.mail.Live(w.user)[0].ID
			c := contact("Ann", "Lee", "ann@x.example")
			c.Contact.Title = "crm-title"
			c.Modified = time.Unix(100, 0)
			w.crm.Put(w.user, id, c)
			m := contact("Ann", "Lee", "ann@x.example")
			m.Contact.Title = "mail-title"
			m.Modified = time.Unix(200, 0)
			w.mail.Put(w.user, mid, m)
			r := w.mustPass(model.Contacts, ks)
			if r.Conflicts != 1 || r.Updated != 1 {
				t.Fatalf("result %+v", r)
			}
			if a, b := w.crm.Live(w.user)[0].Contact.Title, w.mail.Live(w.user)[0].Contact.Title; a != tc.want || b != tc.want {
				t.Fatalf("titles crm=%q mail=%q, want %q", a, b, tc.want)
			}
			cs, err := w.store.Conflicts(context.Background(), w.user, model.Contacts)
			if err != nil || len(cs) != 1 {
				t.Fatalf("conflicts %v %v", cs, err)
			}
			var loser model.Item
			if err := json.Unmarshal(cs[0].Loser, &loser); err != nil {
				t.Fatal(err)
			}
			if loser.Contact.Title == tc.want {
				t.Fatalf("kept version is the winner's, not the loser's: %+v", loser.Contact)
			}
			if r := w.mustPass(model.Contacts, ks); r.Writes() != 0 {
				t.Fatalf("pass after conflict wrote: %+v", r)
			}
		})
	}
}

func TestDeletes(t *testing.T) {
	for _, tc := range []struct {
		name          string
		deletes       bool
		changeMail    bool
		wantMailLive  int
		wantCRMLive   int
		wantAction    string
		laterMailEdit bool
	}{
		{"propagated when enabled", true, false, 0, 0, ActDelete, false},
		{"unlinked when disabled, survivor left alone", false, false, 1, 0, ActUnlink, true},
		{"a change beats a delete", true, true, 1, 1, ActCreate, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, st state.Store) {
				w := newWorld(t, st)
				ks := both
				ks.Deletes = tc.deletes
				id := w.crm.Put(w.user, "", contact("Ann", "Lee", "ann@x.example"))
				w.mustPass(model.Contacts, ks)
				mid := w.mail.Live(w.user)[0].ID
				w.crm.Remove(w.user, id)
				if tc.changeMail {
					w.mail.Put(w.user, mid, contact("Ann", "Lee-Park", "ann@x.example"))
				}
				w.mustPass(model.Contacts, ks)
				if n := len(w.mail.Live(w.user)); n != tc.wantMailLive {
					t.Fatalf("mail live %d, want %d", n, tc.wantMailLive)
				}
				if n := len(w.crm.Live(w.user)); n != tc.wantCRMLive {
					t.Fatalf("crm live %d, want %d", n, tc.wantCRMLive)
				}
				if w.audit.count(tc.wantAction) == 0 {
					t.Fatalf("no %s action recorded: %+v", tc.wantAction, w.audit.all)
				}
				if tc.laterMailEdit {
					// The survivor is edited later: still not re-created in the CRM.
					w.mail.Put(w.user, mid, contact("Ann", "Lee", "ann.lee@x.example"))
					w.mustPass(model.Contacts, ks)
					if n := len(w.crm.Live(w.user)); n != 0 {
						t.Fatalf("the deleted contact came back in the CRM")
					}
				}
			})
		})
	}
}

func TestMassDeleteGuardPausesUntilForced(t *testing.T) {
	w := newWorld(t, stores[0].open(t))
	var ids []string
	for i := 0; i < 20; i++ {
		ids = append(ids, w.crm.Put(w.user, "", contact("P", string(rune('a'+i)), string(rune('a'+i))+"@x.example")))
	}
	w.mustPass(model.Contacts, both)
	for _, id := range ids[:15] {
		w.crm.Remove(w.user, id)
	}
	before := w.mail.Writes()
	_, err := w.pass(model.Contacts, both)
	if !errors.Is(err, ErrPaused) {
		t.Fatalf("pass: %v, want paused", err)
	}
	if w.mail.Writes() != before {
		t.Fatal("a paused pass wrote")
	}
	st, _ := w.store.Status(context.Background(), w.user)
	if len(st) != 1 || !st[0].Paused || st[0].PauseReason == "" {
		t.Fatalf("status does not say paused: %+v", st)
	}
	if _, err := w.pass(model.Contacts, both); !errors.Is(err, ErrPaused) {
		t.Fatalf("second pass: %v, want still paused", err)
	}
	j := w.job(model.Contacts, both)
	j.Force = true
	r, err := w.eng.Run(context.Background(), j)
	if err != nil || r.Deleted != 15 {
		t.Fatalf("forced pass: %+v %v", r, err)
	}
	if r, err := w.pass(model.Contacts, both); err != nil || r.Writes() != 0 {
		t.Fatalf("after force: %+v %v", r, err)
	}
}

func TestFailedReadIsNeverTakenAsDeletions(t *testing.T) {
	forEachStore(t, func(t *testing.T, st state.Store) {
		w := newWorld(t, st)
		for i := 0; i < 3; i++ {
			w.crm.Put(w.user, "", contact("P", string(rune('a'+i)), string(rune('a'+i))+"@x.example"))
		}
		w.mustPass(model.Contacts, both)
		writes := w.crm.Writes() + w.mail.Writes()
		cur, _ := st.Cursor(context.Background(), w.user, model.Contacts, model.Mail)
		w.mail.Fail("changes", errors.New("connection reset mid-page"))
		if _, err := w.pass(model.Contacts, both); err == nil {
			t.Fatal("a failed read passed")
		}
		if w.crm.Writes()+w.mail.Writes() != writes || len(w.crm.Live(w.user)) != 3 {
			t.Fatal("a failed read caused writes")
		}
		if c, _ := st.Cursor(context.Background(), w.user, model.Contacts, model.Mail); c != cur {
			t.Fatal("the cursor moved after a failed pass")
		}
		if r := w.mustPass(model.Contacts, both); r.Writes() != 0 {
			t.Fatalf("recovery pass wrote: %+v", r)
		}
	})
}

func TestResyncMatchesThroughStateAndInfersDeletesOnlyWhenEnabled(t *testing.T) {
	for _, deletes := range []bool{true, false} {
		w := newWorld(t, stores[0].open(t))
		ks := both
		ks.Deletes = deletes
		for i := 0; i < 4; i++ {
			w.crm.Put(w.user, "", contact("P", string(rune('a'+i)), string(rune('a'+i))+"@x.example"))
		}
		w.mustPass(model.Contacts, ks)
		gone := w.mail.Live(w.user)[0].ID
		w.mail.Remove(w.user, gone)
		w.mail.ExpireCursors()
		r := w.mustPass(model.Contacts, ks)
		if r.Created != 0 {
			t.Fatalf("deletes=%v: resync created %d items", deletes, r.Created)
		}
		wantCRM := 4
		if deletes {
			wantCRM = 3
		}
		if n := len(w.crm.Live(w.user)); n != wantCRM {
			t.Fatalf("deletes=%v: crm has %d, want %d", deletes, n, wantCRM)
		}
		if w.audit.count(ActResync) != 1 {
			t.Fatal("the resync was not recorded")
		}
	}
}

func TestInterruptedCreateIsFinishedByKey(t *testing.T) {
	forEachStore(t, func(t *testing.T, st state.Store) {
		w := newWorld(t, st)
		w.crm.Put(w.user, "", contact("Ann", "Lee", "ann@x.example"))
		w.mail.Fail("create-after", errors.New("connection lost after the request was sent"))
		if _, err := w.pass(model.Contacts, both); err == nil {
			t.Fatal("pass succeeded")
		}
		in, _ := st.Intents(context.Background(), w.user, model.Contacts)
		if len(in) != 1 {
			t.Fatalf("open intents %d, want 1", len(in))
		}
		r := w.mustPass(model.Contacts, both)
		if n := len(w.mail.Live(w.user)); n != 1 {
			t.Fatalf("mail has %d contacts after recovery, want 1 (no duplicate)", n)
		}
		if r.Created != 1 {
			t.Fatalf("recovery did not record the create: %+v", r)
		}
		if in, _ := st.Intents(context.Background(), w.user, model.Contacts); len(in) != 0 {
			t.Fatalf("intents still open: %d", len(in))
		}
	})
}

func TestLostStateReconnectsByKeyWithoutDuplicates(t *testing.T) {
	w := newWorld(t, stores[0].open(t))
	w.crm.Put(w.user, "", contact("Ann", "Lee", "ann@x.example"))
	w.mail.Put(w.user, "", contact("Bo", "Kim", "bo@x.example"))
	// Two contacts with the same name and no e-mail would be ambiguous to
	// heuristics; keys must pair them.
	w.crm.Put(w.user, "", contact("Same", "Name", ""))
	w.mail.Put(w.user, "", contact("Other", "Person", ""))
	w.mustPass(model.Contacts, both)
	w2 := newWorld(t, stores[0].open(t))
	w2.crm, w2.mail = w.crm, w.mail
	w2.eng.Audit = w2.audit
	r := w2.mustPass(model.Contacts, both)
	if r.Created != 0 || r.Linked != 4 {
		t.Fatalf("reconnect: %+v, want 4 linked, none created", r)
	}
	for _, a := range w2.audit.all {
		if a.Action == ActLink && a.Reason != "found the copy by its idempotency key" {
			t.Fatalf("linked by %q, want by key", a.Reason)
		}
	}
}

func TestOneWayNeverWritesProtectedSide(t *testing.T) {
	for _, dir := range []Direction{CRMToMail, MailToCRM} {
		w := newWorld(t, stores[0].open(t))
		ks := KindSettings{Direction: dir, Deletes: true}
		a := w.crm.Put(w.user, "", contact("Ann", "Lee", "ann@x.example"))
		b := w.mail.Put(w.user, "", contact("Bo", "Kim", "bo@x.example"))
		w.mustPass(model.Contacts, ks)
		w.crm.Put(w.user, a, contact("Ann", "Lee", "ann2@x.example"))
		w.mail.Put(w.user, b, contact("Bo", "Kim", "bo2@x.example"))
		w.mustPass(model.Contacts, ks)
		for _, it := range w.mail.Live(w.user) {
			w.mail.Remove(w.user, it.ID)
		}
		for _, it := range w.crm.Live(w.user) {
			w.crm.Remove(w.user, it.ID)
		}
		w.mustPass(model.Contacts, ks)
		protected := w.crm
		if dir == MailToCRM {
			protected = w.mail
		}
		if protected.Writes() != 0 {
			t.Fatalf("%s wrote the protected side %d times", dir, protected.Writes())
		}
	}
}

func TestConflictOnWriteRereadsAndRetries(t *testing.T) {
	w := newWorld(t, stores[0].open(t))
	id := w.crm.Put(w.user, "", contact("Ann", "Lee", "ann@x.example"))
	w.mustPass(model.Contacts, both)
	w.crm.Put(w.user, id, contact("Ann", "Lee", "ann.lee@x.example"))
	w.mail.Fail("update", connector.ErrConflict) // a 412 once
	r := w.mustPass(model.Contacts, both)
	if r.Updated != 1 || w.mail.Live(w.user)[0].Contact.Email != "ann.lee@x.example" {
		t.Fatalf("update after 412: %+v", r)
	}
}

func TestEventFilters(t *testing.T) {
	w := newWorld(t, stores[0].open(t))
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	ev := func(subj string, private bool, cats ...string) *model.Item {
		return &model.Item{Event: &model.Event{Subject: subj, Start: at, End: at.Add(time.Hour), Private: private, Categories: cats}}
	}
	w.mail.Put(w.user, "", ev("picked", false, "Salesforce"))
	w.mail.Put(w.user, "", ev("not picked", false))
	w.mail.Put(w.user, "", ev("secret", true, "Salesforce"))
	w.crm.Put(w.user, "", ev("from crm", false))
	series := ev("weekly", false, "Salesforce")
	series.Event.Series = "master"
	w.mail.Put(w.user, "", series)
	ks := KindSettings{Direction: Both, Selected: true, SelectCategory: "Salesforce", SkipPrivate: true}
	r := w.mustPass(model.Events, ks)
	if r.Created != 2 {
		t.Fatalf("created %d, want 2 (the selected event to the CRM, the CRM event to the mailbox)", r.Created)
	}
	var subjects []string
	for _, it := range w.crm.Live(w.user) {
		subjects = append(subjects, it.Event.Subject)
	}
	if len(subjects) != 2 {
		t.Fatalf("crm events %v", subjects)
	}
}

// TestOwnWriteDeletedBeforeItsEchoIsNoticed: a copy the engine created and
// a person deleted before the next read never shows in the feed (created
// and deleted since the cursor); the engine asks instead of trusting the
// silence.
func TestOwnWriteDeletedBeforeItsEchoIsNoticed(t *testing.T) {
	w := newWorld(t, stores[0].open(t))
	w.crm.Put(w.user, "", contact("Ann", "Lee", "ann@x.example"))
	w.mustPass(model.Contacts, both)
	w.mail.Remove(w.user, w.mail.Live(w.user)[0].ID)
	r := w.mustPass(model.Contacts, both)
	if r.Deleted != 1 || len(w.crm.Live(w.user)) != 0 {
		t.Fatalf("the deletion went unnoticed: %+v", r)
	}
}
