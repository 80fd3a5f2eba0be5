package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/syncgate/syncgate/emulate"
	"github.com/syncgate/syncgate/emulate/microsoft"
	"github.com/syncgate/syncgate/emulate/salesforce"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/engine"
	syncgw "github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
)

// TestSyncMachineThroughGateway is the engine's state machine (see
// sync/engine's TestSyncMachine) against the Salesforce and Graph emulators
// through a real gateway: fewer, slower steps. Each check gets a new user
// in both emulators. SYNCGATE_GATEWAY_CHECKS sets the number of checks.
func TestSyncMachineThroughGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: many passes through the gateway")
	}
	restore := setFlagDefault(t, "rapid.checks", strconv.Itoa(envInt("SYNCGATE_GATEWAY_CHECKS", 12)))
	defer restore()
	defer setFlagDefault(t, "rapid.steps", "20")()
	st, _, rt := startSyncWorld(t, "alice@corp.example=graph", "bob@corp.example=google", "carol@corp.example=ews")
	mailboxes := map[string]engine.Job{}
	for _, j := range rt.jobs {
		if j.Kind == model.Contacts {
			mailboxes[map[string]string{"alice@corp.example": "graph", "bob@corp.example": "google", "carol@corp.example": "ews"}[j.User]] = j
		}
	}
	users := prepareUsers(t, st, "m", 600)
	n := 0
	for _, mb := range []string{"graph", "google", "ews"} {
		base := mailboxes[mb]
		t.Run(mb, func(t *testing.T) {
			rapid.Check(t, func(rtt *rapid.T) {
				if n >= len(users) {
					rtt.Fatal("out of prepared users")
				}
				user := users[n]
				n++
				ks := engine.KindSettings{
					Direction:    rapid.SampledFrom([]engine.Direction{engine.Both, engine.CRMToMail, engine.MailToCRM}).Draw(rtt, "direction"),
					Deletes:      rapid.Bool().Draw(rtt, "deletes"),
					Winner:       rapid.SampledFrom([]engine.Winner{engine.WinCRM, engine.WinMail}).Draw(rtt, "winner"),
					GuardPercent: 100, GuardMin: 1 << 20,
				}
				m := &gwMachine{user: user, job: engine.Job{User: user, Kind: model.Contacts, CRM: base.CRM, Mail: base.Mail, Settings: ks}, eng: rt.eng}
				rtt.Repeat(map[string]func(*rapid.T){
					"crmCreate":  func(r *rapid.T) { m.create(r, model.CRM) },
					"mailCreate": func(r *rapid.T) { m.create(r, model.Mail) },
					"crmUpdate":  func(r *rapid.T) { m.change(r, model.CRM, false) },
					"mailUpdate": func(r *rapid.T) { m.change(r, model.Mail, false) },
					"crmDelete":  func(r *rapid.T) { m.change(r, model.CRM, true) },
					"mailDelete": func(r *rapid.T) { m.change(r, model.Mail, true) },
					"pass":       m.pass,
				})
				m.check(rtt)
			})
		})
	}
}

type gwMachine struct {
	user   string
	job    engine.Job
	eng    *engine.Engine
	serial int
}

func (m *gwMachine) conn(side model.Side) connector.Connector {
	if side == model.CRM {
		return m.job.CRM
	}
	return m.job.Mail
}

func (m *gwMachine) ctx() context.Context {
	return syncgw.WithSubject(context.Background(), m.user)
}

// create adds a contact as a person would, with the service's own API
// through the gateway (the connector's calls; the key is a person's, not
// one the engine derives).
func (m *gwMachine) create(rt *rapid.T, side model.Side) {
	m.serial++
	it := &model.Item{Contact: &model.Contact{FirstName: rapid.SampledFrom([]string{"Ann", "Bo"}).Draw(rt, "first"),
		LastName: fmt.Sprintf("%s%d", side, m.serial), Email: fmt.Sprintf("p%d@%s.example", m.serial, side)}}
	if _, err := m.conn(side).Create(m.ctx(), engine.ScopeOf(m.job, time.Now()), fmt.Sprintf("person%d", m.serial), it); err != nil {
		rt.Fatalf("create in %s: %v", side, err)
	}
}

func (m *gwMachine) live(rt *rapid.T, side model.Side) []*model.Item {
	ch, err := m.conn(side).Changes(m.ctx(), engine.ScopeOf(m.job, time.Now()), "")
	if err != nil {
		rt.Fatalf("list %s: %v", side, err)
	}
	return ch.Items
}

// change edits or deletes an item as a person would.
func (m *gwMachine) change(rt *rapid.T, side model.Side, del bool) {
	items := m.live(rt, side)
	if len(items) == 0 {
		rt.Skip("nothing to change")
	}
	it := items[rapid.IntRange(0, len(items)-1).Draw(rt, "i")]
	sc := engine.ScopeOf(m.job, time.Now())
	if del {
		if err := m.conn(side).Delete(m.ctx(), sc, it.ID, it.Marker); err != nil {
			rt.Fatalf("delete in %s: %v", side, err)
		}
		return
	}
	c := it.Clone()
	c.Contact.Title = rapid.SampledFrom([]string{"CEO", "CTO", "VP"}).Draw(rt, "title")
	c.Contact.Phone = rapid.SampledFrom([]string{"+1 555 0100", "+1 555 0199", ""}).Draw(rt, "phone")
	if _, err := m.conn(side).Update(m.ctx(), sc, it.ID, it.Marker, c); err != nil {
		rt.Fatalf("update in %s: %v", side, err)
	}
}

func (m *gwMachine) pass(rt *rapid.T) {
	if _, err := m.eng.Run(context.Background(), m.job); err != nil {
		rt.Fatalf("pass: %v", err)
	}
}

func (m *gwMachine) check(rt *rapid.T) {
	m.pass(rt)
	r, err := m.eng.Run(context.Background(), m.job)
	if err != nil {
		rt.Fatal(err)
	}
	if r.Writes() != 0 {
		rt.Fatalf("a pass with no outside change wrote: %+v", r)
	}
	pairs, err := m.eng.Store.Pairs(context.Background(), m.user, model.Contacts)
	if err != nil {
		rt.Fatal(err)
	}
	crm, mail := map[string]*model.Item{}, map[string]*model.Item{}
	for _, it := range m.live(rt, model.CRM) {
		crm[it.ID] = it
	}
	for _, it := range m.live(rt, model.Mail) {
		mail[it.ID] = it
	}
	paired := map[string]bool{}
	for _, p := range pairs {
		paired[p.CRMID], paired[p.MailID] = true, true
		if p.CRMID == "" || p.MailID == "" || m.job.Settings.Direction != engine.Both {
			continue
		}
		c, ml := crm[p.CRMID], mail[p.MailID]
		if c == nil || ml == nil {
			rt.Fatalf("pair %d names a missing item (crm %v, mail %v)", p.ID, c != nil, ml != nil)
		}
		if c.Hash() != ml.Hash() {
			rt.Fatalf("pair %d not converged: %+v vs %+v", p.ID, c.Contact, ml.Contact)
		}
	}
	for _, side := range []model.Side{model.CRM, model.Mail} {
		if !m.job.Settings.Direction.Writes(side.Other()) {
			continue
		}
		items := crm
		if side == model.Mail {
			items = mail
		}
		for id := range items {
			if !paired[id] {
				rt.Fatalf("%s item %s is in no pair", side, id)
			}
		}
	}
	// No duplicates: one item per e-mail address on each side.
	// (Items are created with distinct addresses.)
	for _, items := range []map[string]*model.Item{crm, mail} {
		seen := map[string]bool{}
		for _, it := range items {
			if seen[it.Contact.Email] {
				rt.Fatalf("duplicate %s", it.Contact.Email)
			}
			seen[it.Contact.Email] = true
		}
	}
}

// setFlagDefault sets a flag unless the command line set it; the returned
// func restores it.
func setFlagDefault(t *testing.T, name, value string) func() {
	t.Helper()
	f := flag.Lookup(name)
	if f == nil || f.Value.String() != f.DefValue {
		return func() {}
	}
	old := f.Value.String()
	if err := flag.Set(name, value); err != nil {
		t.Fatal(err)
	}
	return func() { flag.Set(name, old) }
}

// prepareUsers adds n users to both emulators and pre-approves them for the
// Salesforce connected app, as an admin would.
func prepareUsers(tb testing.TB, st *demoStack, prefix string, n int) []string {
	tb.Helper()
	var users []string
	for i := 0; i < n; i++ {
		u := fmt.Sprintf("%s%d@corp.example", prefix, i)
		users = append(users, u)
		if _, err := st.set.Salesforce.AddUser(salesforce.User{Username: u}); err != nil {
			tb.Fatal(err)
		}
		id := fmt.Sprintf("%08x-0000-4000-8000-%012d", len(prefix)*7919+int(prefix[0]), 900000+i)
		if err := st.set.Microsoft.AddUser(microsoft.User{TenantID: emulate.DemoTenantID, ID: id, UserPrincipalName: u, Mail: u}); err != nil {
			tb.Fatal(err)
		}
		if err := st.set.Google.AddUser(u); err != nil {
			tb.Fatal(err)
		}
		if err := st.set.EWS.AddMailbox(u, u); err != nil {
			tb.Fatal(err)
		}
		if err := st.set.EWS.GrantImpersonation(emulate.DemoEWSUser, u); err != nil {
			tb.Fatal(err)
		}
	}
	certPEM, err := os.ReadFile(st.seeded.Salesforce.CertFile)
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.set.Salesforce.AddConnectedApp(salesforce.ConnectedApp{Name: emulate.DemoSalesforceAppName, ConsumerKey: st.seeded.Salesforce.ConsumerKey,
		CertificatePEM: string(certPEM), PreApproved: append(users, st.seeded.Users...)}); err != nil {
		tb.Fatal(err)
	}
	return users
}
