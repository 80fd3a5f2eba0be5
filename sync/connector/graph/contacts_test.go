package graph

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

func annProps() map[string]any {
	return map[string]any{
		"givenName": " Ann ", "surname": "Lee",
		"emailAddresses": []any{
			map[string]any{"address": "Ann.Lee@Example.com", "name": "Ann Lee"},
			map[string]any{"address": "ann@home.example"},
		},
		"companyName": "Acme", "jobTitle": "CTO", "department": "R&D",
		"businessPhones": []any{"+1 555 0100", "+1 555 0101"},
		"homePhones":     []any{"+1 555 0142"},
		"mobilePhone":    "+1 555 0199",
		"businessAddress": map[string]any{
			"street": "1 Main St", "city": "Springfield", "state": "IL", "postalCode": "62701", "countryOrRegion": "USA",
		},
		"personalNotes": "Met at\r\nthe conference",
		"nickName":      "Annie",
	}
}

var annContact = model.Contact{
	FirstName: "Ann", LastName: "Lee", Email: "ann.lee@example.com", Company: "Acme", Title: "CTO",
	Department: "R&D", Phone: "+1 555 0100", MobilePhone: "+1 555 0199", Street: "1 Main St",
	City: "Springfield", State: "IL", PostalCode: "62701", Country: "USA", Notes: "Met at\nthe conference",
}

func TestContactsFullListingFollowsEveryPage(t *testing.T) {
	e := newEnv(t, Options{PageSize: 2})
	ann, err := e.s.AddContact(aliceID, "", annProps())
	must(t, err)
	for i := range 6 {
		_, err := e.s.AddContact(aliceID, "", map[string]any{"givenName": "P", "surname": string(rune('a' + i))})
		must(t, err)
	}
	other, err := e.s.AddContactFolder(aliceID, "Other")
	must(t, err)
	_, err = e.s.AddContact(aliceID, other, map[string]any{"givenName": "Not", "surname": "Synced"})
	must(t, err)
	_, err = e.s.AddContact(bobID, "", map[string]any{"givenName": "Bob's", "surname": "Contact"})
	must(t, err)

	ch := e.changes(contactsS, "")
	if !ch.Full || len(ch.Items) != 7 || len(ch.Deleted) != 0 || ch.Cursor == "" {
		t.Fatalf("full listing: full=%v items=%d deleted=%d cursor=%q", ch.Full, len(ch.Items), len(ch.Deleted), ch.Cursor)
	}
	got := byID(ch.Items)[ann["id"].(string)]
	if got == nil {
		t.Fatal("seeded contact missing from the listing")
	}
	if *got.Contact != annContact {
		t.Fatalf("mapping:\n got %+v\nwant %+v", *got.Contact, annContact)
	}
	if got.Marker != ann["@odata.etag"] || got.Key != "" {
		t.Fatalf("marker %q key %q, want %q and no key", got.Marker, got.Key, ann["@odata.etag"])
	}
	calls := e.gw.Calls()
	pages := 0
	for _, c := range calls {
		if strings.HasSuffix(c.path, "/contacts/delta") {
			pages++
			if !slices.Contains(c.header.Values("Prefer"), "odata.maxpagesize=2") {
				t.Errorf("delta page without Prefer: odata.maxpagesize=2: %v", c.header.Values("Prefer"))
			}
			if c.subject != aliceUPN {
				t.Errorf("delta page acted as %q", c.subject)
			}
		}
	}
	if pages != 4 {
		t.Fatalf("%d delta pages for 7 contacts at 2 per page, want 4", pages)
	}
}

// contactDeltaModes are the two ways of reading the default folder.
var contactDeltaModes = []struct {
	name string
	o    Options
}{
	{"contactFolders/{id}/contacts/delta", Options{PageSize: 3}},
	{"contacts/delta", Options{PageSize: 3, ContactsDelta: true}},
}

func TestContactsIncrementalRound(t *testing.T) {
	for _, m := range contactDeltaModes {
		t.Run(m.name, func(t *testing.T) { testContactsIncrementalRound(t, m.o) })
	}
}

func testContactsIncrementalRound(t *testing.T, o Options) {
	e := newEnv(t, o)
	var ids []string
	for _, n := range []string{"a", "b", "c", "d"} {
		m, err := e.s.AddContact(aliceID, "", map[string]any{"givenName": n, "surname": "X"})
		must(t, err)
		ids = append(ids, m["id"].(string))
	}
	full := e.changes(contactsS, "")
	if len(full.Items) != 4 {
		t.Fatalf("full: %d items", len(full.Items))
	}
	quiet := e.changes(contactsS, full.Cursor)
	if quiet.Full || len(quiet.Items)+len(quiet.Deleted) != 0 || quiet.Cursor == "" {
		t.Fatalf("no changes: %+v", quiet)
	}
	_, err := e.s.UpdateContact(aliceID, ids[0], map[string]any{"jobTitle": "Boss"})
	must(t, err)
	must(t, e.s.DeleteContact(aliceID, ids[1]))
	added, err := e.s.AddContact(aliceID, "", map[string]any{"givenName": "e", "surname": "X"})
	must(t, err)

	ch := e.changes(contactsS, quiet.Cursor)
	items := byID(ch.Items)
	if ch.Full || len(ch.Items) != 2 || items[ids[0]] == nil || items[added["id"].(string)] == nil {
		t.Fatalf("incremental items: full=%v %v", ch.Full, items)
	}
	if items[ids[0]].Contact.Title != "Boss" {
		t.Fatalf("updated contact: %+v", items[ids[0]].Contact)
	}
	if !reflect.DeepEqual(ch.Deleted, []string{ids[1]}) {
		t.Fatalf("deleted %v, want %v", ch.Deleted, ids[1:2])
	}
	if again := e.changes(contactsS, ch.Cursor); len(again.Items)+len(again.Deleted) != 0 {
		t.Fatalf("second read of the same changes: %+v", again)
	}
}

func TestContactsEmptyFolder(t *testing.T) {
	for _, m := range contactDeltaModes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.o)
			ch := e.changes(contactsS, "")
			// Without a folder id there is no round to start: cursor "".
			// contacts/delta starts one on the empty folder.
			if !ch.Full || len(ch.Items) != 0 || (ch.Cursor == "") != !m.o.ContactsDelta {
				t.Fatalf("empty folder: %+v", ch)
			}
			_, err := e.s.AddContact(aliceID, "", map[string]any{"givenName": "First"})
			must(t, err)
			ch = e.changes(contactsS, ch.Cursor)
			if ch.Full != !m.o.ContactsDelta || len(ch.Items) != 1 || ch.Cursor == "" {
				t.Fatalf("after the first contact: %+v", ch)
			}
		})
	}
}

func TestContactCreateGetUpdateDelete(t *testing.T) {
	e := newEnv(t, Options{})
	in := &model.Item{Contact: &annContact}
	created, err := e.c.Create(e.ctx, contactsS, "key-1", in)
	must(t, err)
	if created.ID == "" || created.Marker == "" || created.Key != "key-1" || created.Hash() != in.Hash() {
		t.Fatalf("created: %+v (hash equal %v)", created, created.Hash() == in.Hash())
	}
	got, err := e.c.Get(e.ctx, contactsS, created.ID)
	must(t, err)
	if got.Marker != created.Marker || got.Key != "key-1" || got.Hash() != in.Hash() {
		t.Fatalf("get: %+v", got)
	}

	next := annContact
	next.Title, next.City = "CEO", "Chicago"
	upd, err := e.c.Update(e.ctx, contactsS, created.ID, created.Marker, &model.Item{Contact: &next})
	must(t, err)
	if upd.Marker == created.Marker || upd.Contact.Title != "CEO" || upd.Contact.City != "Chicago" || upd.Key != "key-1" {
		t.Fatalf("update: %+v %+v", upd, upd.Contact)
	}
	stale := []struct {
		name string
		op   func() error
	}{
		{"update", func() error {
			_, err := e.c.Update(e.ctx, contactsS, created.ID, created.Marker, &model.Item{Contact: &annContact})
			return err
		}},
		{"delete", func() error { return e.c.Delete(e.ctx, contactsS, created.ID, created.Marker) }},
	}
	for _, s := range stale {
		if err := s.op(); !errors.Is(err, connector.ErrConflict) {
			t.Fatalf("stale %s: %v, want ErrConflict", s.name, err)
		}
	}
	must(t, e.c.Delete(e.ctx, contactsS, created.ID, upd.Marker))
	gone := []struct {
		name string
		op   func() error
	}{
		{"delete twice", func() error { return e.c.Delete(e.ctx, contactsS, created.ID, upd.Marker) }},
		{"get", func() error { _, err := e.c.Get(e.ctx, contactsS, created.ID); return err }},
		{"update", func() error {
			_, err := e.c.Update(e.ctx, contactsS, created.ID, upd.Marker, &model.Item{Contact: &next})
			return err
		}},
	}
	for _, g := range gone {
		if err := g.op(); !errors.Is(err, connector.ErrNotFound) {
			t.Fatalf("%s after delete: %v, want ErrNotFound", g.name, err)
		}
	}
	// A mailbox change between the connector's read and its PATCH is
	// caught by If-Match: 412, ErrConflict.
	c2, err := e.c.Create(e.ctx, contactsS, "key-2", in)
	must(t, err)
	raced := false
	e.gw.intercept = func(r *http.Request, _ int) (*http.Response, error) {
		if r.Method == http.MethodPatch && !raced {
			raced = true
			_, err := e.s.UpdateContact(aliceID, c2.ID, map[string]any{"department": "raced"})
			must(t, err)
		}
		return nil, nil
	}
	_, err = e.c.Update(e.ctx, contactsS, c2.ID, c2.Marker, &model.Item{Contact: &next})
	var he *connector.HTTPError
	if !raced || !errors.Is(err, connector.ErrConflict) || !errors.As(err, &he) || he.Status != 412 || he.Code != "ErrorIrresolvableConflict" {
		t.Fatalf("update racing a mailbox change: %v (raced %v), want ErrConflict from a 412", err, raced)
	}
}

func TestContactUpdateKeepsOtherAddressesAndPhones(t *testing.T) {
	props := annProps()
	props["emailAddresses"] = []any{
		map[string]any{"address": "Ann.Lee@Example.com", "name": "Ann Lee"},
		map[string]any{"address": "ann@home.example", "name": "home"},
		map[string]any{"address": "ann@other.example"},
	}
	cases := []struct {
		name       string
		change     func(c *model.Contact)
		wantEmails []string
		wantNames  []string
		wantPhones []string
		patched    []string // fields the PATCH body names
	}{
		{
			name:       "new primary address and phone",
			change:     func(c *model.Contact) { c.Email, c.Phone = "ann@newco.example", "+1 555 0111" },
			wantEmails: []string{"ann@newco.example", "ann@home.example", "ann@other.example"},
			wantNames:  []string{"ann@newco.example", "home", ""},
			wantPhones: []string{"+1 555 0111", "+1 555 0101"},
			patched:    []string{"businessPhones", "emailAddresses"},
		},
		{
			name:       "same address in other case is no change",
			change:     func(c *model.Contact) { c.Email, c.Notes = "ANN.LEE@example.com", "new notes" },
			wantEmails: []string{"Ann.Lee@Example.com", "ann@home.example", "ann@other.example"},
			wantNames:  []string{"Ann Lee", "home", ""},
			wantPhones: []string{"+1 555 0100", "+1 555 0101"},
			patched:    []string{"personalNotes"},
		},
		{
			name:       "primary address cleared",
			change:     func(c *model.Contact) { c.Email, c.Phone = "", "" },
			wantEmails: []string{"ann@home.example", "ann@other.example"},
			wantNames:  []string{"home", ""},
			wantPhones: []string{"+1 555 0101"},
			patched:    []string{"businessPhones", "emailAddresses"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			seeded, err := e.s.AddContact(aliceID, "", props)
			must(t, err)
			cur, err := e.c.Get(e.ctx, contactsS, seeded["id"].(string))
			must(t, err)
			want := *cur.Contact
			tc.change(&want)
			e.gw.reset()
			_, err = e.c.Update(e.ctx, contactsS, cur.ID, cur.Marker, &model.Item{Contact: &want})
			must(t, err)
			var patch map[string]any
			for _, c := range e.gw.Calls() {
				if c.method == "PATCH" {
					must(t, json.Unmarshal(c.body, &patch))
				}
			}
			var names []string
			for k := range patch {
				names = append(names, k)
			}
			slices.Sort(names)
			if !slices.Equal(names, tc.patched) {
				t.Fatalf("PATCH named %v, want %v", names, tc.patched)
			}
			all, err := e.s.Contacts(aliceID)
			must(t, err)
			stored := all[0]
			var emails, enames []string
			for _, x := range stored["emailAddresses"].([]any) {
				m := x.(map[string]any)
				emails = append(emails, str(m, "address"))
				enames = append(enames, str(m, "name"))
			}
			var phones []string
			for _, x := range stored["businessPhones"].([]any) {
				phones = append(phones, x.(string))
			}
			if !slices.Equal(emails, tc.wantEmails) || !slices.Equal(enames, tc.wantNames) || !slices.Equal(phones, tc.wantPhones) {
				t.Fatalf("stored emails %v names %v phones %v\nwant %v %v %v", emails, enames, phones, tc.wantEmails, tc.wantNames, tc.wantPhones)
			}
			if hp := stored["homePhones"].([]any); len(hp) != 1 || hp[0] != "+1 555 0142" || stored["nickName"] != "Annie" {
				t.Fatalf("unsynced fields changed: homePhones %v nickName %v", hp, stored["nickName"])
			}
		})
	}
}

func TestContactUpdateWithNothingToWrite(t *testing.T) {
	e := newEnv(t, Options{})
	created, err := e.c.Create(e.ctx, contactsS, "k", &model.Item{Contact: &annContact})
	must(t, err)
	e.gw.reset()
	same, err := e.c.Update(e.ctx, contactsS, created.ID, created.Marker, &model.Item{Contact: &annContact})
	must(t, err)
	if same.Marker != created.Marker || countCalls(e.gw.Calls(), "PATCH", "") != 0 {
		t.Fatalf("an update with no difference wrote: marker %q -> %q, calls %+v", created.Marker, same.Marker, e.gw.Calls())
	}
}

func TestFindByKey(t *testing.T) {
	e := newEnv(t, Options{PageSize: 1})
	ev := model.Event{Subject: "Kickoff", Start: mustTime(t, "2026-11-24T15:00:00Z"), End: mustTime(t, "2026-11-24T16:00:00Z")}
	items := []struct {
		s  connector.Scope
		it *model.Item
	}{
		{contactsS, &model.Item{Contact: &annContact}},
		{eventsS, &model.Item{Event: &ev}},
	}
	for _, k := range items {
		t.Run(string(k.s.Kind), func(t *testing.T) {
			keys := []string{"sg-1", "sg-2", "it's-quoted", "sg-1x"}
			made := map[string]string{}
			for _, key := range keys {
				c, err := e.c.Create(e.ctx, k.s, key, k.it)
				must(t, err)
				made[key] = c.ID
			}
			for _, key := range keys {
				got, err := e.c.FindByKey(e.ctx, k.s, key)
				must(t, err)
				if got == nil || got.ID != made[key] || got.Key != key || got.Hash() != k.it.Hash() {
					t.Fatalf("FindByKey(%q) = %+v, want id %s", key, got, made[key])
				}
			}
			got, err := e.c.FindByKey(e.ctx, k.s, "sg-unknown")
			if got != nil || err != nil {
				t.Fatalf("FindByKey(unknown) = %+v, %v; want nil, nil", got, err)
			}
			// The key reads back on listings too: a fresh first sync finds
			// syncgate's own items by key.
			full := e.changes(k.s, "")
			n := 0
			for _, it := range full.Items {
				if made[it.Key] == it.ID {
					n++
				}
			}
			if n != len(keys) {
				t.Fatalf("full listing carries %d of %d keys", n, len(keys))
			}
		})
	}
}

func TestContactKeyQueriesAreEncoded(t *testing.T) {
	// The filter goes out percent-encoded (spaces as %20), as Graph asks.
	e := newEnv(t, Options{})
	_, err := e.c.FindByKey(e.ctx, contactsS, "k 1")
	must(t, err)
	c := e.gw.Calls()[0]
	if strings.Contains(c.rawQuery, " ") || strings.Contains(c.rawQuery, "+") {
		t.Fatalf("query not encoded: %s", c.rawQuery)
	}
	q, err := url.ParseQuery(c.rawQuery)
	must(t, err)
	want := "singleValueExtendedProperties/Any(ep: ep/id eq '" + KeyPropertyID + "' and ep/value eq 'k 1')"
	if q.Get("$filter") != want {
		t.Fatalf("$filter %q\nwant %q", q.Get("$filter"), want)
	}
}
