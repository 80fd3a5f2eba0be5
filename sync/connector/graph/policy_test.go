package graph

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/syncgate/syncgate/emulate/microsoft"
	"github.com/syncgate/syncgate/policy"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// Every request the connector makes, in every operation, is one the
// example gateway policy (examples/policy.yaml) allows for the acting user:
// the connector needs no path the shipped policy does not grant.
func TestEveryCallPassesTheExamplePolicy(t *testing.T) {
	for _, m := range contactDeltaModes {
		t.Run(m.name, func(t *testing.T) { testEveryCallPassesTheExamplePolicy(t, m.o) })
	}
}

func testEveryCallPassesTheExamplePolicy(t *testing.T, o Options) {
	p, err := policy.Load(filepath.Join("..", "..", "..", "examples", "policy.yaml"))
	must(t, err)
	eng, err := policy.Compile(p)
	must(t, err)
	client, err := eng.Identify(&policy.Peer{Source: netip.MustParseAddr("127.0.0.1"), Plain: true})
	must(t, err)

	o.PageSize = 2
	e := newEnv(t, o)
	const user = "dana@corp.example"
	must(t, e.s.AddUser(microsoft.User{TenantID: tenantID, ID: "da4a0000-0000-4000-8000-000000000004", UserPrincipalName: user}))
	cs := connector.Scope{User: user, Kind: model.Contacts}
	es := connector.Scope{User: user, Kind: model.Events, WindowStart: winStart, WindowEnd: winEnd}
	for i := range 3 {
		_, err := e.s.AddContact(user, "", map[string]any{"givenName": "C", "surname": string(rune('a' + i))})
		must(t, err)
	}
	ev := model.Event{Subject: "E", Start: mustTime(t, "2026-11-24T10:00:00Z"), End: mustTime(t, "2026-11-24T11:00:00Z")}
	for _, x := range []struct {
		s  connector.Scope
		it *model.Item
	}{{cs, &model.Item{Contact: &annContact}}, {es, &model.Item{Event: &ev}}} {
		full, err := e.c.Changes(e.ctx, x.s, "")
		must(t, err)
		c, err := e.c.Create(e.ctx, x.s, "policy-key", x.it)
		must(t, err)
		_, err = e.c.FindByKey(e.ctx, x.s, "policy-key")
		must(t, err)
		_, err = e.c.Get(e.ctx, x.s, c.ID)
		must(t, err)
		next := x.it.Clone()
		if next.Contact != nil {
			next.Contact.Title = "changed"
		} else {
			next.Event.Subject = "changed"
		}
		u, err := e.c.Update(e.ctx, x.s, c.ID, c.Marker, next)
		must(t, err)
		_, err = e.c.Changes(e.ctx, x.s, full.Cursor)
		must(t, err)
		must(t, e.c.Delete(e.ctx, x.s, c.ID, u.Marker))
	}
	mail := eng.Decide(&policy.Request{Client: client, Method: "GET", Host: microsoft.GraphHost, Port: 443, Path: "/v1.0/users/" + user + "/messages", Subject: user})
	if mail.Allow {
		t.Fatal("the example policy allows reading mail: this check would prove nothing")
	}
	calls := e.gw.Calls()
	if len(calls) < 15 {
		t.Fatalf("only %d calls recorded", len(calls))
	}
	for _, c := range calls {
		d := eng.Decide(&policy.Request{Client: client, Method: c.method, Host: microsoft.GraphHost, Port: 443, Path: c.escapedPath, Subject: c.subject})
		if !d.Allow {
			t.Errorf("%s %s as %s denied by the example policy: %s", c.method, c.escapedPath, c.subject, d.Reason)
		}
	}
}
