package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/model"
)

var bg = context.Background()

const alice, bob = "alice@corp.example", "bob@corp.example"

func pairs(t testing.TB, r Reader, user string, kind model.Kind) []Pair {
	t.Helper()
	ps, err := r.Pairs(bg, user, kind)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// samePair compares pairs field by field (times by instant).
func samePair(a, b Pair) bool {
	ta, tb := a.Updated, b.Updated
	a.Updated, b.Updated = time.Time{}, time.Time{}
	return a == b && ta.Equal(tb)
}

func TestPairInsertUpdateDelete(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		p := &Pair{User: alice, Kind: model.Contacts, CRMID: "003A", MailID: "AAMk1", CRMMarker: "m1", MailMarker: "e1",
			CRMHash: "h1", MailHash: "h1", Key: "sg-1"}
		before := time.Now().Add(-time.Second)
		tx(t, s, func(ctx context.Context, w Writer) error { return w.PutPair(ctx, p) })
		if p.ID == 0 {
			t.Fatal("PutPair did not set the ID")
		}
		if p.Updated.Before(before) {
			t.Errorf("Updated = %v, want now", p.Updated)
		}
		got := pairs(t, s, alice, model.Contacts)
		if len(got) != 1 || !samePair(got[0], *p) {
			t.Fatalf("after insert: %+v, want %+v", got, *p)
		}

		// Update: same ID, new markers and hashes.
		id := p.ID
		p.CRMMarker, p.CRMHash, p.MailID = "m2", "h2", "AAMk2"
		tx(t, s, func(ctx context.Context, w Writer) error { return w.PutPair(ctx, p) })
		if p.ID != id {
			t.Errorf("update changed the ID %d -> %d", id, p.ID)
		}
		got = pairs(t, s, alice, model.Contacts)
		if len(got) != 1 || !samePair(got[0], *p) {
			t.Fatalf("after update: %+v, want %+v", got, *p)
		}

		// Visible inside a transaction too, and scoped by user and kind.
		tx(t, s, func(ctx context.Context, w Writer) error {
			if ps := pairs(t, w, alice, model.Contacts); len(ps) != 1 {
				t.Errorf("in tx: %d pairs", len(ps))
			}
			if ps := pairs(t, w, alice, model.Events); len(ps) != 0 {
				t.Errorf("events of alice: %d pairs", len(ps))
			}
			if ps := pairs(t, w, bob, model.Contacts); len(ps) != 0 {
				t.Errorf("contacts of bob: %d pairs", len(ps))
			}
			return nil
		})

		tx(t, s, func(ctx context.Context, w Writer) error { return w.DeletePair(ctx, p.ID) })
		if got := pairs(t, s, alice, model.Contacts); len(got) != 0 {
			t.Fatalf("after delete: %+v", got)
		}
		// Gone is gone: a second delete, and an update of it, say so.
		for name, fn := range map[string]func(ctx context.Context, w Writer) error{
			"delete": func(ctx context.Context, w Writer) error { return w.DeletePair(ctx, id) },
			"update": func(ctx context.Context, w Writer) error {
				return w.PutPair(ctx, &Pair{ID: id, User: alice, Kind: model.Contacts, CRMID: "x"})
			},
		} {
			if err := s.Tx(bg, fn); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s of a deleted pair: %v, want ErrNotFound", name, err)
			}
		}
		// Ids are never reused.
		q := &Pair{User: alice, Kind: model.Contacts, CRMID: "003B"}
		tx(t, s, func(ctx context.Context, w Writer) error { return w.PutPair(ctx, q) })
		if q.ID <= id {
			t.Errorf("new pair got id %d after %d was deleted", q.ID, id)
		}
	})
}

func TestPairUniqueness(t *testing.T) {
	existing := []Pair{
		{User: alice, Kind: model.Contacts, CRMID: "003A", MailID: "M1"},
		{User: alice, Kind: model.Contacts, CRMID: "003B"}, // mailbox side not created yet
		{User: alice, Kind: model.Contacts, MailID: "M2"},  // CRM side not created yet
	}
	cases := []struct {
		name string
		p    Pair
		dup  bool
	}{
		{"same crm id", Pair{User: alice, Kind: model.Contacts, CRMID: "003A", MailID: "M9"}, true},
		{"same mail id", Pair{User: alice, Kind: model.Contacts, CRMID: "003Z", MailID: "M1"}, true},
		{"same crm id, no mail id", Pair{User: alice, Kind: model.Contacts, CRMID: "003B"}, true},
		{"same mail id, no crm id", Pair{User: alice, Kind: model.Contacts, MailID: "M2"}, true},
		{"empty mail id repeats", Pair{User: alice, Kind: model.Contacts, CRMID: "003C"}, false},
		{"empty crm id repeats", Pair{User: alice, Kind: model.Contacts, MailID: "M3"}, false},
		{"other user", Pair{User: bob, Kind: model.Contacts, CRMID: "003A", MailID: "M1"}, false},
		{"other kind", Pair{User: alice, Kind: model.Events, CRMID: "003A", MailID: "M1"}, false},
	}
	eachStore(t, func(t *testing.T, s Store) {
		existing := slices.Clone(existing)
		tx(t, s, func(ctx context.Context, w Writer) error {
			for i := range existing {
				if err := w.PutPair(ctx, &existing[i]); err != nil {
					return err
				}
			}
			return nil
		})
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				p := c.p
				err := s.Tx(bg, func(ctx context.Context, w Writer) error { return w.PutPair(ctx, &p) })
				if !c.dup {
					if err != nil {
						t.Fatalf("PutPair: %v", err)
					}
					tx(t, s, func(ctx context.Context, w Writer) error { return w.DeletePair(ctx, p.ID) })
					return
				}
				if !errors.Is(err, ErrDuplicate) || !strings.Contains(err.Error(), "state: put pair") {
					t.Fatalf("PutPair: %v, want a wrapped ErrDuplicate", err)
				}
				if p.ID != 0 {
					t.Errorf("a refused insert left ID %d", p.ID)
				}
			})
		}
		// Updating a pair onto another's id is refused as well.
		moved := existing[1]
		moved.MailID = "M1"
		if err := s.Tx(bg, func(ctx context.Context, w Writer) error { return w.PutPair(ctx, &moved) }); !errors.Is(err, ErrDuplicate) {
			t.Errorf("update onto a taken mail id: %v, want ErrDuplicate", err)
		}
		if n := len(pairs(t, s, alice, model.Contacts)); n != len(existing) {
			t.Errorf("%d pairs after the refused writes, want %d", n, len(existing))
		}
	})
}

func TestInvalidWrites(t *testing.T) {
	cases := []struct {
		name string
		fn   func(ctx context.Context, w Writer) error
	}{
		{"pair without ids", func(ctx context.Context, w Writer) error {
			return w.PutPair(ctx, &Pair{User: alice, Kind: model.Contacts})
		}},
		{"pair without user", func(ctx context.Context, w Writer) error {
			return w.PutPair(ctx, &Pair{Kind: model.Contacts, CRMID: "x"})
		}},
		{"intent with unknown op", func(ctx context.Context, w Writer) error {
			return w.AddIntent(ctx, &Intent{User: alice, Kind: model.Contacts, Op: "merge", Target: model.CRM})
		}},
		{"intent with unknown side", func(ctx context.Context, w Writer) error {
			return w.AddIntent(ctx, &Intent{User: alice, Kind: model.Contacts, Op: OpCreate, Target: "fax"})
		}},
		{"cursor of unknown side", func(ctx context.Context, w Writer) error {
			return w.SetCursor(ctx, alice, model.Contacts, "fax", "c")
		}},
		{"conflict without winner", func(ctx context.Context, w Writer) error {
			return w.AddConflict(ctx, &Conflict{User: alice, Kind: model.Contacts})
		}},
		{"unresolved without item", func(ctx context.Context, w Writer) error {
			return w.SetUnresolved(ctx, Unresolved{User: alice, Kind: model.Contacts, Side: model.CRM})
		}},
		{"run without kind", func(ctx context.Context, w Writer) error { return w.SetRun(ctx, Run{User: alice}) }},
	}
	eachStore(t, func(t *testing.T, s Store) {
		for _, c := range cases {
			err := s.Tx(bg, c.fn)
			if err == nil || !strings.HasPrefix(err.Error(), "state: ") {
				t.Errorf("%s: %v, want a state: error", c.name, err)
			}
		}
		st, err := s.Status(bg, "")
		if err != nil || len(st) != 0 {
			t.Errorf("after refused writes: status %+v, %v", st, err)
		}
	})
}

func TestCursors(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		cursor := func(user string, kind model.Kind, side model.Side) string {
			t.Helper()
			c, err := s.Cursor(bg, user, kind, side)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		if c := cursor(alice, model.Contacts, model.CRM); c != "" {
			t.Errorf("unset cursor = %q", c)
		}
		set := func(user string, kind model.Kind, side model.Side, c string) {
			t.Helper()
			tx(t, s, func(ctx context.Context, w Writer) error { return w.SetCursor(ctx, user, kind, side, c) })
		}
		set(alice, model.Contacts, model.CRM, "2026-05-01T00:00:00Z")
		set(alice, model.Contacts, model.CRM, "2026-05-02T00:00:00Z") // overwrite
		set(alice, model.Contacts, model.Mail, "https://graph/delta?token=abc")
		set(alice, model.Events, model.Mail, "ev-delta")
		set(bob, model.Contacts, model.Mail, "bob-delta")

		want := map[[3]string]string{
			{alice, "contacts", "crm"}:  "2026-05-02T00:00:00Z",
			{alice, "contacts", "mail"}: "https://graph/delta?token=abc",
			{alice, "events", "crm"}:    "",
			{alice, "events", "mail"}:   "ev-delta",
			{bob, "contacts", "mail"}:   "bob-delta",
		}
		check := func() {
			t.Helper()
			for k, v := range want {
				if got := cursor(k[0], model.Kind(k[1]), model.Side(k[2])); got != v {
					t.Errorf("cursor %v = %q, want %q", k, got, v)
				}
			}
		}
		check()

		// Resync of alice's contacts forgets both of their cursors only.
		tx(t, s, func(ctx context.Context, w Writer) error { return w.ResetCursors(ctx, alice, model.Contacts) })
		want[[3]string{alice, "contacts", "crm"}] = ""
		want[[3]string{alice, "contacts", "mail"}] = ""
		check()

		// "" is no cursor.
		set(alice, model.Events, model.Mail, "")
		want[[3]string{alice, "events", "mail"}] = ""
		check()
	})
}

func TestIntents(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		created := time.Date(2026, 5, 1, 12, 0, 0, 123456000, time.UTC)
		ins := []*Intent{
			{User: alice, Kind: model.Contacts, Op: OpCreate, Target: model.Mail, Key: "sg-1", SourceID: "003A", Payload: []byte(`{"id":"003A"}`), Created: created},
			{User: alice, Kind: model.Contacts, Op: OpUpdate, Target: model.CRM, PairID: 7, SourceID: "M1", Payload: []byte(`{"id":"M1"}`)},
			{User: alice, Kind: model.Contacts, Op: OpDelete, Target: model.Mail, PairID: 8, SourceID: "003C"},
			{User: alice, Kind: model.Events, Op: OpCreate, Target: model.CRM, Key: "sg-ev"},
			{User: bob, Kind: model.Contacts, Op: OpCreate, Target: model.CRM, Key: "sg-bob"},
		}
		// In two transactions: order is the order of recording.
		tx(t, s, func(ctx context.Context, w Writer) error {
			for _, in := range ins[:2] {
				if err := w.AddIntent(ctx, in); err != nil {
					return err
				}
			}
			return nil
		})
		tx(t, s, func(ctx context.Context, w Writer) error {
			for _, in := range ins[2:] {
				if err := w.AddIntent(ctx, in); err != nil {
					return err
				}
			}
			return nil
		})
		for i, in := range ins {
			if in.ID == 0 || in.Created.IsZero() {
				t.Errorf("intent %d: ID %d, Created %v not set", i, in.ID, in.Created)
			}
			if i > 0 && in.ID <= ins[i-1].ID {
				t.Errorf("intent ids not increasing: %d after %d", in.ID, ins[i-1].ID)
			}
		}
		if !ins[0].Created.Equal(created) {
			t.Errorf("a given Created was replaced: %v", ins[0].Created)
		}

		open := func(user string, kind model.Kind) []Intent {
			t.Helper()
			got, err := s.Intents(bg, user, kind)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		got := open(alice, model.Contacts)
		if len(got) != 3 {
			t.Fatalf("alice's contact intents: %d, want 3", len(got))
		}
		for i, g := range got {
			w := *ins[i]
			if !g.Created.Equal(w.Created) || !bytes.Equal(g.Payload, w.Payload) {
				t.Errorf("intent %d: %+v, want %+v", i, g, w)
			}
			g.Created, w.Created, g.Payload, w.Payload = time.Time{}, time.Time{}, nil, nil
			if fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("intent %d: %+v, want %+v", i, g, w)
			}
		}

		// Done: removed; the others stay in order. Done twice: not found.
		tx(t, s, func(ctx context.Context, w Writer) error { return w.DoneIntent(ctx, ins[1].ID) })
		got = open(alice, model.Contacts)
		if len(got) != 2 || got[0].ID != ins[0].ID || got[1].ID != ins[2].ID {
			t.Errorf("after done: %+v", got)
		}
		if err := s.Tx(bg, func(ctx context.Context, w Writer) error { return w.DoneIntent(ctx, ins[1].ID) }); !errors.Is(err, ErrNotFound) {
			t.Errorf("second DoneIntent: %v, want ErrNotFound", err)
		}
		if n := len(open(bob, model.Contacts)); n != 1 {
			t.Errorf("bob's intents: %d", n)
		}
	})
}

func TestConflictsKeepLoser(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		big := bytes.Repeat([]byte(`{"notes":"ünïcödé \u0000 and a long text"}`), 20000) // ~0.8 MB
		cs := []*Conflict{
			{User: alice, Kind: model.Contacts, CRMID: "003A", MailID: "M1", Winner: model.CRM, Loser: []byte(`{"first_name":"Al"}`), Reason: "both changed; crm wins"},
			{User: alice, Kind: model.Contacts, CRMID: "003B", MailID: "M2", Winner: model.Mail, Loser: big, Reason: "both changed; newest"},
		}
		for _, c := range cs {
			tx(t, s, func(ctx context.Context, w Writer) error { return w.AddConflict(ctx, c) })
			if c.ID == 0 || c.At.IsZero() {
				t.Errorf("conflict %+v: ID or At not set", c)
			}
		}
		got, err := s.Conflicts(bg, alice, model.Contacts)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d conflicts, want 2", len(got))
		}
		for i, g := range got {
			w := cs[len(cs)-1-i] // newest first
			if g.ID != w.ID || g.CRMID != w.CRMID || g.MailID != w.MailID || g.Winner != w.Winner || g.Reason != w.Reason ||
				!g.At.Equal(w.At) || g.User != w.User || g.Kind != w.Kind {
				t.Errorf("conflict %d: %+v, want %+v", i, g, w)
			}
			if !bytes.Equal(g.Loser, w.Loser) {
				t.Errorf("conflict %d: the losing version changed (%d bytes, want %d)", i, len(g.Loser), len(w.Loser))
			}
		}
		if got, _ := s.Conflicts(bg, alice, model.Events); len(got) != 0 {
			t.Errorf("events conflicts: %+v", got)
		}
	})
}

func TestUnresolved(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		at := time.Date(2026, 5, 2, 8, 0, 0, 0, time.UTC)
		u := Unresolved{User: alice, Kind: model.Contacts, Side: model.CRM, ItemID: "003A", Reason: "two candidates",
			Candidates: []string{"M1", "M2"}, At: at}
		set := func(u Unresolved) {
			t.Helper()
			tx(t, s, func(ctx context.Context, w Writer) error { return w.SetUnresolved(ctx, u) })
		}
		list := func() []Unresolved {
			t.Helper()
			got, err := s.Unresolved(bg, alice, model.Contacts)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		same := func(a, b Unresolved) bool {
			return a.User == b.User && a.Kind == b.Kind && a.Side == b.Side && a.ItemID == b.ItemID && a.Reason == b.Reason &&
				slices.Equal(a.Candidates, b.Candidates) && a.At.Equal(b.At)
		}
		set(u)
		set(Unresolved{User: alice, Kind: model.Contacts, Side: model.Mail, ItemID: "003A", Reason: "same id, other side"})
		if got := list(); len(got) != 2 || !same(got[0], u) {
			t.Fatalf("after set: %+v", got)
		}

		// Refresh: one row, new facts.
		u.Reason, u.Candidates, u.At = "three candidates", []string{"M1", "M2", "M3"}, at.Add(time.Hour)
		set(u)
		if got := list(); len(got) != 2 || !same(got[0], u) {
			t.Fatalf("after refresh: %+v, want %+v first", got, u)
		}

		clear := func() {
			t.Helper()
			tx(t, s, func(ctx context.Context, w Writer) error {
				return w.ClearUnresolved(ctx, alice, model.Contacts, model.CRM, "003A")
			})
		}
		clear()
		if got := list(); len(got) != 1 || got[0].Side != model.Mail {
			t.Fatalf("after clear: %+v", got)
		}
		clear() // absent: no error
		// Without candidates.
		if got := list(); got[0].Candidates != nil || got[0].At.IsZero() {
			t.Errorf("no candidates read back as %#v, At %v", got[0].Candidates, got[0].At)
		}
	})
}

func TestRuns(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		r, err := s.Run(bg, alice, model.Events)
		if err != nil {
			t.Fatal(err)
		}
		if r != (Run{User: alice, Kind: model.Events}) {
			t.Errorf("no run yet: %+v", r)
		}
		start := time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC)
		runs := []Run{
			{User: alice, Kind: model.Events, LastStart: start, LastEnd: start.Add(1500 * time.Millisecond), LastError: "graph: 503"},
			{User: alice, Kind: model.Events, LastStart: start.Add(time.Hour), LastEnd: start.Add(time.Hour + time.Second),
				Paused: true, PauseReason: "would delete 40 of 100 events (guard: 20%)"},
			{User: alice, Kind: model.Events, LastStart: start.Add(2 * time.Hour), Force: true},
		}
		for _, want := range runs {
			tx(t, s, func(ctx context.Context, w Writer) error { return w.SetRun(ctx, want) })
			got, err := s.Run(bg, alice, model.Events)
			if err != nil {
				t.Fatal(err)
			}
			if !got.LastStart.Equal(want.LastStart) || !got.LastEnd.Equal(want.LastEnd) {
				t.Errorf("times %v %v, want %v %v", got.LastStart, got.LastEnd, want.LastStart, want.LastEnd)
			}
			got.LastStart, got.LastEnd, want.LastStart, want.LastEnd = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if got != want {
				t.Errorf("run %+v, want %+v", got, want)
			}
		}
	})
}

func TestStatus(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		if st, err := s.Status(bg, ""); err != nil || len(st) != 0 {
			t.Fatalf("empty store: %+v, %v", st, err)
		}
		start := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
		tx(t, s, func(ctx context.Context, w Writer) error {
			for i := range 3 {
				if err := w.PutPair(ctx, &Pair{User: alice, Kind: model.Contacts, CRMID: fmt.Sprint("c", i), MailID: fmt.Sprint("m", i)}); err != nil {
					return err
				}
			}
			for range 2 {
				if err := w.AddIntent(ctx, &Intent{User: alice, Kind: model.Contacts, Op: OpCreate, Target: model.Mail}); err != nil {
					return err
				}
			}
			if err := w.AddConflict(ctx, &Conflict{User: alice, Kind: model.Contacts, Winner: model.CRM, Loser: []byte("{}")}); err != nil {
				return err
			}
			if err := w.SetUnresolved(ctx, Unresolved{User: alice, Kind: model.Contacts, Side: model.Mail, ItemID: "m9"}); err != nil {
				return err
			}
			if err := w.SetCursor(ctx, alice, model.Contacts, model.CRM, "crm-cur"); err != nil {
				return err
			}
			if err := w.SetCursor(ctx, alice, model.Contacts, model.Mail, "mail-cur"); err != nil {
				return err
			}
			if err := w.SetRun(ctx, Run{User: alice, Kind: model.Contacts, LastStart: start, LastEnd: start.Add(time.Second),
				Paused: true, PauseReason: "guard"}); err != nil {
				return err
			}
			// alice's events: only a run.
			if err := w.SetRun(ctx, Run{User: alice, Kind: model.Events, LastStart: start, LastError: "boom"}); err != nil {
				return err
			}
			// bob's contacts: only an open intent (first create in flight).
			return w.AddIntent(ctx, &Intent{User: bob, Kind: model.Contacts, Op: OpCreate, Target: model.CRM})
		})

		all, err := s.Status(bg, "")
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			user          string
			kind          model.Kind
			pairs, pend   int
			confl, unres  int
			paused        bool
			lastErr       string
			cursors       string
			startsAtStart bool
		}
		got := func(st []Status) []row {
			var rs []row
			for _, x := range st {
				rs = append(rs, row{x.User, x.Kind, x.Pairs, x.Pending, x.Conflicts, x.Unresolved, x.Paused, x.LastError,
					fmt.Sprint(x.Cursors), x.LastStart.Equal(start)})
			}
			return rs
		}
		want := []row{
			{alice, model.Contacts, 3, 2, 1, 1, true, "", "map[crm:crm-cur mail:mail-cur]", true},
			{alice, model.Events, 0, 0, 0, 0, false, "boom", "map[]", true},
			{bob, model.Contacts, 0, 1, 0, 0, false, "", "map[]", false},
		}
		if g := got(all); !slices.Equal(g, want) {
			t.Errorf("status:\n got %+v\nwant %+v", g, want)
		}
		if all[0].PauseReason != "guard" || !all[0].LastEnd.Equal(start.Add(time.Second)) {
			t.Errorf("alice contacts run fields: %+v", all[0].Run)
		}
		one, err := s.Status(bg, bob)
		if err != nil {
			t.Fatal(err)
		}
		if g := got(one); !slices.Equal(g, want[2:]) {
			t.Errorf("status of bob: %+v", g)
		}
		// Also inside a transaction, seeing its own writes.
		tx(t, s, func(ctx context.Context, w Writer) error {
			if err := w.SetCursor(ctx, bob, model.Events, model.Mail, "x"); err != nil {
				return err
			}
			st, err := w.Status(ctx, bob)
			if err != nil {
				return err
			}
			if len(st) != 2 || st[1].Kind != model.Events || st[1].Cursors[model.Mail] != "x" {
				t.Errorf("status in tx: %+v", st)
			}
			return nil
		})
	})
}

var errBoom = errors.New("boom")

func TestTxRollback(t *testing.T) {
	cases := []struct {
		name string
		// end finishes fn after its writes; the error Tx must return
		// wraps want.
		end  func(ctx context.Context, w Writer) error
		want error
	}{
		{"fn error", func(ctx context.Context, w Writer) error { return errBoom }, errBoom},
		// fn swallowed a database error and returned nil: nothing commits,
		// on either store (PostgreSQL has given up on the transaction).
		{"swallowed database error", func(ctx context.Context, w Writer) error {
			w.PutPair(ctx, &Pair{User: alice, Kind: model.Contacts, CRMID: "c1"}) // duplicate of the one above
			return nil
		}, ErrDuplicate},
	}
	eachStore(t, func(t *testing.T, s Store) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				p := &Pair{User: alice, Kind: model.Contacts, CRMID: "c1", MailID: "m1"}
				in := &Intent{User: alice, Kind: model.Contacts, Op: OpCreate, Target: model.Mail}
				cf := &Conflict{User: alice, Kind: model.Contacts, Winner: model.CRM}
				err := s.Tx(bg, func(ctx context.Context, w Writer) error {
					for _, f := range []func() error{
						func() error { return w.PutPair(ctx, p) },
						func() error { return w.AddIntent(ctx, in) },
						func() error { return w.AddConflict(ctx, cf) },
						func() error { return w.SetCursor(ctx, alice, model.Contacts, model.CRM, "c") },
						func() error {
							return w.SetUnresolved(ctx, Unresolved{User: alice, Kind: model.Contacts, Side: model.CRM, ItemID: "x"})
						},
						func() error { return w.SetRun(ctx, Run{User: alice, Kind: model.Contacts, LastError: "e"}) },
					} {
						if err := f(); err != nil {
							return err
						}
					}
					return c.end(ctx, w)
				})
				if !errors.Is(err, c.want) {
					t.Fatalf("Tx = %v, want %v", err, c.want)
				}
				if st, err := s.Status(bg, ""); err != nil || len(st) != 0 {
					t.Errorf("after rollback: status %+v, %v", st, err)
				}
				// The caller's structs are as before the transaction, so a
				// retry inserts again instead of updating a row that is not there.
				if p.ID != 0 || !p.Updated.IsZero() || in.ID != 0 || !in.Created.IsZero() || cf.ID != 0 || !cf.At.IsZero() {
					t.Errorf("rolled-back ids/times left on the caller's structs: %+v %+v %+v", p, in, cf)
				}
			})
		}

		t.Run("panic", func(t *testing.T) {
			func() {
				defer func() {
					if r := recover(); r != errBoom {
						t.Errorf("recovered %v, want the panic to propagate", r)
					}
				}()
				s.Tx(bg, func(ctx context.Context, w Writer) error {
					w.SetCursor(ctx, alice, model.Contacts, model.CRM, "c")
					panic(errBoom)
				})
			}()
			if c, _ := s.Cursor(bg, alice, model.Contacts, model.CRM); c != "" {
				t.Errorf("cursor %q committed by a panicking transaction", c)
			}
			// And the store still works (the writer connection was released).
			tx(t, s, func(ctx context.Context, w Writer) error {
				return w.SetCursor(ctx, alice, model.Contacts, model.CRM, "ok")
			})
		})

		t.Run("writer after Tx", func(t *testing.T) {
			var kept Writer
			tx(t, s, func(ctx context.Context, w Writer) error { kept = w; return nil })
			if err := kept.SetCursor(bg, alice, model.Events, model.CRM, "late"); err == nil {
				t.Error("a Writer used after its Tx returned wrote")
			}
		})

		t.Run("not found does not spoil", func(t *testing.T) {
			// ErrNotFound is an answer, not a failure: the transaction
			// stays usable and commits what the caller chose to keep.
			tx(t, s, func(ctx context.Context, w Writer) error {
				if err := w.DoneIntent(ctx, 987654); !errors.Is(err, ErrNotFound) {
					t.Errorf("DoneIntent of nothing: %v", err)
				}
				return w.SetCursor(ctx, bob, model.Events, model.CRM, "kept")
			})
			if c, _ := s.Cursor(bg, bob, model.Events, model.CRM); c != "kept" {
				t.Errorf("cursor %q, want kept", c)
			}
		})
	})
}

// The engine's commit of a remote write's result: all of it or none.
func TestTxCommitsTogether(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		in := &Intent{User: alice, Kind: model.Contacts, Op: OpCreate, Target: model.Mail, Key: "sg-1", SourceID: "003A"}
		tx(t, s, func(ctx context.Context, w Writer) error { return w.AddIntent(ctx, in) })
		p := &Pair{User: alice, Kind: model.Contacts, CRMID: "003A", MailID: "M1", Key: "sg-1"}
		tx(t, s, func(ctx context.Context, w Writer) error {
			if err := w.PutPair(ctx, p); err != nil {
				return err
			}
			if err := w.DoneIntent(ctx, in.ID); err != nil {
				return err
			}
			return w.SetCursor(ctx, alice, model.Contacts, model.Mail, "d2")
		})
		st, err := s.Status(bg, alice)
		if err != nil {
			t.Fatal(err)
		}
		if len(st) != 1 || st[0].Pairs != 1 || st[0].Pending != 0 || st[0].Cursors[model.Mail] != "d2" {
			t.Errorf("status after commit: %+v", st)
		}
	})
}

// Several goroutines read-modify-write the same rows: every update lands
// (no lost update) and no SQLITE_BUSY or serialization failure reaches the
// caller.
func TestConcurrentTx(t *testing.T) {
	const workers, each = 8, 15
	eachStore(t, func(t *testing.T, s Store) {
		var wg sync.WaitGroup
		errs := make(chan error, workers*each+workers)
		stop := make(chan struct{})
		// A reader alongside: reads must neither block on nor break
		// writers. (One: more tight loops than spare CPUs only measures
		// the Go scheduler.)
		for range 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := s.Status(bg, ""); err != nil {
						errs <- fmt.Errorf("status: %w", err)
						return
					}
					if _, err := s.Pairs(bg, alice, model.Contacts); err != nil {
						errs <- fmt.Errorf("pairs: %w", err)
						return
					}
				}
			}()
		}
		var writers sync.WaitGroup
		for g := range workers {
			writers.Add(1)
			go func() {
				defer writers.Done()
				for i := range each {
					err := s.Tx(bg, func(ctx context.Context, w Writer) error {
						c, err := w.Cursor(ctx, alice, model.Contacts, model.CRM)
						if err != nil {
							return err
						}
						n, _ := strconv.Atoi(c)
						if err := w.SetCursor(ctx, alice, model.Contacts, model.CRM, strconv.Itoa(n+1)); err != nil {
							return err
						}
						return w.PutPair(ctx, &Pair{User: alice, Kind: model.Contacts, CRMID: fmt.Sprintf("c%d-%d", g, i)})
					})
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		writers.Wait()
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		c, err := s.Cursor(bg, alice, model.Contacts, model.CRM)
		if err != nil {
			t.Fatal(err)
		}
		if c != strconv.Itoa(workers*each) {
			t.Errorf("counter = %s after %d increments: updates lost", c, workers*each)
		}
		if n := len(pairs(t, s, alice, model.Contacts)); n != workers*each {
			t.Errorf("%d pairs, want %d", n, workers*each)
		}
	})
}
