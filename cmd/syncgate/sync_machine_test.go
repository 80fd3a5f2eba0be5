package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/syncgate/syncgate/emulate"
	"github.com/syncgate/syncgate/emulate/microsoft"
	"github.com/syncgate/syncgate/emulate/salesforce"
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
	restore := setFlagDefault(t, "rapid.checks", strconv.Itoa(envInt("SYNCGATE_GATEWAY_CHECKS", 20)))
	defer restore()
	defer setFlagDefault(t, "rapid.steps", "25")()
	st, cfg, rt := startSyncWorld(t, "alice@corp.example")
	env := &demoEnv{dir: st.dir, gwDir: st.gwDir, clientCert: st.clientCert, clientKey: st.clientKey}
	people, err := env.demoClient("https://" + st.gw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	base := rt.jobs[0]
	// A fresh user per check (rapid shrinks by re-running checks).
	users := prepareUsers(t, st, "m", 400)
	n := 0
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
		m := &gwMachine{st: st, people: people, user: user, api: strings.TrimSuffix(st.seeded.Salesforce.InstanceURL, "/") + "/services/data/v60.0",
			job: engine.Job{User: user, Kind: model.Contacts, CRM: base.CRM, Mail: base.Mail, Settings: ks}, eng: rt.eng}
		rtt.Repeat(map[string]func(*rapid.T){
			"crmCreate":  m.crmCreate,
			"mailCreate": m.mailCreate,
			"crmUpdate":  func(r *rapid.T) { m.change(r, model.CRM, false) },
			"mailUpdate": func(r *rapid.T) { m.change(r, model.Mail, false) },
			"crmDelete":  func(r *rapid.T) { m.change(r, model.CRM, true) },
			"mailDelete": func(r *rapid.T) { m.change(r, model.Mail, true) },
			"pass":       m.pass,
		})
		m.check(rtt)
	})
	_ = cfg
}

type gwMachine struct {
	st     *demoStack
	people *http.Client
	user   string
	api    string
	job    engine.Job
	eng    *engine.Engine
	serial int
}

func (m *gwMachine) crmCreate(rt *rapid.T) {
	m.serial++
	if _, err := m.st.set.Salesforce.Seed(m.user, "Contact", map[string]any{"FirstName": "P", "LastName": fmt.Sprintf("Crm%d", m.serial),
		"Email": fmt.Sprintf("c%d@crm.example", m.serial)}); err != nil {
		rt.Fatal(err)
	}
}

func (m *gwMachine) mailCreate(rt *rapid.T) {
	m.serial++
	if _, err := m.st.set.Microsoft.AddContact(m.user, "", map[string]any{"givenName": "P", "surname": fmt.Sprintf("Mail%d", m.serial),
		"emailAddresses": []any{map[string]any{"address": fmt.Sprintf("m%d@mail.example", m.serial)}}}); err != nil {
		rt.Fatal(err)
	}
}

func (m *gwMachine) live(rt *rapid.T, side model.Side) []*model.Item {
	c := m.job.CRM
	if side == model.Mail {
		c = m.job.Mail
	}
	ctx := syncgw.WithSubject(context.Background(), m.user)
	ch, err := c.Changes(ctx, engine.ScopeOf(m.job, time.Now()), "")
	if err != nil {
		rt.Fatalf("list %s: %v", side, err)
	}
	return ch.Items
}

// change edits or deletes an item as a person would: through the gateway,
// with the service's own API.
func (m *gwMachine) change(rt *rapid.T, side model.Side, del bool) {
	items := m.live(rt, side)
	if len(items) == 0 {
		rt.Skip("nothing to change")
	}
	it := items[rapid.IntRange(0, len(items)-1).Draw(rt, "i")]
	title := rapid.SampledFrom([]string{"CEO", "CTO", "VP"}).Draw(rt, "title")
	var method, u, body string
	switch {
	case side == model.CRM && del:
		method, u = "DELETE", m.api+"/sobjects/Contact/"+it.ID
	case side == model.CRM:
		method, u, body = "PATCH", m.api+"/sobjects/Contact/"+it.ID, `{"Title":"`+title+`"}`
	case del:
		method, u = "DELETE", "https://graph.microsoft.com/v1.0/users/"+m.user+"/contacts/"+it.ID
	default:
		method, u, body = "PATCH", "https://graph.microsoft.com/v1.0/users/"+m.user+"/contacts/"+it.ID, `{"jobTitle":"`+title+`"}`
	}
	req, _ := http.NewRequest(method, u, bytes.NewBufferString(body))
	req.Header.Set("Syncgate-Subject", m.user)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := m.people.Do(req)
	if err != nil {
		rt.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		rt.Fatalf("%s %s: %s", method, side, resp.Status)
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
