package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/google"
	"github.com/syncgate/syncgate/sync/engine"
	syncgw "github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
)

// TestSyncEventsMachineThroughGateway is TestSyncMachineThroughGateway for
// events: for each mailbox kind a rapid machine on the events job of a
// fresh user, with settings drawn per check (direction, deletes, winner,
// private sync|skip|busy_only, select all|selected, series), people acting
// on either side with the connectors through the gateway: single events
// (timed in a named zone, all-day, private or not, marked as selected or
// not), updates and deletes, and — where the side's connector holds series
// (connector.SupportsSeries) — weekly and monthly series, moved and
// cancelled occurrences, renames and deletes of series. After a final pass
// and a second one that must write nothing, the invariants of part 1 hold
// and so do the event settings (see check). SYNCGATE_GATEWAY_EVENT_CHECKS
// sets the number of checks per mailbox kind.
func TestSyncEventsMachineThroughGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: many passes through the gateway")
	}
	checks := envInt("SYNCGATE_GATEWAY_EVENT_CHECKS", 6)
	defer setFlagDefault(t, "rapid.checks", strconv.Itoa(checks))()
	defer setFlagDefault(t, "rapid.steps", "15")()
	byUser := map[string]string{"alice@corp.example": "graph", "bob@corp.example": "google", "carol@corp.example": "ews"}
	// Series mode on: the connectors that can hold series read and write
	// them whole; each check draws whether the engine syncs them.
	st, _, rt := startSeriesWorld(t, "alice@corp.example=graph", "bob@corp.example=google", "carol@corp.example=ews")
	mailboxes := map[string]engine.Job{}
	for _, j := range rt.jobs {
		if j.Kind == model.Events {
			mailboxes[byUser[j.User]] = j
		}
	}
	// Shrinking a failure runs the property again: room for that too.
	users := prepareUsers(t, st, "ev", 12*checks+40)
	n := 0
	for _, mb := range []string{"graph", "google", "ews"} {
		base, ok := mailboxes[mb]
		if !ok {
			t.Fatalf("no events job for %s", mb)
		}
		t.Run(mb, func(t *testing.T) {
			rapid.Check(t, func(rtt *rapid.T) {
				if n >= len(users) {
					rtt.Fatal("out of prepared users")
				}
				user := users[n]
				n++
				ks := engine.KindSettings{
					Enabled:      true,
					Direction:    rapid.SampledFrom([]engine.Direction{engine.Both, engine.CRMToMail, engine.MailToCRM}).Draw(rtt, "direction"),
					Deletes:      rapid.Bool().Draw(rtt, "deletes"),
					Winner:       rapid.SampledFrom([]engine.Winner{engine.WinCRM, engine.WinMail}).Draw(rtt, "winner"),
					Private:      rapid.SampledFrom([]engine.PrivateMode{engine.PrivateSync, engine.PrivateSkip, engine.PrivateBusyOnly}).Draw(rtt, "private"),
					Selected:     rapid.Bool().Draw(rtt, "selected"),
					GuardPercent: 100, GuardMin: 1 << 20,
				}
				if connector.SupportsSeries(base.CRM) && connector.SupportsSeries(base.Mail) {
					ks.Series = rapid.Bool().Draw(rtt, "series")
				}
				m := newEvMachine(user, engine.Job{User: user, Kind: model.Events, CRM: base.CRM, Mail: base.Mail, Settings: ks}, rt.eng)
				rtt.Repeat(map[string]func(*rapid.T){
					"crmCreate":        func(r *rapid.T) { m.create(r, model.CRM, false) },
					"mailCreate":       func(r *rapid.T) { m.create(r, model.Mail, false) },
					"crmSeriesCreate":  func(r *rapid.T) { m.create(r, model.CRM, true) },
					"mailSeriesCreate": func(r *rapid.T) { m.create(r, model.Mail, true) },
					"crmUpdate":        func(r *rapid.T) { m.update(r, model.CRM) },
					"mailUpdate":       func(r *rapid.T) { m.update(r, model.Mail) },
					"crmDelete":        func(r *rapid.T) { m.remove(r, model.CRM, false) },
					"mailDelete":       func(r *rapid.T) { m.remove(r, model.Mail, false) },
					"crmMoveOcc":       func(r *rapid.T) { m.except(r, model.CRM, false) },
					"mailMoveOcc":      func(r *rapid.T) { m.except(r, model.Mail, false) },
					"crmCancelOcc":     func(r *rapid.T) { m.except(r, model.CRM, true) },
					"mailCancelOcc":    func(r *rapid.T) { m.except(r, model.Mail, true) },
					"crmSeriesRename":  func(r *rapid.T) { m.renameSeries(r, model.CRM) },
					"mailSeriesRename": func(r *rapid.T) { m.renameSeries(r, model.Mail) },
					"crmSeriesDelete":  func(r *rapid.T) { m.remove(r, model.CRM, true) },
					"mailSeriesDelete": func(r *rapid.T) { m.remove(r, model.Mail, true) },
					"pass":             m.pass,
				})
				m.check(rtt)
			})
		})
	}
}

// evOrigin is where a person created an event.
type evOrigin struct {
	side model.Side
	base string
}

// evMachine drives one user's events job. It knows only what people did
// (what they created, deleted, made public, marked), never what the engine
// should have written: the checks derive that from the settings.
type evMachine struct {
	user   string
	job    engine.Job
	eng    *engine.Engine
	serial int

	created    map[string]evOrigin // item id → where and as what a person created it
	gone       map[string]bool     // ids a person deleted, and the ids paired with them then
	everPublic map[string]bool     // base subjects that were ever not private
	marked     map[string]bool     // base subjects created in the mailbox with the selection category
	privCopy   map[string]bool     // base subjects whose copy (not the original) a person made private
	edited     map[string]bool     // ids a person updated
	usedOcc    map[string]bool     // occurrence keys already moved or cancelled (never touched twice)
	removals   int
	deletes    int // engine deletes over all passes
	unresolved int
}

func newEvMachine(user string, j engine.Job, eng *engine.Engine) *evMachine {
	return &evMachine{user: user, job: j, eng: eng, created: map[string]evOrigin{}, gone: map[string]bool{},
		everPublic: map[string]bool{}, marked: map[string]bool{}, privCopy: map[string]bool{}, edited: map[string]bool{}, usedOcc: map[string]bool{}}
}

func (m *evMachine) conn(side model.Side) connector.Connector {
	if side == model.CRM {
		return m.job.CRM
	}
	return m.job.Mail
}

func (m *evMachine) ctx() context.Context { return syncgw.WithSubject(context.Background(), m.user) }

func (m *evMachine) scope() connector.Scope { return engine.ScopeOf(m.job, time.Now()) }

func (m *evMachine) settings() engine.KindSettings { return m.job.Settings.Defaults() }

// seriesSynced: the engine syncs series in this job.
func (m *evMachine) seriesSynced() bool {
	return m.job.Settings.Series && connector.SupportsSeries(m.job.CRM) && connector.SupportsSeries(m.job.Mail)
}

// subjects people write are "E<n>-<side>", renames prepend A, B or C; a
// busy placeholder is "Busy" (and what people make of it).
var evSubject = regexp.MustCompile(`^[ABC]*(E[0-9]+-(?:crm|mail))$`)

// baseOf is the subject a person first gave the event, "" for anything
// else (a placeholder).
func baseOf(it *model.Item) string {
	if it == nil || it.Event == nil {
		return ""
	}
	if s := evSubject.FindStringSubmatch(it.Event.Subject); s != nil {
		return s[1]
	}
	return ""
}

var evZones = []string{"Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Tokyo"}

func loadZone(rt *rapid.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		rt.Fatalf("zone %s: %v", name, err)
	}
	return loc
}

// personKey is a key as a person's own client would set one: not the
// engine's, unique per user.
func (m *evMachine) personKey() string {
	sum := sha256.Sum256([]byte(m.user + "/" + strconv.Itoa(m.serial)))
	return "person" + hex.EncodeToString(sum[:8])
}

// create makes an event (or a series) on side as a person would.
func (m *evMachine) create(rt *rapid.T, side model.Side, series bool) {
	if series && !connector.SupportsSeries(m.conn(side)) {
		rt.Skip(string(side) + " holds no series")
	}
	m.serial++
	base := fmt.Sprintf("E%d-%s", m.serial, side)
	ev := &model.Event{Subject: base, Private: rapid.Bool().Draw(rt, "private"),
		Location:    rapid.SampledFrom([]string{"", "Room 4"}).Draw(rt, "location"),
		Description: rapid.SampledFrom([]string{"", "agenda: numbers"}).Draw(rt, "description"),
		ShowAs:      rapid.SampledFrom([]string{"", "free", "oof"}).Draw(rt, "showAs")}
	if side == model.Mail && rapid.Bool().Draw(rt, "selectedMark") {
		ev.Categories = []string{m.settings().SelectCategory}
		if ev.Categories[0] == "" {
			ev.Categories[0] = "Salesforce"
		}
		m.marked[base] = true
	}
	now := time.Now()
	loc := loadZone(rt, rapid.SampledFrom(evZones).Draw(rt, "zone"))
	switch {
	case series:
		m.seriesShape(rt, ev, loc, now)
	case rapid.Bool().Draw(rt, "allDay"):
		d := now.UTC().AddDate(0, 0, rapid.IntRange(1, 60).Draw(rt, "day"))
		ev.AllDay = true
		ev.StartDate = d.Format(time.DateOnly)
		ev.EndDate = d.AddDate(0, 0, rapid.IntRange(1, 3).Draw(rt, "days")).Format(time.DateOnly)
	default:
		// A wall-clock time in a named zone (half-hour offsets included).
		l := now.In(loc).AddDate(0, 0, rapid.IntRange(-20, 90).Draw(rt, "day"))
		ev.Start = time.Date(l.Year(), l.Month(), l.Day(), rapid.IntRange(7, 19).Draw(rt, "hour"), rapid.SampledFrom([]int{0, 30}).Draw(rt, "minute"), 0, 0, loc)
		ev.End = ev.Start.Add(time.Duration(rapid.SampledFrom([]int{30, 60, 90}).Draw(rt, "minutes")) * time.Minute)
	}
	if !ev.Private {
		m.everPublic[base] = true
	}
	got, err := m.conn(side).Create(m.ctx(), m.scope(), m.personKey(), &model.Item{Event: ev})
	if err != nil {
		rt.Fatalf("create %s in %s: %v", base, side, err)
	}
	m.created[got.ID] = evOrigin{side: side, base: base}
}

// seriesShape makes ev a series master: a weekly or monthly rule in zone
// loc, begun recently or (unbounded) long before the window, its start the
// rule's first occurrence as every end writes it.
func (m *evMachine) seriesShape(rt *rapid.T, ev *model.Event, loc *time.Location, now time.Time) {
	rule := rapid.SampledFrom([]string{"FREQ=WEEKLY;BYDAY=MO", "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=12", "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR",
		"FREQ=MONTHLY;BYMONTHDAY=15", "FREQ=MONTHLY;BYDAY=2TU"}).Draw(rt, "rule")
	r, err := model.ParseRRULE(rule, loc.String())
	if err != nil {
		rt.Fatalf("rule %s: %v", rule, err)
	}
	days := rapid.IntRange(-10, 20).Draw(rt, "startDay")
	if !r.Bounded() && rapid.Bool().Draw(rt, "longAgo") {
		days = -rapid.IntRange(60, 200).Draw(rt, "daysAgo")
	}
	l := now.In(loc).AddDate(0, 0, days)
	from := time.Date(l.Year(), l.Month(), l.Day(), rapid.IntRange(8, 17).Draw(rt, "hour"), 0, 0, 0, loc)
	probe := &model.Event{Start: from, End: from.Add(time.Hour), Recurrence: r}
	keys, err := probe.OriginalStarts(from, from.AddDate(0, 3, 0))
	if err != nil || len(keys) == 0 {
		rt.Fatalf("rule %s from %s: no occurrence (%v)", rule, from, err)
	}
	first, err := time.Parse(time.RFC3339, keys[0])
	if err != nil {
		rt.Fatal(err)
	}
	ev.Start, ev.End = first, first.Add(time.Duration(rapid.SampledFrom([]int{30, 45, 60}).Draw(rt, "minutes"))*time.Minute)
	ev.Series, ev.Recurrence = "master", r
}

func (m *evMachine) live(rt *rapid.T, side model.Side) []*model.Item {
	ch, err := m.conn(side).Changes(m.ctx(), m.scope(), "")
	if err != nil {
		rt.Fatalf("list %s: %v", side, err)
	}
	return ch.Items
}

// pick draws a live item of side; series only, or anything.
func (m *evMachine) pick(rt *rapid.T, side model.Side, series bool) *model.Item {
	var items []*model.Item
	for _, it := range m.live(rt, side) {
		if !series || it.Event.Recurrence != nil {
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		rt.Skip("nothing to change")
	}
	slices.SortFunc(items, func(a, b *model.Item) int { return strings.Compare(a.ID, b.ID) })
	return items[rapid.IntRange(0, len(items)-1).Draw(rt, "i")]
}

func (m *evMachine) write(rt *rapid.T, side model.Side, it, c *model.Item) {
	m.edited[it.ID] = true
	if b := baseOf(it); b != "" {
		if !c.Event.Private {
			m.everPublic[b] = true
		} else if !it.Event.Private && m.created[it.ID].base == "" {
			m.privCopy[b] = true
		}
	}
	if _, err := m.conn(side).Update(m.ctx(), m.scope(), it.ID, it.Marker, c); err != nil {
		rt.Fatalf("update %q in %s: %v", it.Event.Subject, side, err)
	}
}

// update edits any event as a person would: rename, make private or
// public, move (a single event), change the location.
func (m *evMachine) update(rt *rapid.T, side model.Side) {
	it := m.pick(rt, side, false)
	c := it.Clone()
	e := c.Event
	switch rapid.SampledFrom([]string{"rename", "private", "move", "location"}).Draw(rt, "edit") {
	case "rename":
		e.Subject = rapid.SampledFrom([]string{"A", "B", "C"}).Draw(rt, "prefix") + e.Subject
	case "private":
		e.Private = !e.Private
	case "move":
		if e.Recurrence != nil {
			rt.Skip("a series is not moved whole")
		}
		if e.AllDay {
			s, _ := time.Parse(time.DateOnly, e.StartDate)
			en, _ := time.Parse(time.DateOnly, e.EndDate)
			e.StartDate, e.EndDate = s.AddDate(0, 0, 1).Format(time.DateOnly), en.AddDate(0, 0, 1).Format(time.DateOnly)
		} else {
			e.Start, e.End = e.Start.Add(time.Hour), e.End.Add(time.Hour)
		}
	case "location":
		e.Location = rapid.SampledFrom([]string{"", "Room 7", "Online"}).Draw(rt, "newLocation")
	}
	m.write(rt, side, it, c)
}

func (m *evMachine) renameSeries(rt *rapid.T, side model.Side) {
	it := m.pick(rt, side, true)
	c := it.Clone()
	c.Event.Subject = rapid.SampledFrom([]string{"A", "B", "C"}).Draw(rt, "prefix") + c.Event.Subject
	m.write(rt, side, it, c)
}

// except moves or cancels one future occurrence of a series, one that no
// one touched before (restoring a cancelled occurrence is refused by the
// services, and is not what this machine is about).
func (m *evMachine) except(rt *rapid.T, side model.Side, cancel bool) {
	it := m.pick(rt, side, true)
	now := time.Now()
	keys, err := it.Event.OriginalStarts(now.Add(24*time.Hour), now.AddDate(0, 6, 0))
	if err != nil {
		rt.Fatalf("expand %q: %v", it.Event.Subject, err)
	}
	taken := map[string]bool{}
	for _, x := range it.Event.Recurrence.Exceptions {
		taken[x.OriginalStart] = true
	}
	var free []string
	for _, k := range keys {
		if !taken[k] && !m.usedOcc[k] {
			free = append(free, k)
		}
	}
	if len(free) == 0 {
		rt.Skip("no untouched occurrence")
	}
	k := free[rapid.IntRange(0, min(len(free), 6)-1).Draw(rt, "occ")]
	m.usedOcc[k] = true
	x := model.Exception{OriginalStart: k, Cancelled: cancel}
	if !cancel {
		t0, err := time.Parse(time.RFC3339, k)
		if err != nil {
			rt.Fatal(err)
		}
		x.Start = t0.Add(time.Duration(rapid.IntRange(1, 4).Draw(rt, "later")) * time.Hour)
		x.End = x.Start.Add(it.Event.End.Sub(it.Event.Start))
	}
	c := it.Clone()
	c.Event.Recurrence.Exceptions = append(c.Event.Recurrence.Exceptions, x)
	m.write(rt, side, it, c)
}

// remove deletes an event (or a series) as a person would; the ids paired
// with it then are remembered as gone too (deletes may follow).
func (m *evMachine) remove(rt *rapid.T, side model.Side, series bool) {
	it := m.pick(rt, side, series)
	m.gone[it.ID] = true
	pairs, err := m.eng.Store.Pairs(context.Background(), m.user, model.Events)
	if err != nil {
		rt.Fatal(err)
	}
	for _, p := range pairs {
		if p.CRMID == it.ID || p.MailID == it.ID {
			m.gone[p.CRMID], m.gone[p.MailID] = true, true
		}
	}
	if err := m.conn(side).Delete(m.ctx(), m.scope(), it.ID, it.Marker); err != nil {
		rt.Fatalf("delete %q in %s: %v", it.Event.Subject, side, err)
	}
	m.removals++
}

func (m *evMachine) run(rt *rapid.T) engine.Result {
	r, err := m.eng.Run(context.Background(), m.job)
	if err != nil {
		rt.Fatalf("pass: %v", err)
	}
	m.deletes += r.Deleted
	m.unresolved += r.Unresolved
	return r
}

func (m *evMachine) pass(rt *rapid.T) { m.run(rt) }

// isPlaceholder: an item that is (or was made by a person from) a busy
// placeholder; everything people create carries an E-subject.
func isPlaceholder(it *model.Item) bool { return baseOf(it) == "" }

// placeholderFor is what the engine writes for a private event under
// busy_only (engine.PrivateBusyOnly): its times, Private, Subject "Busy",
// and of a series the rule and the exceptions' times only.
func placeholderFor(it *model.Item) *model.Item {
	e := it.Event
	p := &model.Event{Subject: engine.PlaceholderSubject, AllDay: e.AllDay, Start: e.Start, End: e.End,
		StartDate: e.StartDate, EndDate: e.EndDate, Private: true}
	if e.Recurrence != nil {
		r := e.Recurrence.Clone()
		for i, x := range r.Exceptions {
			r.Exceptions[i] = model.Exception{OriginalStart: x.OriginalStart, Cancelled: x.Cancelled,
				Start: x.Start, End: x.End, StartDate: x.StartDate, EndDate: x.EndDate}
		}
		p.Recurrence = r
	}
	return &model.Item{Event: p}
}

// filtered reports whether the engine must leave an unpaired item of side
// alone under the job's settings.
func (m *evMachine) filtered(side model.Side, it *model.Item) bool {
	ks := m.settings()
	e := it.Event
	switch {
	case (e.Recurrence != nil || e.Series != "") && !m.seriesSynced():
		return true
	case e.Private && ks.Private == engine.PrivateSkip:
		return true
	case ks.Selected && side == model.Mail && !slices.ContainsFunc(e.Categories, func(c string) bool { return strings.EqualFold(c, ks.SelectCategory) }):
		return true
	}
	return false
}

func (m *evMachine) check(rt *rapid.T) {
	m.run(rt)
	if r := m.run(rt); r.Writes() != 0 {
		rt.Fatalf("a pass with no outside change wrote: %+v", r)
	}
	ctx := context.Background()
	if m.unresolved != 0 {
		us, _ := m.eng.Store.Unresolved(ctx, m.user, model.Events)
		var why []string
		for _, u := range us {
			why = append(why, string(u.Side)+": "+u.Reason)
		}
		rt.Fatalf("%d writes refused: %v", m.unresolved, why)
	}
	ks := m.settings()
	if !ks.Deletes && m.deletes != 0 {
		rt.Fatalf("%d deletes propagated with deletes off", m.deletes)
	}
	if m.deletes > m.removals {
		rt.Fatalf("%d deletes for %d removals: a change (a cancelled occurrence?) was taken for a delete", m.deletes, m.removals)
	}
	items := map[model.Side]map[string]*model.Item{model.CRM: {}, model.Mail: {}}
	bases := map[model.Side]map[string]*model.Item{model.CRM: {}, model.Mail: {}}
	for _, side := range []model.Side{model.CRM, model.Mail} {
		for _, it := range m.live(rt, side) {
			items[side][it.ID] = it
			// Nothing duplicated: one item per base subject on each side
			// (a series is one item, its occurrences are none).
			if b := baseOf(it); b != "" {
				if o := bases[side][b]; o != nil {
					rt.Fatalf("%s holds %s twice: %s and %s", side, b, o.ID, it.ID)
				}
				bases[side][b] = it
			}
			if it.Event.Series != "" && it.Event.Series != "master" {
				rt.Fatalf("%s lists an occurrence of a series as an item: %+v", side, it.Event)
			}
		}
	}
	pairs, err := m.eng.Store.Pairs(ctx, m.user, model.Events)
	if err != nil {
		rt.Fatal(err)
	}
	paired := map[string]bool{}
	from, to := m.scope().WindowStart, m.scope().WindowEnd
	for _, p := range pairs {
		paired[p.CRMID], paired[p.MailID] = true, true
		if p.CRMID == "" || p.MailID == "" || ks.Direction != engine.Both {
			continue
		}
		c, ml := items[model.CRM][p.CRMID], items[model.Mail][p.MailID]
		if c == nil || ml == nil {
			rt.Fatalf("pair %d names a missing item (crm %v, mail %v)", p.ID, c != nil, ml != nil)
		}
		if (c.Event.Recurrence == nil) != (ml.Event.Recurrence == nil) {
			rt.Fatalf("pair %d: a series on one side only: crm %+v, mail %+v", p.ID, c.Event, ml.Event)
		}
		if ks.Private == engine.PrivateSkip && (c.Event.Private || ml.Event.Private) {
			continue // made private after it synced: left as it was
		}
		ev, ph := c, ml
		if isPlaceholder(c) {
			ev, ph = ml, c
		}
		switch {
		case isPlaceholder(ev):
			rt.Fatalf("pair %d: no side holds the event: %+v, %+v", p.ID, c.Event, ml.Event)
		case isPlaceholder(ph):
			if ks.Private != engine.PrivateBusyOnly {
				rt.Fatalf("pair %d: a placeholder under private %s: %+v", p.ID, ks.Private, ph.Event)
			}
			if !ev.Event.Private {
				rt.Fatalf("pair %d: a public event with a placeholder: %+v", p.ID, ev.Event)
			}
			if !m.edited[ph.ID] && ph.Hash() != placeholderFor(ev).Hash() {
				rt.Fatalf("pair %d: placeholder %+v for %+v", p.ID, ph.Event, ev.Event)
			}
		default:
			if m.comparable(c).Hash() != m.comparable(ml).Hash() {
				rt.Fatalf("pair %d not converged: crm %+v vs mail %+v", p.ID, c.Event, ml.Event)
			}
		}
		if c.Event.Recurrence != nil {
			// One series on each side, the same occurrences over the window.
			co, err1 := c.Event.Occurrences(from, to)
			mo, err2 := ml.Event.Occurrences(from, to)
			if err1 != nil || err2 != nil {
				rt.Fatalf("pair %d: expand: %v, %v", p.ID, err1, err2)
			}
			if !slices.EqualFunc(co, mo, func(a, b model.Occurrence) bool {
				return a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.StartDate == b.StartDate
			}) {
				rt.Fatalf("pair %d: occurrences differ:\ncrm  %v\nmail %v", p.ID, starts(co), starts(mo))
			}
		}
	}
	for _, side := range []model.Side{model.CRM, model.Mail} {
		other := side.Other()
		for id, it := range items[side] {
			b := baseOf(it)
			// Every item that syncs out is paired.
			if ks.Direction.Writes(other) && !paired[id] && !m.filtered(side, it) {
				rt.Fatalf("%s event %q (%s) is in no pair", side, it.Event.Subject, id)
			}
			if b == "" {
				continue
			}
			leak := bases[other][b] != nil
			switch {
			case leak && (it.Event.Recurrence != nil) && !m.seriesSynced():
				rt.Fatalf("series %s reached %s with series not synced", b, other)
			case leak && it.Event.Private && !m.everPublic[b] && ks.Private != engine.PrivateSync:
				// skip: never on the other side; busy_only: only its placeholder.
				rt.Fatalf("private event %s (never public) reached %s under private %s: %+v", b, other, ks.Private, bases[other][b].Event)
			case leak && ks.Selected && m.created[id].side == model.Mail && !m.marked[b]:
				rt.Fatalf("unselected mailbox event %s reached the CRM", b)
			}
		}
	}
	// Nothing lost: what a person created and nobody deleted is still
	// where it was made, with its own subject (a placeholder never flows
	// back over the event), unless a person made its copy private under
	// busy_only, which turns the original into the placeholder.
	for id, o := range m.created {
		if m.gone[id] {
			continue
		}
		it := items[o.side][id]
		if it == nil {
			rt.Fatalf("%s's %s (%s) vanished without a delete", o.side, o.base, id)
		}
		if baseOf(it) != o.base && !(ks.Private == engine.PrivateBusyOnly && m.privCopy[o.base]) {
			rt.Fatalf("%s's %s became %+v", o.side, o.base, it.Event)
		}
	}
}

// comparable is it as the mailbox can hold it. The Google connector
// writes every event opaque or transparent (busy or free) and reads "oof"
// only from eventType outOfOffice, so a CRM "OutOfOffice" event arrives as
// busy and the pair's hashes differ for good (reported to the lead; the
// engine keeps each side's hash, so nothing flaps).
func (m *evMachine) comparable(it *model.Item) *model.Item {
	if !m.mailCannotHoldOOF() || it.Event.ShowAs != "oof" {
		return it
	}
	c := it.Clone()
	c.Event.ShowAs = ""
	return c
}

func (m *evMachine) mailCannotHoldOOF() bool {
	_, ok := m.job.Mail.(*google.Connector)
	return ok
}

func starts(occ []model.Occurrence) []string {
	var s []string
	for _, o := range occ {
		if o.StartDate != "" {
			s = append(s, o.StartDate)
		} else {
			s = append(s, o.Start.UTC().Format(time.RFC3339))
		}
	}
	return s
}
