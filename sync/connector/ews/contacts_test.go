package ews

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	emu "github.com/syncgate/syncgate/emulate/ews"
	"github.com/syncgate/syncgate/policy"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

var ann = model.Contact{FirstName: "Ann", LastName: "Lee", Email: "ann@example.net", Company: "Acme", Title: "CTO", Department: "R&D",
	Phone: "+1 555 0100", MobilePhone: "+1 555 0101", Street: "1 Main St", City: "Springfield", State: "IL", PostalCode: "62701", Country: "US", Notes: "Met at <conf> & dinner"}

// A full round pages through SyncFolderItems with MaxChangesReturned and
// reads every item with GetItem in batches; the next round from the
// cursor returns only what changed, deletions as tombstones.
func TestContactsFullAndIncremental(t *testing.T) {
	e := newEnv(t, Options{PageSize: 2, GetBatch: 2})
	var ids []string
	for _, n := range []string{"A", "B", "C", "D", "E"} {
		ids = append(ids, e.addContact(emu.Contact{GivenName: n, Surname: "Doe", Emails: map[string]string{"EmailAddress1": strings.ToLower(n) + "@example.net"}}))
	}
	full := e.changes(contactsS, "")
	if !full.Full || len(full.Items) != 5 || len(full.Deleted) != 0 || full.Cursor == "" {
		t.Fatalf("full: %d items, %d deleted, full %v", len(full.Items), len(full.Deleted), full.Full)
	}
	calls := e.gw.Calls()
	if n := countOps(calls, "SyncFolderItems"); n != 3 {
		t.Errorf("%d SyncFolderItems pages for 5 items of 2", n)
	}
	if n := countOps(calls, "GetItem"); n != 3 {
		t.Errorf("%d GetItem batches for 5 items of 2", n)
	}
	got := byID(full.Items)
	if c := got[ids[0]]; c == nil || c.Contact.FirstName != "A" || c.Contact.Email != "a@example.net" || c.Marker == "" {
		t.Fatalf("first contact: %+v", c)
	}

	e.gw.reset()
	must(t, e.s.EditItem(ids[1], map[string]string{"JobTitle": "Boss"}))
	must(t, e.s.RemoveItem(ids[2]))
	added := e.addContact(emu.Contact{GivenName: "F", Surname: "Doe"})
	inc := e.changes(contactsS, full.Cursor)
	if inc.Full || len(inc.Items) != 2 || len(inc.Deleted) != 1 || inc.Deleted[0] != ids[2] {
		t.Fatalf("incremental: %d items, deleted %v, full %v", len(inc.Items), inc.Deleted, inc.Full)
	}
	m := byID(inc.Items)
	if m[ids[1]] == nil || m[ids[1]].Contact.Title != "Boss" || m[added] == nil {
		t.Fatalf("incremental items %v", m)
	}
	again := e.changes(contactsS, inc.Cursor)
	if len(again.Items)+len(again.Deleted) != 0 {
		t.Fatalf("no change, yet %d items, %d deleted", len(again.Items), len(again.Deleted))
	}
	for _, c := range e.gw.Calls() {
		if c.subject != alice || !strings.Contains(string(c.body), `Version="Exchange2016"`) || !strings.Contains(string(c.body), "<PrimarySmtpAddress xmlns=\""+NSTypes+"\">"+alice+"<") {
			t.Fatalf("%s without RequestServerVersion or impersonation of the subject", c.op)
		}
	}
}

// ErrorInvalidSyncStateData, and a cursor made for another user, kind or
// by another program, mean a full resync.
func TestInvalidSyncStateIsResync(t *testing.T) {
	e := newEnv(t, Options{})
	e.addContact(emu.Contact{GivenName: "A"})
	full := e.changes(contactsS, "")
	bobS := connector.Scope{User: bob, Kind: model.Contacts}
	cases := []struct {
		name   string
		s      connector.Scope
		cursor string
		before func()
		calls  int
	}{
		{"another user's cursor", bobS, full.Cursor, nil, 0},
		{"another kind's cursor", eventsS, full.Cursor, nil, 0},
		{"not a cursor", contactsS, "https://evil.example/?s=AAAA", nil, 0},
		{"not base64", contactsS, strings.Replace(full.Cursor, "s=", "s=%3C", 1), nil, 0},
		{"invalidated by the server", contactsS, full.Cursor, e.s.InvalidateSyncStates, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.before != nil {
				c.before()
			}
			e.gw.reset()
			_, err := e.c.Changes(e.ctx, c.s, c.cursor)
			if !errors.Is(err, connector.ErrResync) {
				t.Fatalf("want ErrResync, got %v", err)
			}
			if n := len(e.gw.Calls()); n != c.calls {
				t.Fatalf("%d calls", n)
			}
		})
	}
	again := e.changes(contactsS, "")
	if len(again.Items) != 1 || !again.Full {
		t.Fatalf("resync: %d items", len(again.Items))
	}
}

// Create carries the key in the extended property; FindByKey finds it
// with a FindItem restriction; what is written reads back with the same
// content hash.
func TestContactCreateFindByKeyRoundTrip(t *testing.T) {
	e := newEnv(t, Options{})
	in := &model.Item{Contact: &ann}
	got, err := e.c.Create(e.ctx, contactsS, "key-ann-1", in)
	must(t, err)
	if got.Key != "key-ann-1" || got.Hash() != in.Hash() || got.Marker == "" {
		t.Fatalf("created %+v %+v", got, got.Contact)
	}
	x, err := e.s.ItemExtras(got.ID)
	must(t, err)
	if len(x.Extended) != 1 || x.Extended[0].Value != "key-ann-1" || x.Extended[0].PropertySetID != KeyPropertySetID || x.Extended[0].PropertyName != KeyPropertyName {
		t.Fatalf("key property %+v", x.Extended)
	}
	for _, c := range []struct {
		key  string
		want bool
	}{{"key-ann-1", true}, {"KEY-ANN-1", false}, {"key-other", false}} {
		f, err := e.c.FindByKey(e.ctx, contactsS, c.key)
		must(t, err)
		if (f != nil) != c.want || f != nil && (f.ID != got.ID || f.Hash() != in.Hash() || f.Key != c.key) {
			t.Fatalf("FindByKey(%s) = %+v", c.key, f)
		}
	}
	full := e.changes(contactsS, "")
	if len(full.Items) != 1 || full.Items[0].Key != "key-ann-1" || full.Items[0].Hash() != in.Hash() {
		t.Fatalf("listed %+v", full.Items)
	}
	calls := e.gw.Calls()
	for _, c := range calls {
		if c.op == "FindItem" && !strings.Contains(string(c.body), `Traversal="Shallow"`) {
			t.Fatal("FindItem without Traversal Shallow")
		}
		if c.op == "CreateItem" && (strings.Contains(string(c.body), "MessageDisposition") || !strings.Contains(string(c.body), `<DistinguishedFolderId xmlns="`+NSTypes+`" Id="contacts">`)) {
			t.Fatalf("CreateItem shape: %s", c.body)
		}
	}
}

// Updating the primary address, the business phone and the business
// address leaves EmailAddress2/3, other phones and the home address alone.
func TestContactUpdatePreservesOthers(t *testing.T) {
	e := newEnv(t, Options{})
	id, err := e.s.AddContactWith(alice, emu.Contact{GivenName: "Ann", Surname: "Lee",
		Emails: map[string]string{"EmailAddress1": "old@example.net", "EmailAddress2": "two@example.net", "EmailAddress3": "three@example.net"},
		Phones: map[string]string{"BusinessPhone": "1", "HomePhone": "2", "MobilePhone": "3", "BusinessFax": "4"}},
		emu.Extras{Physical: map[string]emu.PhysicalAddress{"Home": {Street: "9 Home Rd", City: "Hometown"}, "Business": {Street: "1 Old St", PostalCode: "111"}}})
	must(t, err)
	cur, err := e.c.Get(e.ctx, contactsS, id)
	must(t, err)
	want := cur.Clone()
	want.Contact.Email, want.Contact.Phone, want.Contact.MobilePhone = "new@example.net", "10", ""
	want.Contact.Street, want.Contact.City, want.Contact.PostalCode = "2 New St", "Newtown", ""
	want.Contact.LastName = "Lee-Smith"
	got, err := e.c.Update(e.ctx, contactsS, id, cur.Marker, want)
	must(t, err)
	if got.Hash() != want.Hash() || got.Marker == cur.Marker {
		t.Fatalf("updated %+v", got.Contact)
	}
	it := e.item("contacts", id)
	if it.Emails["EmailAddress2"] != "two@example.net" || it.Emails["EmailAddress3"] != "three@example.net" || it.Emails["EmailAddress1"] != "new@example.net" {
		t.Fatalf("emails %v", it.Emails)
	}
	if it.Phones["HomePhone"] != "2" || it.Phones["BusinessFax"] != "4" || it.Phones["BusinessPhone"] != "10" || it.Phones["MobilePhone"] != "" {
		t.Fatalf("phones %v", it.Phones)
	}
	if it.Props["DisplayName"] != "Ann Lee-Smith" {
		t.Fatalf("display name %q", it.Props["DisplayName"])
	}
	x, err := e.s.ItemExtras(id)
	must(t, err)
	if x.Physical["Home"].Street != "9 Home Rd" || x.Physical["Business"] != (emu.PhysicalAddress{Street: "2 New St", City: "Newtown"}) {
		t.Fatalf("addresses %+v", x.Physical)
	}
	e.gw.reset()
	same, err := e.c.Update(e.ctx, contactsS, id, got.Marker, want)
	must(t, err)
	if same.Marker != got.Marker || countOps(e.gw.Calls(), "UpdateItem") != 0 {
		t.Fatal("an update with nothing to change wrote")
	}
}

// A ChangeKey that moved is ErrConflict: caught before writing, and by
// Exchange (NeverOverwrite) when the item changes between read and write.
func TestStaleChangeKeyIsConflict(t *testing.T) {
	e := newEnv(t, Options{})
	id := e.addContact(emu.Contact{GivenName: "A", Surname: "B"})
	cur, err := e.c.Get(e.ctx, contactsS, id)
	must(t, err)
	must(t, e.s.EditItem(id, map[string]string{"JobTitle": "moved"}))
	next := cur.Clone()
	next.Contact.Title = "mine"
	e.gw.reset()
	if _, err := e.c.Update(e.ctx, contactsS, id, cur.Marker, next); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("stale marker: %v", err)
	}
	if countOps(e.gw.Calls(), "UpdateItem") != 0 {
		t.Fatal("wrote with a stale marker")
	}
	if err := e.c.Delete(e.ctx, contactsS, id, cur.Marker); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("delete with stale marker: %v", err)
	}
	fresh, err := e.c.Get(e.ctx, contactsS, id)
	must(t, err)
	// The item changes after the connector read it: Exchange refuses.
	e.gw.intercept = func(op string, _ []byte, _ int) *http.Response {
		if op == "UpdateItem" {
			must(t, e.s.EditItem(id, map[string]string{"JobTitle": "raced"}))
		}
		return nil
	}
	_, err = e.c.Update(e.ctx, contactsS, id, fresh.Marker, next)
	var he *connector.HTTPError
	if !errors.Is(err, connector.ErrConflict) || !errors.As(err, &he) || he.Code != "ErrorIrresolvableConflict" || he.RequestID == "" {
		t.Fatalf("raced update: %v", err)
	}
	if strings.Contains(string(lastBody(e, "UpdateItem")), "AlwaysOverwrite") {
		t.Fatal("UpdateItem may overwrite")
	}
}

func lastBody(e *env, op string) []byte {
	calls := e.gw.Calls()
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].op == op {
			return calls[i].body
		}
	}
	return nil
}

// Deleting twice: the second is ErrNotFound, through the gateway (which
// forgot the id when the first delete succeeded) and straight from
// Exchange (ErrorItemNotFound).
func TestDeleteTwiceIsNotFound(t *testing.T) {
	e := newEnv(t, Options{})
	id := e.addContact(emu.Contact{GivenName: "A"})
	e.changes(contactsS, "")
	must(t, e.c.Delete(e.ctx, contactsS, id, ""))
	if it := e.item("contacts", id); !it.Deleted {
		t.Fatal("not deleted")
	}
	if err := e.c.Delete(e.ctx, contactsS, id, ""); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("second delete through the gateway: %v", err)
	}
	if _, err := e.c.Get(e.ctx, contactsS, id); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	// Exchange's own answer, when the gateway still knows the id.
	id2 := e.addContact(emu.Contact{GivenName: "B"})
	e.changes(contactsS, "")
	must(t, e.s.RemoveItem(id2))
	if err := e.c.Delete(e.ctx, contactsS, id2, ""); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("delete of an item removed in Outlook: %v", err)
	}
	if !strings.Contains(string(lastBody(e, "DeleteItem")), `DeleteType="MoveToDeletedItems"`) && countOps(e.gw.Calls(), "DeleteItem") > 0 {
		t.Fatal("DeleteType")
	}
}

// The gateway's id registry is per process: after a restart it refuses
// ids with 403; the connector lists the folder with FindItem (teaching
// the gateway its ids) and retries once.
func TestGatewayRestartReteaches(t *testing.T) {
	e := newEnv(t, Options{PageSize: 2})
	var ids []string
	for _, n := range []string{"A", "B", "C"} {
		ids = append(ids, e.addContact(emu.Contact{GivenName: n}))
	}
	full := e.changes(contactsS, "")
	e.gw.restart()
	e.gw.reset()
	cur, err := e.c.Get(e.ctx, contactsS, ids[2])
	must(t, err)
	calls := e.gw.Calls()
	if len(calls) < 4 || calls[0].status != 403 || calls[0].reason != policy.ReasonEWSItemUnknown || countOps(calls, "FindItem") != 2 || calls[len(calls)-1].status != 200 {
		t.Fatalf("calls: %+v", summarize(calls))
	}
	next := cur.Clone()
	next.Contact.Title = "T"
	e.gw.restart()
	if _, err := e.c.Update(e.ctx, contactsS, ids[2], cur.Marker, next); err != nil {
		t.Fatal(err)
	}
	// After a restart, an id the folder no longer holds is gone.
	must(t, e.s.RemoveItem(ids[0]))
	e.gw.restart()
	if _, err := e.c.Get(e.ctx, contactsS, ids[0]); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("gone id after restart: %v", err)
	}
	// And a full read after a restart reads the rest.
	e.gw.restart()
	if ch := e.changes(contactsS, full.Cursor); len(ch.Deleted) != 1 {
		t.Fatalf("incremental after restart: %+v", ch)
	}
	if ReasonItemUnknown != policy.ReasonEWSItemUnknown {
		t.Fatal("ReasonItemUnknown differs from the gateway's reason")
	}
}

// The retry logic on its own: a gateway answering the 403 once; a 403 for
// another reason is not retried; one that persists is an HTTPError.
func TestReteachRetryLogic(t *testing.T) {
	e := newEnv(t, Options{})
	id := e.addContact(emu.Contact{GivenName: "A"})
	e.changes(contactsS, "")
	cases := []struct {
		name    string
		reason  string
		times   int
		finds   int
		wantErr bool
	}{
		{"once", ReasonItemUnknown, 1, 1, false},
		{"always", ReasonItemUnknown, 99, 1, true},
		{"other reason", "ews folder not allowed", 1, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			left := c.times
			e.gw.intercept = func(op string, _ []byte, n int) *http.Response {
				if op == "GetItem" && left > 0 {
					left--
					return refusal("x", c.reason)
				}
				return nil
			}
			e.gw.reset()
			_, err := e.c.Get(e.ctx, contactsS, id)
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v", err)
			}
			var he *connector.HTTPError
			if c.wantErr && (!errors.As(err, &he) || he.Status != 403 || errors.Is(err, connector.ErrNotFound)) {
				t.Fatalf("want the gateway's HTTPError, got %v", err)
			}
			if n := countOps(e.gw.Calls(), "FindItem"); n != c.finds {
				t.Fatalf("%d FindItem", n)
			}
			if n := countOps(e.gw.Calls(), "GetItem"); n > 2 {
				t.Fatalf("%d GetItem: retried more than once", n)
			}
		})
	}
}

func summarize(calls []seen) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.op+":"+string(rune('0'+c.status/100)))
	}
	return out
}
