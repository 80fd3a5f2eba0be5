package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/memory"
	"github.com/syncgate/syncgate/sync/model"
	"github.com/syncgate/syncgate/sync/state"
)

// noRestore is a series service that, like Salesforce, Graph and EWS,
// cannot restore a cancelled occurrence: an update of a series that lacks
// one of its cancellations (in the window, of an occurrence the written
// rule still has) is refused with connector.ErrUnsupported, and counted.
type noRestore struct {
	*memSide
	mu      sync.Mutex
	refused []string
}

func (n *noRestore) Update(ctx context.Context, sc connector.Scope, id, marker string, it *model.Item) (*model.Item, error) {
	if cur, err := n.memSide.Get(ctx, sc, id); err == nil {
		if k := restored(cur, it, sc); k != "" {
			n.mu.Lock()
			n.refused = append(n.refused, id+" "+k)
			n.mu.Unlock()
			return nil, fmt.Errorf("test service: occurrence %s of %s is cancelled and cannot be restored: %w", k, id, connector.ErrUnsupported)
		}
	}
	return n.memSide.Update(ctx, sc, id, marker, it)
}

func (n *noRestore) refusals() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.refused...)
}

// restored is the first occurrence that cur cancels in the window and
// that writing it would bring back, "" when none.
func restored(cur, it *model.Item, sc connector.Scope) string {
	if !isSeriesMaster(cur) || !isSeriesMaster(it) {
		return ""
	}
	in, _ := cur.Event.Recurrence.SplitExceptions(sc.WindowStart, sc.WindowEnd)
	for _, x := range in {
		if !x.Cancelled {
			continue
		}
		k := occKey(x.OriginalStart)
		if cancels(it, k) || !isOccurrence(it.Event, k) {
			continue
		}
		return k
	}
	return ""
}

// cancels reports whether series it cancels occurrence k.
func cancels(it *model.Item, k string) bool {
	for _, x := range it.Event.Recurrence.Exceptions {
		if occKey(x.OriginalStart) == k && x.Cancelled {
			return true
		}
	}
	return false
}

// guarded wraps both sides of w in noRestore.
func guarded(w *world) (crm, mail *noRestore) {
	crm, mail = &noRestore{memSide: w.crm}, &noRestore{memSide: w.mail}
	w.crmConn, w.mailConn = crm, mail
	return crm, mail
}

// Occurrence keys of weekly in the window (Mondays 08:00Z).
const (
	occ7  = "2026-12-07T08:00:00Z"
	occ14 = "2026-12-14T08:00:00Z"
	occ21 = "2026-12-21T08:00:00Z"
)

// personEdit is what a person does to the series on one side.
type personEdit func(t *testing.T, it *model.Item)

func renameTo(prefix string) personEdit {
	return func(t *testing.T, it *model.Item) { it.Event.Subject = prefix + it.Event.Subject }
}

func cancelOcc(k string) personEdit {
	return func(t *testing.T, it *model.Item) {
		setException(it, model.Exception{OriginalStart: k, Cancelled: true})
	}
}

func moveOcc(k string) personEdit {
	return func(t *testing.T, it *model.Item) {
		t.Helper()
		t0, err := time.Parse(time.RFC3339, k)
		if err != nil {
			t.Fatal(err)
		}
		setException(it, model.Exception{OriginalStart: k, Start: t0.Add(3 * time.Hour), End: t0.Add(4 * time.Hour), Subject: "moved"})
	}
}

func describeOcc(k string) personEdit {
	return func(t *testing.T, it *model.Item) { it.Event.Description = "notes " + k }
}

func setException(it *model.Item, x model.Exception) {
	var xs []model.Exception
	for _, o := range it.Event.Recurrence.Exceptions {
		if occKey(o.OriginalStart) != occKey(x.OriginalStart) {
			xs = append(xs, o)
		}
	}
	it.Event.Recurrence.Exceptions = append(xs, x)
}

// edit applies a person's edits to the only item of side s.
func (w *world) edit(t *testing.T, s *memory.Side, edits ...personEdit) {
	t.Helper()
	live := s.Live(w.user)
	if len(live) != 1 {
		t.Fatalf("%s holds %s, want one series", s.Side(), describe(live))
	}
	it := live[0]
	for _, e := range edits {
		e(t, it)
	}
	s.Put(w.user, it.ID, it)
}

// only is the only item of side s.
func (w *world) only(t *testing.T, s *memory.Side) *model.Item {
	t.Helper()
	live := s.Live(w.user)
	if len(live) != 1 {
		t.Fatalf("%s holds %s, want one series", s.Side(), describe(live))
	}
	return live[0]
}

func wantCancelled(t *testing.T, it *model.Item, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if !cancels(it, k) {
			t.Fatalf("%s: occurrence %s not cancelled: %+v", it.ID, k, it.Event.Recurrence.Exceptions)
		}
	}
}

func wantNotCancelled(t *testing.T, it *model.Item, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if cancels(it, k) {
			t.Fatalf("%s: occurrence %s cancelled: %+v", it.ID, k, it.Event.Recurrence.Exceptions)
		}
	}
}

// settled checks that a further pass writes nothing and nothing was
// refused as a restore.
func settled(t *testing.T, w *world, ks KindSettings, guards ...*noRestore) {
	t.Helper()
	if r := w.mustPass(model.Events, ks); r.Writes() != 0 || r.Unresolved != 0 {
		t.Fatalf("the pair did not settle: %+v", r)
	}
	for _, g := range guards {
		if rs := g.refusals(); len(rs) != 0 {
			t.Fatalf("%s was asked to restore cancelled occurrences: %v", g.Side(), rs)
		}
	}
	us, err := w.store.Unresolved(context.Background(), w.user, model.Events)
	if err != nil || len(us) != 0 {
		t.Fatalf("unresolved %+v, %v", us, err)
	}
}

// TestCancelKeptTwoWay: in a two-way job a conflict is won as before, but
// the version written keeps the loser's cancellations (cancelled beats
// moved), and the merged series flows back to the winner: both sides
// converge, no cancelled occurrence is restored, and the loser's version
// is kept in the state.
func TestCancelKeptTwoWay(t *testing.T) {
	cases := []struct {
		name         string
		winner       Winner
		crm, mail    []personEdit
		wantSubject  string
		wantCanc     []string
		wantNotCanc  []string
		wantUpdated  int
		wantConflict bool
	}{
		{"crm renames, mail cancels, crm wins", WinCRM, []personEdit{renameTo("A")}, []personEdit{cancelOcc(occ14)},
			"AStandup", []string{occ14}, []string{occ7, occ21}, 2, true},
		{"crm cancels, mail renames, mail wins", WinMail, []personEdit{cancelOcc(occ14)}, []personEdit{renameTo("B")},
			"BStandup", []string{occ14}, []string{occ7}, 2, true},
		// The CRM already holds the merged version: only the write back.
		{"moved on the winner, cancelled on the loser: cancelled wins", WinMail, []personEdit{cancelOcc(occ7)}, []personEdit{moveOcc(occ7)},
			"Standup", []string{occ7}, []string{occ14}, 1, true},
		{"cancellations on both sides, winner renamed", WinCRM, []personEdit{cancelOcc(occ7), renameTo("C")}, []personEdit{cancelOcc(occ21)},
			"CStandup", []string{occ7, occ21}, []string{occ14}, 2, true},
		{"one side cancels: no conflict, written once", WinCRM, nil, []personEdit{cancelOcc(occ21)},
			"Standup", []string{occ21}, []string{occ7}, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, st state.Store) {
				w := seriesWorld(t, st)
				gc, gm := guarded(w)
				ks := KindSettings{Direction: Both, Winner: tc.winner, Deletes: true, Series: true}
				w.crm.Put(w.user, "", weekly(t, "Standup"))
				if r := w.mustPass(model.Events, ks); r.Created != 1 {
					t.Fatalf("first pass %+v", r)
				}
				if len(tc.crm) > 0 {
					w.edit(t, w.crm, tc.crm...)
				}
				if len(tc.mail) > 0 {
					w.edit(t, w.mail, tc.mail...)
				}
				r := w.mustPass(model.Events, ks)
				if r.Unresolved != 0 || r.Updated != tc.wantUpdated || r.Deleted != 0 || (r.Conflicts == 1) != tc.wantConflict {
					t.Fatalf("pass %+v", r)
				}
				c, m := w.only(t, w.crm), w.only(t, w.mail)
				if c.Hash() != m.Hash() {
					t.Fatalf("not converged:\n%s\n%s", describeItem(c), describeItem(m))
				}
				if c.Event.Subject != tc.wantSubject {
					t.Fatalf("subject %q, want %q", c.Event.Subject, tc.wantSubject)
				}
				wantCancelled(t, c, tc.wantCanc...)
				wantCancelled(t, m, tc.wantCanc...)
				wantNotCancelled(t, c, tc.wantNotCanc...)
				settled(t, w, ks, gc, gm)
				if !tc.wantConflict {
					return
				}
				cs, err := st.Conflicts(context.Background(), w.user, model.Events)
				if err != nil || len(cs) != 1 {
					t.Fatalf("conflicts %+v, %v", cs, err)
				}
				var loser model.Item
				if err := json.Unmarshal(cs[0].Loser, &loser); err != nil {
					t.Fatal(err)
				}
				loserEdits, loserSide := tc.mail, model.Mail
				if tc.winner == WinMail {
					loserEdits, loserSide = tc.crm, model.CRM
				}
				want := weekly(t, "Standup")
				for _, e := range loserEdits {
					e(t, want)
				}
				if string(cs[0].Winner) == string(loserSide) || loser.Hash() != want.Hash() {
					t.Fatalf("conflict record: winner %s, loser %s", cs[0].Winner, describeItem(&loser))
				}
				var kept bool
				for _, a := range w.audit.all {
					kept = kept || a.Action == ActUpdate && strings.Contains(a.Reason, "cancelled occurrence") && strings.Contains(a.Reason, "written back")
				}
				if !kept {
					t.Fatal("no update records the cancellation written back")
				}
			})
		})
	}
}

// TestCancelKeptOneWay: a one-way job writing its source over a copy in
// which a person cancelled an occurrence keeps the cancellation in the
// copy; the protected source is never written and the pair settles.
func TestCancelKeptOneWay(t *testing.T) {
	cases := []struct {
		name   string
		dir    Direction
		source []personEdit
		want   string // subject of the copy
		writes int    // updates of the copy
	}{
		{"mail_to_crm, source renamed", MailToCRM, []personEdit{renameTo("A")}, "AStandup", 1},
		{"crm_to_mail, source renamed", CRMToMail, []personEdit{renameTo("B")}, "BStandup", 1},
		// Cancelled beats moved: the copy already holds what is due.
		{"mail_to_crm, source moves the occurrence the copy cancelled", MailToCRM, []personEdit{moveOcc(occ14)}, "Standup", 0},
		{"crm_to_mail, source cancels another", CRMToMail, []personEdit{cancelOcc(occ21)}, "Standup", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, st state.Store) {
				w := seriesWorld(t, st)
				gc, gm := guarded(w)
				ks := KindSettings{Direction: tc.dir, Deletes: true, Series: true}
				src, cp := w.mail, w.crm
				if tc.dir == CRMToMail {
					src, cp = w.crm, w.mail
				}
				src.Put(w.user, "", weekly(t, "Standup"))
				if r := w.mustPass(model.Events, ks); r.Created != 1 {
					t.Fatalf("first pass %+v", r)
				}
				w.edit(t, cp, cancelOcc(occ14))
				if r := w.mustPass(model.Events, ks); r.Writes() != 0 {
					t.Fatalf("the copy's cancellation was written: %+v", r)
				}
				w.edit(t, src, tc.source...)
				srcWrites := src.Writes()
				r := w.mustPass(model.Events, ks)
				if r.Unresolved != 0 || r.Updated != tc.writes || src.Writes() != srcWrites {
					t.Fatalf("pass %+v (source writes %d → %d)", r, srcWrites, src.Writes())
				}
				c, s := w.only(t, cp), w.only(t, src)
				if c.Event.Subject != tc.want {
					t.Fatalf("copy subject %q, want %q", c.Event.Subject, tc.want)
				}
				wantCancelled(t, c, occ14)
				wantNotCancelled(t, s, occ14)
				// The copy is the source plus its own cancellation.
				merged, kept := keepCancelled(s, c, ScopeOf(w.job(model.Events, ks), seriesNow))
				if len(kept) != 1 || merged.Hash() != c.Hash() {
					t.Fatalf("copy %s is not the source %s with its cancellation", describeItem(c), describeItem(s))
				}
				settled(t, w, ks, gc, gm)
			})
		})
	}
}

// TestCancelKeptPlaceholder: a person cancels an occurrence in a series'
// busy placeholder; the placeholder rewritten after the event changes
// keeps that cancellation, which never flows back to the event; a change
// the placeholder does not show writes nothing.
func TestCancelKeptPlaceholder(t *testing.T) {
	forEachStore(t, func(t *testing.T, st state.Store) {
		w := seriesWorld(t, st)
		gc, gm := guarded(w)
		ks := KindSettings{Direction: Both, Deletes: true, Series: true, Private: PrivateBusyOnly}
		ev := weekly(t, "Therapy")
		ev.Event.Private = true
		w.mail.Put(w.user, "", ev)
		if r := w.mustPass(model.Events, ks); r.Created != 1 {
			t.Fatalf("first pass %+v", r)
		}
		w.edit(t, w.crm, cancelOcc(occ14))
		if r := w.mustPass(model.Events, ks); r.Writes() != 0 {
			t.Fatalf("the placeholder's cancellation flowed back: %+v", r)
		}
		w.edit(t, w.mail, cancelOcc(occ21))
		r := w.mustPass(model.Events, ks)
		if r.Unresolved != 0 || r.Updated != 1 || w.mail.Writes() != 0 {
			t.Fatalf("pass %+v, mail writes %d", r, w.mail.Writes())
		}
		ph, e := w.only(t, w.crm), w.only(t, w.mail)
		if ph.Event.Subject != PlaceholderSubject {
			t.Fatalf("placeholder %s", describeItem(ph))
		}
		wantCancelled(t, ph, occ14, occ21)
		wantCancelled(t, e, occ21)
		wantNotCancelled(t, e, occ14)
		settled(t, w, ks, gc, gm)
		// A change the placeholder does not show: nothing to write (the
		// placeholder already holds the event's times and its own
		// cancellation).
		w.edit(t, w.mail, describeOcc("x"))
		if r := w.mustPass(model.Events, ks); r.Writes() != 0 || r.Unresolved != 0 {
			t.Fatalf("invisible change wrote: %+v", r)
		}
		settled(t, w, ks, gc, gm)
	})
}

// TestCancelKeptHalfDone: a write (to the target, or back to the winner)
// made but its response lost is finished by the next pass without
// writing the target again and without restoring anything.
func TestCancelKeptHalfDone(t *testing.T) {
	cases := []struct {
		name string
		lost model.Side // the side whose update's response is lost
	}{
		{"merged version written to the loser", model.Mail},
		{"merged version written back to the winner", model.CRM},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, st state.Store) {
				w := seriesWorld(t, st)
				gc, gm := guarded(w)
				ks := KindSettings{Direction: Both, Winner: WinCRM, Deletes: true, Series: true}
				w.crm.Put(w.user, "", weekly(t, "Standup"))
				w.mustPass(model.Events, ks)
				w.edit(t, w.crm, renameTo("A"))
				w.edit(t, w.mail, cancelOcc(occ14))
				lost := w.mail
				if tc.lost == model.CRM {
					lost = w.crm
				}
				lost.Fail("update-after", errors.New("injected: response lost"))
				if _, err := w.pass(model.Events, ks); err == nil {
					t.Fatal("the pass with a lost response succeeded")
				}
				crmW, mailW := w.crm.Writes(), w.mail.Writes()
				r := w.mustPass(model.Events, ks)
				if r.Unresolved != 0 {
					t.Fatalf("re-run %+v", r)
				}
				if tc.lost == model.Mail && w.mail.Writes() != mailW {
					t.Fatalf("the re-run wrote the mailbox again: %+v", r)
				}
				if w.crm.Writes() > crmW+1 || w.mail.Writes() > mailW+1 {
					t.Fatalf("the re-run wrote more than once per side: %+v", r)
				}
				c, m := w.only(t, w.crm), w.only(t, w.mail)
				if c.Hash() != m.Hash() || c.Event.Subject != "AStandup" {
					t.Fatalf("not converged:\n%s\n%s", describeItem(c), describeItem(m))
				}
				wantCancelled(t, c, occ14)
				wantCancelled(t, m, occ14)
				settled(t, w, ks, gc, gm)
			})
		})
	}
}

// TestCancelNotADelete: cancelling occurrences of every paired series in
// one pass, with the tightest mass-delete guard, neither pauses nor
// deletes: a cancellation is a change of the master.
func TestCancelNotADelete(t *testing.T) {
	w := seriesWorld(t, stores[0].open(t))
	ks := KindSettings{Direction: Both, Deletes: true, Series: true, GuardPercent: 0.001, GuardMin: 1}
	for _, s := range []string{"A", "B", "C"} {
		w.mail.Put(w.user, "", weekly(t, s))
	}
	if r := w.mustPass(model.Events, ks); r.Created != 3 {
		t.Fatalf("first pass %+v", r)
	}
	for _, it := range w.crm.Live(w.user) {
		setException(it, model.Exception{OriginalStart: occ7, Cancelled: true})
		w.crm.Put(w.user, it.ID, it)
	}
	for _, it := range w.mail.Live(w.user) {
		setException(it, model.Exception{OriginalStart: occ14, Cancelled: true})
		w.mail.Put(w.user, it.ID, it)
	}
	r := w.mustPass(model.Events, ks)
	if r.Deleted != 0 || r.Unlinked != 0 || r.Conflicts != 3 || w.audit.count(ActPause) != 0 {
		t.Fatalf("%+v", r)
	}
	for _, it := range append(w.crm.Live(w.user), w.mail.Live(w.user)...) {
		wantCancelled(t, it, occ7, occ14)
	}
}
