package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/memory"
	"github.com/syncgate/syncgate/sync/model"
	"github.com/syncgate/syncgate/sync/state"
)

// splitAt makes the two writes of a "this and following" edit of series
// it at its occurrence k (an original start), as every client does them:
// the original ends before k (its exceptions from k on vanish) and a new
// series with the same rule starts at k (a COUNT reduced by the
// occurrences the original keeps). subject renames the new series unless
// empty; copyKey makes it carry the original's idempotency key, as a client
// that copies extended properties does.
func splitAt(t fataler, it *model.Item, k, subject string, copyKey bool) (trunc, next *model.Item) {
	t.Helper()
	at, err := time.Parse(time.RFC3339, k)
	if err != nil {
		t.Fatalf("split key %q: %v", k, err)
	}
	ev := it.Event
	kept, err := ev.OriginalStarts(ev.Start, at)
	if err != nil || len(kept) == 0 {
		t.Fatalf("split at %s keeps no occurrence of %s (%v)", k, ev.Recurrence.RRULE(), err)
	}
	trunc = it.Clone()
	r := trunc.Event.Recurrence
	count := r.Count
	r.Count, r.Until = 0, at.Add(-time.Second)
	var xs []model.Exception
	for _, x := range r.Exceptions {
		if x.OriginalStart < k {
			xs = append(xs, x)
		}
	}
	r.Exceptions = xs

	nr := ev.Recurrence.Clone()
	nr.Exceptions, nr.Until = nil, time.Time{}
	if count > 0 {
		nr.Count = count - len(kept)
	}
	if subject == "" {
		subject = ev.Subject
	}
	next = &model.Item{Event: &model.Event{Subject: subject, Location: ev.Location, Description: ev.Description,
		Start: at, End: at.Add(ev.End.Sub(ev.Start)), Series: "master", Recurrence: nr}}
	if copyKey {
		next.Key = it.Key
	}
	return trunc, next
}

// fataler is testing.TB or *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// occurrenceSet is every occurrence of items over [from, to) as
// "start/end" instants, sorted (a single event is its own occurrence).
func occurrenceSet(t fataler, items []*model.Item, from, to time.Time) []string {
	t.Helper()
	var out []string
	for _, it := range items {
		if it.Event == nil {
			continue
		}
		if it.Event.Recurrence == nil {
			if it.Event.Start.Before(to) && it.Event.End.After(from) {
				out = append(out, it.Event.Start.UTC().Format(time.RFC3339)+"/"+it.Event.End.UTC().Format(time.RFC3339))
			}
			continue
		}
		occ, err := it.Event.Occurrences(from, to)
		if err != nil {
			t.Fatalf("%s: %v", it.ID, err)
		}
		for _, o := range occ {
			out = append(out, o.Start.UTC().Format(time.RFC3339)+"/"+o.End.UTC().Format(time.RFC3339))
		}
	}
	sort.Strings(out)
	return out
}

// setDiff describes how sorted sets got and want differ ("" if equal).
func setDiff(got, want []string) string {
	in := func(set []string) map[string]int {
		m := map[string]int{}
		for _, x := range set {
			m[x]++
		}
		return m
	}
	g, w := in(got), in(want)
	var extra, missing []string
	for x, n := range g {
		if n > w[x] {
			extra = append(extra, x)
		}
	}
	for x, n := range w {
		if n > g[x] {
			missing = append(missing, x)
		}
	}
	if len(extra) == 0 && len(missing) == 0 {
		return ""
	}
	sort.Strings(extra)
	sort.Strings(missing)
	if len(extra) > 3 {
		extra = append(extra[:3], fmt.Sprintf("... (%d in all)", len(extra)))
	}
	if len(missing) > 3 {
		missing = append(missing[:3], fmt.Sprintf("... (%d in all)", len(missing)))
	}
	return fmt.Sprintf("extra %v, missing %v", extra, missing)
}

// twice returns an occurrence listed more than once, if any.
func twice(set []string) string {
	for i := 1; i < len(set); i++ {
		if set[i] == set[i-1] {
			return set[i]
		}
	}
	return ""
}

func side(w *world, s model.Side) *memory.Side {
	if s == model.CRM {
		return w.crm
	}
	return w.mail
}

// TestSeriesSplit: a "this and following" split made on either side, at
// an occurrence in the window or at the first one (the original then has
// no occurrence left in the window and is no longer listed), with both
// writes seen in one pass or in either order over two passes, with the new
// series carrying the original's key or not, with the engine's write of the
// truncation failing once or meeting a 412: after the pass that sees both
// writes the other side has two series whose occurrences over a year are
// the origin's, instant by instant, none twice; the next pass writes
// nothing; nothing is deleted.
func TestSeriesSplit(t *testing.T) {
	type tc struct {
		origin, split model.Side
		at            int    // index of the split occurrence among the window's
		order         string // "together", "new first", "truncation first"
		rename        bool
		copyKey       bool
		fault         string // "", "update" (fails once), "conflict" (412 once)
	}
	var cases []tc
	for _, origin := range []model.Side{model.CRM, model.Mail} {
		for _, split := range []model.Side{model.CRM, model.Mail} {
			for _, at := range []int{0, 3} {
				for _, order := range []string{"together", "new first", "truncation first"} {
					cases = append(cases, tc{origin: origin, split: split, at: at, order: order, rename: at == 3, copyKey: split != origin})
				}
			}
		}
	}
	cases = append(cases,
		tc{origin: model.CRM, split: model.Mail, at: 0, order: "together", fault: "update"},
		tc{origin: model.Mail, split: model.CRM, at: 0, order: "new first", fault: "update"},
		tc{origin: model.CRM, split: model.Mail, at: 0, order: "new first", fault: "conflict"},
		tc{origin: model.Mail, split: model.CRM, at: 2, order: "together", fault: "conflict"},
	)
	from, to := seriesNow.AddDate(0, 0, -30), seriesNow.AddDate(1, 0, 0)
	for _, c := range cases {
		name := fmt.Sprintf("%s origin/split in %s/at %d/%s", c.origin, c.split, c.at, c.order)
		if c.copyKey {
			name += "/key copied"
		}
		if c.fault != "" {
			name += "/" + c.fault
		}
		t.Run(name, func(t *testing.T) {
			w := seriesWorld(t, stores[0].open(t))
			ks := KindSettings{Direction: Both, Deletes: true, Series: true}
			side(w, c.origin).Put(w.user, "", weekly(t, "Standup", moved, cancelled))
			if r := w.mustPass(model.Events, ks); r.Created != 1 {
				t.Fatalf("first pass %+v", r)
			}
			orig := side(w, c.split).Live(w.user)[0]
			want := occurrenceSet(t, []*model.Item{orig}, from, to)
			keys, err := orig.Event.OriginalStarts(from, to)
			if err != nil {
				t.Fatal(err)
			}
			subject := ""
			if c.rename {
				subject = "Standup (new time)"
			}
			trunc, next := splitAt(t, orig, keys[c.at], subject, c.copyKey)
			if c.at == 0 {
				if left, _ := trunc.Event.OriginalStarts(from, to); len(left) != 0 {
					t.Fatalf("the truncated original keeps %v in the window", left)
				}
			}
			sp := side(w, c.split)
			other := side(w, c.split.Other())
			switch c.fault {
			case "update":
				other.Fail("update", errors.New("injected: connection reset"))
			case "conflict":
				other.Fail("update", fmt.Errorf("injected: %w", connector.ErrConflict))
			}
			pass := func() {
				t.Helper()
				if _, err := w.pass(model.Events, ks); err != nil && c.fault == "" {
					t.Fatalf("pass: %v", err)
				}
			}
			switch c.order {
			case "together":
				sp.Put(w.user, orig.ID, trunc)
				sp.Put(w.user, "", next)
			case "new first":
				sp.Put(w.user, "", next)
				pass()
				sp.Put(w.user, orig.ID, trunc)
			case "truncation first":
				sp.Put(w.user, orig.ID, trunc)
				pass()
				sp.Put(w.user, "", next)
			}
			pass()
			if c.fault == "update" {
				pass() // the failed pass left its cursor: this one finishes
			}
			// The origin's union: what the person sees after the split (the
			// original's exceptions from the split on vanish with it).
			mine := occurrenceSet(t, sp.Live(w.user), from, to)
			if d := twice(mine); d != "" || len(mine) < len(want)-2 {
				t.Fatalf("the split itself is wrong (%s twice; %d occurrences, %d before)", d, len(mine), len(want))
			}
			theirs := occurrenceSet(t, other.Live(w.user), from, to)
			if d := twice(theirs); d != "" {
				t.Fatalf("occurrence %s twice on the other side: %s", d, describe(other.Live(w.user)))
			}
			if diff := setDiff(theirs, mine); diff != "" {
				t.Fatalf("other side's occurrences differ from the origin's: %s", diff)
			}
			if n := len(other.Live(w.user)); n != 2 {
				t.Fatalf("other side holds %d items: %s", n, describe(other.Live(w.user)))
			}
			if d := w.audit.count(ActDelete); d != 0 {
				t.Fatalf("%d deletes", d)
			}
			if r := w.mustPass(model.Events, ks); r.Writes() != 0 {
				t.Fatalf("pass after the split wrote: %+v", r)
			}
		})
	}
}

// TestSeriesNewNotWatchingUnrelated: a new series that does not continue a
// paired one (no occurrence of it within a day of the new one's start)
// makes the engine read the paired master once, not on every pass after;
// one that may continue it has it read on the next pass too.
func TestSeriesNewNotWatchingUnrelated(t *testing.T) {
	for _, tc := range []struct {
		name    string
		start   time.Time
		rule    string
		watched bool
	}{
		{"unrelated", time.Date(2026, 12, 9, 15, 0, 0, 0, time.UTC), "FREQ=WEEKLY;BYDAY=WE", false},
		{"continues", time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), "FREQ=WEEKLY;BYDAY=MO", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := seriesWorld(t, stores[0].open(t))
			ks := KindSettings{Direction: Both, Series: true}
			mail := &countingSide{memSide: w.mail}
			job := w.job(model.Events, ks)
			job.Mail = mail
			run := func() Result {
				t.Helper()
				r, err := w.eng.Run(t.Context(), job)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			w.mail.Put(w.user, "", weekly(t, "Standup"))
			run()
			r, _ := model.ParseRRULE(tc.rule, "Europe/Berlin")
			w.mail.Put(w.user, "", &model.Item{Event: &model.Event{Subject: "Review", Start: tc.start, End: tc.start.Add(time.Hour), Series: "master", Recurrence: r}})
			mail.gets = 0
			if res := run(); res.Created != 1 {
				t.Fatalf("%+v", res)
			}
			if mail.gets != 1 {
				t.Fatalf("%d reads of the paired master in the pass with a new series, want 1", mail.gets)
			}
			mail.gets = 0
			if res := run(); res.Writes() != 0 {
				t.Fatalf("%+v", res)
			}
			if got := mail.gets == 1; got != tc.watched {
				t.Fatalf("%d reads on the pass after (watched: %v)", mail.gets, tc.watched)
			}
		})
	}
}

// countingSide counts Get calls.
type countingSide struct {
	*memSide
	gets int
}

// memSide names memory.Side so that embedding it does not hide its Side
// method behind a field of the same name.
type memSide = memory.Side

func (c *countingSide) Get(ctx context.Context, sc connector.Scope, id string) (*model.Item, error) {
	c.gets++
	return c.memSide.Get(ctx, sc, id)
}

// TestSplitNewSeriesDeletedUnseen: a person splits a series at its first
// occurrence in the window ("this and following") and deletes the new
// series before a pass reads it — in effect ends the series there. The
// original, left without an occurrence in the window, is no longer listed
// (split.go), and no new series makes the engine read it: the other side
// keeps every later occurrence unless the side reports the truncated
// master as departed (connector.Changes.Departed): the truncation reaches
// the other side as an update.
func TestSplitNewSeriesDeletedUnseen(t *testing.T) {
	forEachStore(t, func(t *testing.T, st state.Store) {
		w := seriesWorld(t, st)
		ks := KindSettings{Direction: Both, Deletes: true, Series: true}
		id := w.crm.Put(w.user, "", weekly(t, "Standup"))
		w.mustPass(model.Events, ks)
		orig := w.only(t, w.crm)
		// The window's first occurrence is 2 November 2026.
		trunc, next := splitAt(t, orig, "2026-11-02T08:00:00Z", "", false)
		nid := w.crm.Put(w.user, "", next)
		w.crm.Remove(w.user, nid)
		w.crm.Put(w.user, id, trunc)
		w.mustPass(model.Events, ks)
		from, to := seriesNow.AddDate(0, 0, -30), seriesNow.AddDate(1, 0, 0)
		if d := setDiff(occurrenceSet(t, w.mail.Live(w.user), from, to), occurrenceSet(t, w.crm.Live(w.user), from, to)); d != "" {
			t.Fatalf("the mailbox's occurrences differ from the CRM's: %s", d)
		}
	})
}

// TestDepartedSeries: a side reports a changed series master that has no
// occurrence left in the window as departed. The engine updates its pair
// from it on either side, and ignores a departed master it has no pair for
// (a series a person made far in the past): departed items never create.
func TestDepartedSeries(t *testing.T) {
	for _, side := range []model.Side{model.CRM, model.Mail} {
		t.Run("truncated on "+string(side), func(t *testing.T) {
			forEachStore(t, func(t *testing.T, st state.Store) {
				w := seriesWorld(t, st)
				ks := KindSettings{Direction: Both, Deletes: true, Series: true}
				w.crm.Put(w.user, "", weekly(t, "Standup"))
				w.mustPass(model.Events, ks)
				src, dst := w.crm, w.mail
				if side == model.Mail {
					src, dst = w.mail, w.crm
				}
				orig := w.only(t, src)
				trunc, _ := splitAt(t, orig, "2026-11-02T08:00:00Z", "", false)
				src.Put(w.user, orig.ID, trunc)
				ch, err := src.Changes(context.Background(), w.scope(ks), w.cursor(t, side))
				if err != nil {
					t.Fatal(err)
				}
				if len(ch.Items) != 0 || len(ch.Departed) != 1 || ch.Departed[0].ID != orig.ID {
					t.Fatalf("the truncated master should be departed only: items %d, departed %d", len(ch.Items), len(ch.Departed))
				}
				w.mustPass(model.Events, ks)
				got := w.only(t, dst)
				if got.Event.Recurrence.Until.IsZero() && got.Event.Recurrence.Count == 0 {
					t.Fatalf("the other side's series was not truncated: %s", got.Event.Recurrence.RRULE())
				}
				from, to := seriesNow.AddDate(0, 0, -30), seriesNow.AddDate(1, 0, 0)
				if d := setDiff(occurrenceSet(t, w.mail.Live(w.user), from, to), occurrenceSet(t, w.crm.Live(w.user), from, to)); d != "" {
					t.Fatalf("the mailbox's occurrences differ from the CRM's: %s", d)
				}
			})
		})
	}
	t.Run("unpaired is ignored", func(t *testing.T) {
		forEachStore(t, func(t *testing.T, st state.Store) {
			w := seriesWorld(t, st)
			ks := KindSettings{Direction: Both, Deletes: true, Series: true}
			w.mustPass(model.Events, ks)
			old := weekly(t, "Long ago")
			r, err := model.ParseRRULE("FREQ=WEEKLY;BYDAY=MO;UNTIL=20250101T000000Z", "Europe/Berlin")
			if err != nil {
				t.Fatal(err)
			}
			old.Event.Recurrence = r
			w.mail.Put(w.user, "", old)
			ch, err := w.mail.Changes(context.Background(), w.scope(ks), w.cursor(t, model.Mail))
			if err != nil {
				t.Fatal(err)
			}
			if len(ch.Departed) != 1 {
				t.Fatalf("departed = %d, want the past series", len(ch.Departed))
			}
			w.mustPass(model.Events, ks)
			if n := len(w.crm.Live(w.user)); n != 0 {
				t.Fatalf("the CRM holds %d items; a departed series must not be created", n)
			}
		})
	})
}

// scope is the scope a pass of w's job with ks would use now.
func (w *world) scope(ks KindSettings) connector.Scope {
	return ScopeOf(w.job(model.Events, ks), seriesNow)
}

// cursor is side's stored events cursor.
func (w *world) cursor(t *testing.T, side model.Side) string {
	t.Helper()
	c, err := w.store.Cursor(context.Background(), w.user, model.Events, side)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
