package engine

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"pgregory.net/rapid"

	"github.com/syncgate/syncgate/sync/model"
)

// TestSyncMachine is vdirsyncer's SyncMachine for this engine: random
// creates, updates and deletes on both sides between passes, random
// settings; after every pass the invariants below hold.
func TestSyncMachine(t *testing.T) {
	for _, sk := range stores {
		t.Run(sk.name, func(t *testing.T) {
			// One store per run; every check acts as a new user, which the
			// state keeps apart like separate stores.
			st := sk.open(t)
			n := 0
			rapid.Check(t, func(rt *rapid.T) {
				n++
				ks := KindSettings{
					Direction: rapid.SampledFrom([]Direction{Both, CRMToMail, MailToCRM}).Draw(rt, "direction"),
					Deletes:   rapid.Bool().Draw(rt, "deletes"),
					Winner:    rapid.SampledFrom([]Winner{WinCRM, WinMail}).Draw(rt, "winner"),
					// The guard is tested on its own; here it must not interfere.
					GuardPercent: 100, GuardMin: 1 << 20,
				}
				w := newWorld(t, st)
				w.user = "u" + strconv.Itoa(n) + "@corp.example"
				m := &machine{w: w, ks: ks}
				rt.Repeat(map[string]func(*rapid.T){
					"crmCreate":  func(rt *rapid.T) { m.create(rt, model.CRM) },
					"mailCreate": func(rt *rapid.T) { m.create(rt, model.Mail) },
					"crmUpdate":  func(rt *rapid.T) { m.update(rt, model.CRM) },
					"mailUpdate": func(rt *rapid.T) { m.update(rt, model.Mail) },
					"crmDelete":  func(rt *rapid.T) { m.remove(rt, model.CRM) },
					"mailDelete": func(rt *rapid.T) { m.remove(rt, model.Mail) },
					"crash":      m.crash,
					"pass":       m.pass,
					"check":      m.check,
				})
				m.check(rt)
			})
		})
	}
}

type machine struct {
	w       *world
	ks      KindSettings
	kind    model.Kind // "" = contacts
	serial  int
	crmW0   int
	mailW0  int
	deleted int // engine deletes seen
	// keyCopies are items a person made carrying a copy of another item's
	// key (a split's new series): not the engine's duplicates.
	keyCopies map[string]bool
}

func (m *machine) side(s model.Side) interface {
	Put(string, string, *model.Item) string
	Remove(string, string) bool
	Live(string) []*model.Item
} {
	if s == model.CRM {
		return m.w.crm
	}
	return m.w.mail
}

func (m *machine) create(rt *rapid.T, s model.Side) {
	m.serial++
	// Unique e-mails: ambiguous matches are tested on their own.
	c := contact(rapid.SampledFrom([]string{"Ann", "Bo", "Cy"}).Draw(rt, "first"), fmt.Sprintf("L%d", m.serial), fmt.Sprintf("p%d@%s.example", m.serial, s))
	m.side(s).Put(m.w.user, "", c)
}

func (m *machine) pick(rt *rapid.T, s model.Side) *model.Item {
	live := m.side(s).Live(m.w.user)
	if len(live) == 0 {
		rt.Skip("nothing to change")
	}
	return live[rapid.IntRange(0, len(live)-1).Draw(rt, "i")]
}

func (m *machine) update(rt *rapid.T, s model.Side) {
	it := m.pick(rt, s)
	it.Contact.Title = rapid.SampledFrom([]string{"CEO", "CTO", "VP", ""}).Draw(rt, "title")
	it.Contact.Phone = strconv.Itoa(rapid.IntRange(0, 3).Draw(rt, "phone"))
	m.side(s).Put(m.w.user, it.ID, it)
}

func (m *machine) remove(rt *rapid.T, s model.Side) {
	m.side(s).Remove(m.w.user, m.pick(rt, s).ID)
}

// crash makes the next write fail after it happened (the response is
// lost), as a process killed between the remote write and the commit.
func (m *machine) crash(rt *rapid.T) {
	fail := m.w.crm.Fail
	if rapid.Bool().Draw(rt, "mailSide") {
		fail = m.w.mail.Fail
	}
	op := rapid.SampledFrom([]string{"create-after", "update-after", "delete-after", "changes"}).Draw(rt, "op")
	fail(op, fmt.Errorf("injected: %s", op))
}

func (m *machine) kindOf() model.Kind {
	if m.kind == "" {
		return model.Contacts
	}
	return m.kind
}

func (m *machine) pass(rt *rapid.T) {
	// A failed pass is allowed (injected faults); the next one repairs.
	_, _ = m.w.pass(m.kindOf(), m.ks)
}

func (m *machine) check(rt *rapid.T) {
	w := m.w
	// Drain injected faults with passes until one succeeds.
	var err error
	for i := 0; i < 10; i++ {
		if _, err = w.pass(m.kindOf(), m.ks); err == nil {
			break
		}
	}
	if err != nil {
		rt.Fatalf("no clean pass: %v", err)
	}
	crmW, mailW := w.crm.Writes(), w.mail.Writes()
	r, err := w.pass(m.kindOf(), m.ks)
	if err != nil {
		rt.Fatalf("second pass: %v", err)
	}
	if r.Writes() != 0 || w.crm.Writes() != crmW || w.mail.Writes() != mailW {
		rt.Fatalf("a pass with no outside change wrote: %+v", r)
	}
	switch m.ks.Direction {
	case CRMToMail:
		if w.crm.Writes() != 0 {
			rt.Fatal("crm_to_mail wrote the CRM")
		}
	case MailToCRM:
		if w.mail.Writes() != 0 {
			rt.Fatal("mail_to_crm wrote the mailbox")
		}
	}
	pairs, err := w.store.Pairs(context.Background(), w.user, m.kindOf())
	if err != nil {
		rt.Fatal(err)
	}
	crm, mail := index(w.crm.Live(w.user)), index(w.mail.Live(w.user))
	seenCRM, seenMail := map[string]bool{}, map[string]bool{}
	for _, p := range pairs {
		if p.CRMID != "" {
			if seenCRM[p.CRMID] {
				rt.Fatalf("crm item %s in two pairs", p.CRMID)
			}
			seenCRM[p.CRMID] = true
		}
		if p.MailID != "" {
			if seenMail[p.MailID] {
				rt.Fatalf("mail item %s in two pairs", p.MailID)
			}
			seenMail[p.MailID] = true
		}
		c, mm := crm[p.CRMID], mail[p.MailID]
		if p.CRMID != "" && p.MailID != "" && m.ks.Direction == Both {
			// A complete pair: both live and equal. (One-way pairs may
			// differ: a change on the written side is not sent back.)
			if c == nil || mm == nil {
				rt.Fatalf("pair %d names a missing item (crm %v, mail %v)", p.ID, c != nil, mm != nil)
			}
			if c.Hash() != mm.Hash() {
				rt.Fatalf("pair %d not converged: %s vs %s", p.ID, describeItem(c), describeItem(mm))
			}
		}
	}
	// Every live item of a side that syncs out is paired (or is the left
	// alone survivor of an unlinked pair, which is a pair too).
	for _, s := range []model.Side{model.CRM, model.Mail} {
		if !m.ks.Direction.Writes(s.Other()) {
			continue
		}
		live, seen := crm, seenCRM
		if s == model.Mail {
			live, seen = mail, seenMail
		}
		for id, it := range live {
			if !seen[id] && !neverListed(it) {
				rt.Fatalf("%s item %s is in no pair", s, id)
			}
		}
	}
	// Nothing duplicated: no two live copies carry the same key.
	for _, items := range []map[string]*model.Item{crm, mail} {
		keys := map[string]string{}
		for id, it := range items {
			if it.Key == "" || m.keyCopies[id] {
				continue
			}
			if other, dup := keys[baseKey(it.Key)]; dup {
				rt.Fatalf("duplicate copies %s and %s", other, id)
			}
			keys[baseKey(it.Key)] = id
		}
	}
	if !m.ks.Deletes && m.w.audit.count(ActDelete) != 0 {
		rt.Fatal("a delete was propagated with deletes disabled")
	}
}

// describeItem spells an item out, a series with its rule and exceptions.
func describeItem(it *model.Item) string {
	switch {
	case it.Contact != nil:
		return fmt.Sprintf("%s %+v", it.ID, *it.Contact)
	case it.Event != nil && it.Event.Recurrence != nil:
		e := *it.Event
		r := e.Recurrence.Normalize()
		e.Recurrence = nil
		return fmt.Sprintf("%s %+v rule %s tz %q exceptions %+v", it.ID, e, r.RRULE(), r.TimeZone, r.Exceptions)
	case it.Event != nil:
		return fmt.Sprintf("%s %+v", it.ID, *it.Event)
	}
	return it.ID
}

func index(items []*model.Item) map[string]*model.Item {
	m := map[string]*model.Item{}
	for _, it := range items {
		m[it.ID] = it
	}
	return m
}

// neverListed reports whether it is a series without an occurrence in the
// series machine's window: a side (rightly) never lists it, so it is
// paired only if it was before it left the window.
func neverListed(it *model.Item) bool {
	if it.Event == nil || it.Event.Recurrence == nil {
		return false
	}
	keys, err := it.Event.OriginalStarts(seriesNow.AddDate(0, 0, -30), seriesNow.AddDate(1, 0, 0))
	return err == nil && len(keys) == 0
}
