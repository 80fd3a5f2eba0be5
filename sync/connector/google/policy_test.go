package google

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncgate/syncgate/policy"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// Every request the connector makes, in every operation, is one the
// example gateway policy (examples/policy.yaml) allows the sync engine for
// the acting user: the connector needs no path the shipped policy does not
// grant, and acting for a user outside the domain is refused.
func TestEveryCallPassesTheExamplePolicy(t *testing.T) {
	p, err := policy.Load(filepath.Join("..", "..", "..", "examples", "policy.yaml"))
	must(t, err)
	eng, err := policy.Compile(p)
	must(t, err)
	client, err := eng.Identify(&policy.Peer{HasCert: true, URIs: []string{"spiffe://corp.example/syncgate/sync"},
		Source: netip.MustParseAddr("10.20.1.5")})
	must(t, err)

	e := newEnv(t, Options{PageSize: 2})
	for _, n := range []string{"a", "b", "c"} {
		e.putContact(alice, person("C", n, n+"@example.com"))
		d := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		e.putEvent(alice, timedEvent("E"+n, d, d.Add(time.Hour), "UTC"))
	}
	d := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	master := timedEvent("Weekly", d, d.Add(time.Hour), "UTC")
	master.Recurrence = []string{"RRULE:FREQ=WEEKLY;COUNT=3"}
	e.putEvent(alice, master)
	ev := model.Event{Subject: "E", Start: d, End: d.Add(time.Hour)}
	for _, x := range []struct {
		s  connector.Scope
		it *model.Item
	}{{contactsS, &model.Item{Contact: &adaContact}}, {eventsS, &model.Item{Event: &ev}}} {
		full, err := e.c.Changes(e.ctx, x.s, "")
		must(t, err)
		c, err := e.c.Create(e.ctx, x.s, "policy-key", x.it)
		must(t, err)
		_, err = e.c.Create(e.ctx, x.s, "policy-key", x.it)
		must(t, err)
		_, err = e.c.FindByKey(e.ctx, x.s, "policy-key")
		must(t, err)
		_, err = e.c.FindByKey(e.ctx, x.s, "absent-key")
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
		// Recreated after the delete (events: restored under its id).
		c, err = e.c.Create(e.ctx, x.s, "policy-key", x.it)
		must(t, err)
		must(t, e.c.Delete(e.ctx, x.s, c.ID, ""))
	}
	calls := e.gw.Calls()
	if len(calls) < 25 {
		t.Fatalf("only %d calls recorded", len(calls))
	}
	for _, c := range calls {
		d := eng.Decide(&policy.Request{Client: client, Method: c.method, Host: c.host, Port: 443, Path: c.escapedPath, Subject: c.subject})
		if !d.Allow {
			t.Errorf("%s %s%s as %s denied by the example policy: %s", c.method, c.host, c.escapedPath, c.subject, d.Reason)
		}
		other := eng.Decide(&policy.Request{Client: client, Method: c.method, Host: c.host, Port: 443, Path: c.escapedPath, Subject: "mallory@evil.example"})
		if other.Allow {
			t.Fatalf("the example policy lets the engine act for a user outside the domain: this check would prove nothing")
		}
	}
	// Something the engine never needs stays denied, so the check above
	// means something.
	d2 := eng.Decide(&policy.Request{Client: client, Method: "POST", Host: "www.googleapis.com", Port: 443, Path: "/calendar/v3/calendars/primary/events/watch", Subject: alice})
	if d2.Allow {
		t.Fatal("the example policy allows events.watch")
	}
}
