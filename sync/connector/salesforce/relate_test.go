package salesforce_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

func relations(t *testing.T, e *env, ev string) map[string][2]bool {
	t.Helper()
	recs, err := e.srv.Records("EventRelation")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]bool{}
	for _, r := range recs {
		if r.Deleted || r.Fields["EventId"] != ev {
			continue
		}
		p, _ := r.Fields["IsParent"].(bool)
		i, _ := r.Fields["IsInvitee"].(bool)
		out[r.Fields["RelationId"].(string)] = [2]bool{p, i}
	}
	return out
}

func whoID(t *testing.T, e *env, ev string) any {
	t.Helper()
	recs, _ := e.srv.Records("Event")
	for _, r := range recs {
		if r.ID == ev {
			return r.Fields["WhoId"]
		}
	}
	t.Fatalf("event %s not found", ev)
	return nil
}

func TestRelateContactsThenIdempotent(t *testing.T) {
	e := newEnv(t, nil)
	s := events(alice, t0, t0.Add(30*24*time.Hour))
	ev := e.seed(t, alice, "Event", map[string]any{"Subject": "QBR", "StartDateTime": t0.Add(time.Hour), "EndDateTime": t0.Add(2 * time.Hour)})
	a := e.seed(t, alice, "Contact", map[string]any{"LastName": "A", "Email": "A@Acme.example"})
	b := e.seed(t, alice, "Contact", map[string]any{"LastName": "B", "Email": "b@acme.example"})
	e.seed(t, alice, "Lead", map[string]any{"LastName": "L", "Company": "X", "Email": "b@acme.example"})
	// b is already an invitee: its row becomes a related one, not a second row.
	if st := e.rest(t, alice, "POST", "/sobjects/EventRelation", map[string]any{"EventId": ev, "RelationId": b, "IsInvitee": true}); st != 201 {
		t.Fatalf("invitee: %d", st)
	}
	emails := []string{"a@acme.example", "b@acme.example", "nobody@acme.example", alice}
	n, lead, err := e.conn.Relate(context.Background(), s, ev, emails)
	if err != nil || n != 2 || lead {
		t.Fatalf("Relate = %d %v %v", n, lead, err)
	}
	rels := relations(t, e, ev)
	if len(rels) != 2 || rels[a] != [2]bool{true, false} || rels[b] != [2]bool{true, true} {
		t.Fatalf("relations %v", rels)
	}
	if w := whoID(t, e, ev); w != a {
		t.Fatalf("WhoId %v, want %s (the first address)", w, a)
	}
	calls := len(e.gw.calls())
	n, lead, err = e.conn.Relate(context.Background(), s, ev, emails)
	if err != nil || n != 2 || lead {
		t.Fatalf("second Relate = %d %v %v", n, lead, err)
	}
	for _, c := range e.gw.calls()[calls:] {
		if c[:3] != "GET" {
			t.Fatalf("a second Relate wrote: %s", c)
		}
	}
	if len(relations(t, e, ev)) != 2 {
		t.Fatal("a second Relate added rows")
	}
}

func TestRelateLeadAndLimits(t *testing.T) {
	e := newEnv(t, nil)
	s := events(alice, t0, t0.Add(30*24*time.Hour))
	ev := e.seed(t, alice, "Event", map[string]any{"Subject": "Intro", "StartDateTime": t0.Add(time.Hour), "EndDateTime": t0.Add(2 * time.Hour)})
	l1 := e.seed(t, alice, "Lead", map[string]any{"LastName": "L1", "Company": "X", "Email": "l@x.example"})
	e.seed(t, alice, "Lead", map[string]any{"LastName": "L2", "Company": "X", "Email": "m@x.example"})
	n, lead, err := e.conn.Relate(context.Background(), s, ev, []string{"m@x.example", "l@x.example"})
	if err != nil || n != 0 || !lead {
		t.Fatalf("Relate = %d %v %v", n, lead, err)
	}
	rels := relations(t, e, ev)
	if len(rels) != 1 || !rels[l1][0] || whoID(t, e, ev) != l1 {
		t.Fatalf("one lead (the first address) expected: %v who %v", rels, whoID(t, e, ev))
	}
	// A later contact does not join a lead.
	e.seed(t, alice, "Contact", map[string]any{"LastName": "C", "Email": "c@x.example"})
	if n, _, err := e.conn.Relate(context.Background(), s, ev, []string{"c@x.example"}); err != nil || n != 0 || len(relations(t, e, ev)) != 1 {
		t.Fatalf("contact beside a lead: %d %v", n, err)
	}
	// 60 matching contacts: 50 related.
	ev2 := e.seed(t, alice, "Event", map[string]any{"Subject": "All hands", "StartDateTime": t0.Add(time.Hour), "EndDateTime": t0.Add(2 * time.Hour)})
	var many []string
	for i := 0; i < 60; i++ {
		addr := fmt.Sprintf("p%02d@big.example", i)
		e.seed(t, alice, "Contact", map[string]any{"LastName": addr, "Email": addr})
		many = append(many, addr)
	}
	n, _, err = e.conn.Relate(context.Background(), s, ev2, many)
	if err != nil || n != 50 || len(relations(t, e, ev2)) != 50 {
		t.Fatalf("60 contacts: %d related, %v", n, err)
	}
	// Events only.
	if _, _, err := e.conn.Relate(context.Background(), connector.Scope{User: alice, Kind: model.Contacts}, ev, many); err == nil {
		t.Fatal("Relate on contacts scope passed")
	}
}
