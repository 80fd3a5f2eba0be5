package google

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/people/v1"

	gemu "github.com/syncgate/syncgate/emulate/google"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

var adaContact = model.Contact{FirstName: "Ada", LastName: "Lovelace", Email: "ada@analytical.example", Company: "Analytical Engines",
	Title: "Analyst", Department: "R&D", Phone: "+44 20 7946 0001", MobilePhone: "+44 7700 900001",
	Street: "12 St James's Square", City: "London", State: "Greater London", PostalCode: "SW1Y 4JH", Country: "United Kingdom",
	Notes: "Met at the\r\nBabbage lecture"}

func person(given, family, email string) *people.Person {
	return &people.Person{Names: []*people.Name{{GivenName: given, FamilyName: family}},
		EmailAddresses: []*people.EmailAddress{{Value: email}}}
}

// A full listing pages through people/me/connections with the person
// fields, requestSyncToken and the page token, and ends in a cursor; the
// next listing sends the sync token and reports edits, new contacts and
// deletions (metadata.deleted).
func TestContactsFullThenIncremental(t *testing.T) {
	e := newEnv(t, Options{PageSize: 2})
	var rns []string
	for _, n := range []string{"Ada", "Grace", "Edsger", "Barbara", "Ken"} {
		rns = append(rns, e.putContact(alice, person(n, "Test", strings.ToLower(n)+"@example.com")).ResourceName)
	}
	keyed := person("Keyed", "Contact", "keyed@example.com")
	keyed.ClientData = []*people.ClientData{{Key: KeyProperty, Value: "key-1"}}
	rns = append(rns, e.putContact(alice, keyed).ResourceName)
	e.putContact(bob, person("Bob's", "Friend", "f@example.com"))

	full := e.changes(contactsS, "")
	got := byID(full.Items)
	if !full.Full || len(got) != 6 || len(full.Deleted) != 0 || !strings.HasPrefix(full.Cursor, cursorPrefix) {
		t.Fatalf("full listing: full=%v %d items deleted=%v cursor=%q", full.Full, len(got), full.Deleted, full.Cursor)
	}
	if it := got[rns[5]]; it.Key != "key-1" || it.Contact.FirstName != "Keyed" || it.Marker == "" || it.Modified.IsZero() {
		t.Fatalf("keyed contact: %+v", it)
	}
	calls := e.gw.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls for 6 contacts at 2 a page, want 3", len(calls))
	}
	for i, c := range calls {
		q, _ := url.ParseQuery(c.rawQuery)
		if c.subject != alice || c.host != "people.googleapis.com" || c.path != "/v1/people/me/connections" || q.Get("personFields") != personFields ||
			q.Get("requestSyncToken") != "true" || q.Get("pageSize") != "2" || (i > 0) != q.Has("pageToken") || q.Has("syncToken") {
			t.Fatalf("call %d: %s %s?%s as %s", i, c.method, c.path, c.rawQuery, c.subject)
		}
	}

	ppl := e.userPeople(alice)
	cur, err := ppl.People.Get(rns[0]).PersonFields("names").Do()
	must(t, err)
	_, err = ppl.People.UpdateContact(rns[0], &people.Person{Etag: cur.Etag, Names: []*people.Name{{GivenName: "Ada", FamilyName: "King"}}}).
		UpdatePersonFields("names").Do()
	must(t, err)
	_, err = ppl.People.DeleteContact(rns[1]).Do()
	must(t, err)
	added, err := ppl.People.CreateContact(person("Alan", "Turing", "alan@example.com")).Do()
	must(t, err)

	e.gw.reset()
	inc := e.changes(contactsS, full.Cursor)
	got = byID(inc.Items)
	if inc.Full || !slices.Equal(inc.Deleted, []string{rns[1]}) || len(got) != 2 ||
		got[rns[0]].Contact.LastName != "King" || got[added.ResourceName] == nil {
		t.Fatalf("incremental: full=%v deleted=%v items=%v", inc.Full, inc.Deleted, got)
	}
	for _, c := range e.gw.Calls() {
		q, _ := url.ParseQuery(c.rawQuery)
		if !q.Has("syncToken") || q.Get("personFields") != personFields || q.Get("requestSyncToken") != "true" {
			t.Fatalf("incremental call %s?%s", c.path, c.rawQuery)
		}
	}
	again := e.changes(contactsS, inc.Cursor)
	if len(again.Items)+len(again.Deleted) != 0 || again.Cursor == "" {
		t.Fatalf("quiet listing: %+v", again)
	}
}

// People signals an expired sync token with 400 FAILED_PRECONDITION and
// reason EXPIRED_SYNC_TOKEN (after seven days, or when Google drops it), a
// 410 is taken the same way, and a cursor that is not this user's contacts
// cursor is refused without a call: all ErrResync.
func TestContactsResync(t *testing.T) {
	e := newEnv(t, Options{PageSize: 1})
	for _, n := range []string{"A", "B", "C"} {
		e.putContact(alice, person(n, "X", n+"@example.com"))
	}
	fresh := func() string { return e.changes(contactsS, "").Cursor }
	bobCur := e.changes(connector.Scope{User: bob, Kind: model.Contacts}, "").Cursor
	cases := []struct {
		name    string
		cur     func() string
		prepare func()
		status  int
		code    string
	}{
		{"expired after seven days", fresh, func() { e.clk.Advance(8 * 24 * time.Hour) }, 400, "EXPIRED_SYNC_TOKEN"},
		{"dropped by Google", fresh, func() { must(t, e.s.InvalidateSyncTokens(alice)) }, 400, "EXPIRED_SYNC_TOKEN"},
		{"a token People calls invalid", func() string { return withToken(t, fresh(), "forged") }, nil, 400, "INVALID_ARGUMENT"},
		{"another user's cursor", func() string { return bobCur }, nil, 0, ""},
		{"an events cursor", func() string { return e.changes(eventsS, "").Cursor }, nil, 0, ""},
		{"empty token", func() string { return withToken(t, fresh(), "") }, nil, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cur := c.cur()
			if c.prepare != nil {
				c.prepare()
			}
			e.gw.reset()
			ch, err := e.c.Changes(e.ctx, contactsS, cur)
			if ch != nil || !errors.Is(err, connector.ErrResync) {
				t.Fatalf("Changes = %+v, %v; want ErrResync", ch, err)
			}
			var he *connector.HTTPError
			switch {
			case c.status == 0 && len(e.gw.Calls()) != 0:
				t.Fatalf("an invalid cursor was followed: %+v", e.gw.Calls())
			case c.status != 0 && (!errors.As(err, &he) || he.Status != c.status || he.Code != c.code || he.RequestID == ""):
				t.Fatalf("error %v (%+v), want HTTP %d %s", err, he, c.status, c.code)
			}
			if full := e.changes(contactsS, ""); !full.Full || len(full.Items) != 3 {
				t.Fatalf("full listing after resync: %d items", len(full.Items))
			}
		})
	}
	t.Run("410", func(t *testing.T) {
		cur := fresh()
		e.gw.intercept = func(r *http.Request, _ int) (*http.Response, error) {
			return synthetic(410, `{"error":{"code":410,"message":"gone","status":"FAILED_PRECONDITION"}}`), nil
		}
		defer func() { e.gw.intercept = nil }()
		if _, err := e.c.Changes(e.ctx, contactsS, cur); !errors.Is(err, connector.ErrResync) {
			t.Fatalf("410: %v", err)
		}
	})
}

// Creating twice with one key makes one contact carrying the key in
// clientData, even for a new connector that has never listed the user;
// FindByKey finds it.
func TestContactCreateIsIdempotent(t *testing.T) {
	e := newEnv(t, Options{})
	e.putContact(alice, person("Someone", "Else", "else@example.com"))
	const key = "fedcba9876543210fedcba9876543210"
	first, err := e.c.Create(e.ctx, contactsS, key, &model.Item{Contact: &adaContact})
	must(t, err)
	second, err := e.c.Create(e.ctx, contactsS, key, &model.Item{Contact: &adaContact})
	must(t, err)
	other, err := New(&http.Client{Transport: e.gw}, Options{CalendarEndpoint: gemu.CalendarBase, PeopleEndpoint: gemu.PeopleBase})
	must(t, err)
	third, err := other.Create(e.ctx, contactsS, key, &model.Item{Contact: &adaContact})
	must(t, err)
	stored, err := e.s.Contacts(alice)
	must(t, err)
	if len(stored) != 2 || second.ID != first.ID || third.ID != first.ID || first.Key != key || first.Hash() != (&model.Item{Contact: &adaContact}).Hash() {
		t.Fatalf("three creates: %d stored, ids %s %s %s, key %q", len(stored), first.ID, second.ID, third.ID, first.Key)
	}
	if n := countCalls(e.gw.Calls(), "POST", "people:createContact"); n != 1 {
		t.Fatalf("%d createContact calls", n)
	}
	for _, c := range []*Connector{e.c, other} {
		found, err := c.FindByKey(e.ctx, contactsS, key)
		must(t, err)
		if found == nil || found.ID != first.ID || found.Hash() != first.Hash() {
			t.Fatalf("FindByKey: %+v", found)
		}
		if none, err := c.FindByKey(e.ctx, contactsS, "no-such-key"); none != nil || err != nil {
			t.Fatalf("FindByKey of an unknown key: %+v %v", none, err)
		}
	}
	// Deleted in the mailbox: FindByKey finds nothing, Create makes a new one.
	_, err = e.userPeople(alice).People.DeleteContact(first.ID).Do()
	must(t, err)
	if f, err := e.c.FindByKey(e.ctx, contactsS, key); f != nil || err != nil {
		t.Fatalf("FindByKey of a deleted contact: %+v %v", f, err)
	}
	again, err := e.c.Create(e.ctx, contactsS, key, &model.Item{Contact: &adaContact})
	must(t, err)
	if again.ID == first.ID {
		t.Fatal("create after delete returned the deleted contact")
	}
}

// Update sends only the changed fields, named in updatePersonFields, with
// the etag in the body; the entries the model does not map (other emails,
// home phones, other addresses, unmapped name parts) stay; a stale marker
// is ErrConflict. Delete twice: ErrNotFound.
func TestContactUpdatePreservesAndConflicts(t *testing.T) {
	e := newEnv(t, Options{})
	seed := &people.Person{
		Names:          []*people.Name{{GivenName: "Grace", FamilyName: "Hopper", MiddleName: "Brewster", HonorificPrefix: "Rear Admiral"}},
		EmailAddresses: []*people.EmailAddress{{Value: "grace@navy.example", Type: "work"}, {Value: "grace@home.example", Type: "home"}},
		PhoneNumbers: []*people.PhoneNumber{{Value: "+1 555 0100", Type: "home"}, {Value: "+1 555 0101", Type: "work"},
			{Value: "+1 555 0102", Type: "mobile"}, {Value: "+1 555 0103", Type: "workFax"}},
		Addresses: []*people.Address{{Type: "home", City: "Arlington"}, {Type: "work", StreetAddress: "1 Navy Way", City: "Washington", Country: "US"}},
		Organizations: []*people.Organization{{Name: "US Navy", Title: "Officer", Department: "Computing", Location: "Pentagon"},
			{Name: "Harvard"}},
		Biographies: []*people.Biography{{Value: "COBOL", ContentType: "TEXT_PLAIN"}},
		Birthdays:   []*people.Birthday{{Text: "1906-12-09"}},
	}
	rn := e.putContact(alice, seed).ResourceName
	cur, err := e.c.Get(e.ctx, contactsS, rn)
	must(t, err)
	want := model.Contact{FirstName: "Grace", LastName: "Hopper", Email: "grace@navy.example", Company: "US Navy", Title: "Officer",
		Department: "Computing", Phone: "+1 555 0101", MobilePhone: "+1 555 0102", Street: "1 Navy Way", City: "Washington", Country: "US", Notes: "COBOL"}
	if *cur.Contact != want {
		t.Fatalf("read %+v\nwant %+v", *cur.Contact, want)
	}
	next := cur.Clone()
	next.Contact.Email = "grace.hopper@navy.example"
	next.Contact.Phone = "+1 555 0199"
	next.Contact.MobilePhone = ""
	next.Contact.Title = "Rear Admiral"
	next.Contact.City = "Washington, D.C."
	e.gw.reset()
	upd, err := e.c.Update(e.ctx, contactsS, rn, cur.Marker, next)
	must(t, err)
	if upd.Marker == cur.Marker || upd.Hash() != next.Hash() {
		t.Fatalf("update returned %+v", upd.Contact)
	}
	calls := e.gw.Calls()
	w := calls[len(calls)-1]
	q, _ := url.ParseQuery(w.rawQuery)
	if w.method != "PATCH" || !strings.HasSuffix(w.path, ":updateContact") || q.Get("updatePersonFields") != "emailAddresses,organizations,phoneNumbers,addresses" {
		t.Fatalf("write %s %s?%s", w.method, w.path, w.rawQuery)
	}
	var sent map[string]any
	must(t, json.Unmarshal(w.body, &sent))
	if sent["etag"] != cur.Marker || sent["names"] != nil || sent["biographies"] != nil || sent["clientData"] != nil {
		t.Fatalf("body %s", w.body)
	}
	stored, err := e.userPeople(alice).People.Get(rn).PersonFields("names,emailAddresses,phoneNumbers,addresses,organizations,birthdays").Do()
	must(t, err)
	var emails, phones, cities []string
	for _, x := range stored.EmailAddresses {
		emails = append(emails, x.Value)
	}
	for _, x := range stored.PhoneNumbers {
		phones = append(phones, x.Type+":"+x.Value)
	}
	for _, x := range stored.Addresses {
		cities = append(cities, x.Type+":"+x.City)
	}
	if !slices.Equal(emails, []string{"grace.hopper@navy.example", "grace@home.example"}) ||
		!slices.Equal(phones, []string{"home:+1 555 0100", "work:+1 555 0199", "workFax:+1 555 0103"}) ||
		!slices.Equal(cities, []string{"home:Arlington", "work:Washington, D.C."}) ||
		len(stored.Organizations) != 2 || stored.Organizations[0].Location != "Pentagon" || stored.Organizations[0].Title != "Rear Admiral" ||
		stored.Names[0].MiddleName != "Brewster" || len(stored.Birthdays) != 1 {
		t.Fatalf("stored after update:\nemails %v\nphones %v\naddresses %v\norgs %+v\nnames %+v", emails, phones, cities, stored.Organizations, stored.Names[0])
	}
	// A name change keeps the unmapped parts of the name.
	renamed := upd.Clone()
	renamed.Contact.LastName = "Hopper-Murray"
	upd2, err := e.c.Update(e.ctx, contactsS, rn, upd.Marker, renamed)
	must(t, err)
	stored, err = e.userPeople(alice).People.Get(rn).PersonFields("names").Do()
	must(t, err)
	if n := stored.Names[0]; n.FamilyName != "Hopper-Murray" || n.MiddleName != "Brewster" || n.HonorificPrefix != "Rear Admiral" || n.DisplayName == "Grace Brewster Hopper" {
		t.Fatalf("renamed: %+v", n)
	}
	// Nothing differs: no write.
	e.gw.reset()
	if same, err := e.c.Update(e.ctx, contactsS, rn, upd2.Marker, renamed); err != nil || same.Marker != upd2.Marker || countCalls(e.gw.Calls(), "PATCH", "") != 0 {
		t.Fatalf("an update with nothing to change: %v, %d writes", err, countCalls(e.gw.Calls(), "PATCH", ""))
	}
	// Stale markers.
	if _, err := e.c.Update(e.ctx, contactsS, rn, cur.Marker, next); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	if err := e.c.Delete(e.ctx, contactsS, rn, cur.Marker); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("stale delete: %v", err)
	}
	// Google's own answer to a stale etag (the contact changed between the
	// read and the write) is ErrConflict too.
	e.gw.intercept = func(r *http.Request, _ int) (*http.Response, error) {
		if r.Method == "PATCH" {
			return synthetic(400, `{"error":{"code":400,"message":"Request person.etag is different than the current person.etag. Clear local cache and get the latest person.","status":"FAILED_PRECONDITION"}}`), nil
		}
		return nil, nil
	}
	renamed.Contact.FirstName = "G."
	if _, err := e.c.Update(e.ctx, contactsS, rn, upd2.Marker, renamed); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("400 FAILED_PRECONDITION: %v", err)
	}
	e.gw.intercept = nil
	must(t, e.c.Delete(e.ctx, contactsS, rn, upd2.Marker))
	for _, marker := range []string{upd2.Marker, ""} {
		if err := e.c.Delete(e.ctx, contactsS, rn, marker); !errors.Is(err, connector.ErrNotFound) {
			t.Fatalf("delete twice (marker %q): %v", marker, err)
		}
	}
	if _, err := e.c.Get(e.ctx, contactsS, rn); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := e.c.Update(e.ctx, contactsS, rn, upd2.Marker, renamed); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("update deleted: %v", err)
	}
}

// A contact written and read back through the feed hashes the same as
// what was written; emptied fields are removed.
func TestContactRoundTripHash(t *testing.T) {
	e := newEnv(t, Options{})
	cur := e.changes(contactsS, "").Cursor
	cases := []model.Contact{
		adaContact,
		{LastName: "Only"},
		{FirstName: " Padded ", LastName: "Name", Email: "MiXeD@Example.COM", Phone: "1"},
		{FirstName: "Addr", Country: "DE", Notes: "multi\nline\n\nnotes"},
	}
	written := map[string]string{}
	for i, ct := range cases {
		it := &model.Item{Contact: &ct}
		created, err := e.c.Create(e.ctx, contactsS, "rt-"+string(rune('a'+i)), it)
		must(t, err)
		if created.Hash() != it.Hash() {
			t.Fatalf("case %d: create returned %+v", i, created.Contact)
		}
		written[created.ID] = it.Hash()
	}
	inc := e.changes(contactsS, cur)
	if len(inc.Items) != len(cases) {
		t.Fatalf("%d items, want %d", len(inc.Items), len(cases))
	}
	for _, it := range inc.Items {
		if it.Hash() != written[it.ID] {
			t.Fatalf("%s read back as %+v", it.ID, it.Contact)
		}
	}
	// Emptying every field but the name.
	first := byID(inc.Items)
	for id, it := range first {
		if it.Contact.LastName != "Lovelace" {
			continue
		}
		bare := &model.Item{Contact: &model.Contact{FirstName: "Ada", LastName: "Lovelace"}}
		upd, err := e.c.Update(e.ctx, contactsS, id, it.Marker, bare)
		must(t, err)
		if upd.Hash() != bare.Hash() {
			t.Fatalf("emptied: %+v", upd.Contact)
		}
	}
}
