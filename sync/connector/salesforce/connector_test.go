package salesforce_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	sfemu "github.com/syncgate/syncgate/emulate/salesforce"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/salesforce"
	"github.com/syncgate/syncgate/sync/model"
)

var ctx = context.Background()

func TestFullListingMapsContacts(t *testing.T) {
	e := newEnv(t, nil)
	acme := e.seed(t, alice, "Account", map[string]any{"Name": "Acme Corp"})
	full := e.seed(t, alice, "Contact", map[string]any{
		"FirstName": "Ada", "LastName": "Lovelace", "Email": "Ada@Example.com", "Title": "Analyst", "Department": "R&D",
		"Phone": "+1 555 0100", "MobilePhone": "+1 555 0101", "MailingStreet": "1 Engine Way\nFloor 2", "MailingCity": "London",
		"MailingState": "LDN", "MailingPostalCode": "N1 9GU", "MailingCountry": "UK", "Description": "met at the fair",
		"AccountId": acme, "Syncgate_Id__c": "k-ada",
	})
	plain := e.seed(t, alice, "Contact", map[string]any{"LastName": "Babbage"})
	e.seed(t, bob, "Contact", map[string]any{"LastName": "NotAlices"})

	ch := e.changes(t, contacts(alice), "")
	if !ch.Full || len(ch.Deleted) != 0 || len(ch.Items) != 2 {
		t.Fatalf("full listing: full=%v items=%d deleted=%v", ch.Full, len(ch.Items), ch.Deleted)
	}
	got := byID(ch.Items)
	it := got[full]
	want := model.Contact{FirstName: "Ada", LastName: "Lovelace", Email: "Ada@Example.com", Company: "Acme Corp", Title: "Analyst",
		Department: "R&D", Phone: "+1 555 0100", MobilePhone: "+1 555 0101", Street: "1 Engine Way\nFloor 2", City: "London",
		State: "LDN", PostalCode: "N1 9GU", Country: "UK", Notes: "met at the fair"}
	if it == nil || *it.Contact != want {
		t.Fatalf("contact = %+v, want %+v", it, want)
	}
	if it.Key != "k-ada" || it.Owner != e.ids[alice] || it.Marker == "" || it.Event != nil {
		t.Errorf("item id/key/owner/marker = %q %q %q %q", it.ID, it.Key, it.Owner, it.Marker)
	}
	if p := got[plain]; p == nil || p.Contact.LastName != "Babbage" || p.Contact.Company != "" || p.Key != "" {
		t.Errorf("plain contact = %+v", p)
	}
}

func TestFullListingEventsInWindow(t *testing.T) {
	e := newEnv(t, nil)
	ws, we := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	in := e.seed(t, alice, "Event", map[string]any{"Subject": "Review", "StartDateTime": "2026-03-10T14:00:00.000+0000",
		"EndDateTime": "2026-03-10T15:30:00.000+0000", "Location": "Room 1", "Description": "agenda", "IsPrivate": true, "ShowAs": "OutOfOffice"})
	allDay := e.seed(t, alice, "Event", map[string]any{"Subject": "Offsite", "IsAllDayEvent": true, "ActivityDate": "2026-03-20", "DurationInMinutes": 3 * 1440})
	e.seed(t, alice, "Event", map[string]any{"Subject": "Before", "StartDateTime": "2026-02-10T14:00:00Z", "EndDateTime": "2026-02-10T15:00:00Z"})
	e.seed(t, alice, "Event", map[string]any{"Subject": "After", "StartDateTime": "2026-04-10T14:00:00Z", "EndDateTime": "2026-04-10T15:00:00Z"})
	e.seed(t, bob, "Event", map[string]any{"Subject": "Bob's", "StartDateTime": "2026-03-10T14:00:00Z", "EndDateTime": "2026-03-10T15:00:00Z"})

	ch := e.changes(t, events(alice, ws, we), "")
	got := byID(ch.Items)
	if len(got) != 2 || got[in] == nil || got[allDay] == nil {
		t.Fatalf("listing = %v", ch.Items)
	}
	wantTimed := model.Event{Subject: "Review", Location: "Room 1", Description: "agenda", Private: true, ShowAs: "oof",
		Start: time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 10, 15, 30, 0, 0, time.UTC)}
	if ev := *got[in].Event; !ev.Start.Equal(wantTimed.Start) || !ev.End.Equal(wantTimed.End) || ev.AllDay ||
		ev.Subject != wantTimed.Subject || ev.Location != wantTimed.Location || ev.Description != wantTimed.Description ||
		!ev.Private || ev.ShowAs != "oof" {
		t.Errorf("timed event = %+v", ev)
	}
	if ev := got[allDay].Event; !ev.AllDay || ev.StartDate != "2026-03-20" || ev.EndDate != "2026-03-23" || ev.ShowAs != "" {
		t.Errorf("all-day event = %+v", ev)
	}
}

func TestIncrementalChanges(t *testing.T) {
	e := newEnv(t, nil)
	keep := e.seed(t, alice, "Contact", map[string]any{"LastName": "Keep"})
	upd := e.seed(t, alice, "Contact", map[string]any{"LastName": "Update"})
	del := e.seed(t, alice, "Contact", map[string]any{"LastName": "Delete"})
	s := contacts(alice)
	first := e.changes(t, s, "")
	if len(first.Items) != 3 {
		t.Fatalf("full listing: %d items", len(first.Items))
	}

	// Nothing happened: nothing to report, not even the overlap.
	again := e.changes(t, s, first.Cursor)
	if len(again.Items) != 0 || len(again.Deleted) != 0 || again.Full {
		t.Fatalf("no changes: items=%d deleted=%v full=%v", len(again.Items), again.Deleted, again.Full)
	}

	// A record created in the same millisecond as the high-water mark (a
	// tie) must not be lost.
	tie := e.seed(t, alice, "Contact", map[string]any{"LastName": "Tie"})
	e.clk.Advance(time.Minute)
	created := e.seed(t, alice, "Contact", map[string]any{"LastName": "Created"})
	e.rest(t, alice, http.MethodPatch, "/sobjects/Contact/"+upd, map[string]any{"Title": "Boss"})
	e.rest(t, alice, http.MethodDelete, "/sobjects/Contact/"+del, nil)
	e.seed(t, bob, "Contact", map[string]any{"LastName": "Bob's"})

	ch := e.changes(t, s, again.Cursor)
	got := byID(ch.Items)
	if len(got) != 3 || got[tie] == nil || got[created] == nil || got[upd] == nil || got[keep] != nil {
		t.Fatalf("incremental items = %v (tie %s, created %s, updated %s, unchanged %s)", slices.Sorted(maps.Keys(got)), tie, created, upd, keep)
	}
	if got[upd].Contact.Title != "Boss" || got[upd].Marker == byID(first.Items)[upd].Marker {
		t.Errorf("updated contact = %+v marker %q", got[upd].Contact, got[upd].Marker)
	}
	if !slices.Equal(ch.Deleted, []string{del}) || ch.Full {
		t.Errorf("deleted = %v full=%v", ch.Deleted, ch.Full)
	}

	// The next read repeats nothing.
	last := e.changes(t, s, ch.Cursor)
	if len(last.Items) != 0 || len(last.Deleted) != 0 {
		t.Fatalf("after incremental: items=%d deleted=%v", len(last.Items), last.Deleted)
	}
}

func TestIncrementalLookbackCatchesLateCommit(t *testing.T) {
	e := newEnv(t, nil)
	e.clk.Advance(10 * time.Minute)
	e.seed(t, alice, "Contact", map[string]any{"LastName": "Now"})
	s := contacts(alice)
	ch := e.changes(t, s, "")
	// A transaction that started a minute ago commits now: its
	// SystemModstamp is older than the high-water mark.
	e.clk.Advance(-time.Minute)
	late := e.seed(t, alice, "Contact", map[string]any{"LastName": "Late"})
	e.clk.Advance(time.Minute)
	next := e.changes(t, s, ch.Cursor)
	if len(next.Items) != 1 || next.Items[0].ID != late {
		t.Fatalf("late commit within the look-back: %v", next.Items)
	}
}

func TestIncrementalEventsWindow(t *testing.T) {
	e := newEnv(t, nil)
	w1s, w1e := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	inside := e.seed(t, alice, "Event", map[string]any{"Subject": "In", "StartDateTime": "2026-03-10T14:00:00Z", "EndDateTime": "2026-03-10T15:00:00Z"})
	later := e.seed(t, alice, "Event", map[string]any{"Subject": "April", "StartDateTime": "2026-04-10T14:00:00Z", "EndDateTime": "2026-04-10T15:00:00Z"})
	outside := e.seed(t, alice, "Event", map[string]any{"Subject": "Far", "StartDateTime": "2026-09-10T14:00:00Z", "EndDateTime": "2026-09-10T15:00:00Z"})
	ch := e.changes(t, events(alice, w1s, w1e), "")
	if got := byID(ch.Items); len(got) != 1 || got[inside] == nil {
		t.Fatalf("window 1: %v", ch.Items)
	}
	// Changes and deletions outside the window are not reported.
	e.clk.Advance(time.Minute)
	e.rest(t, alice, http.MethodDelete, "/sobjects/Event/"+outside, nil)
	ch = e.changes(t, events(alice, w1s, w1e), ch.Cursor)
	if len(ch.Items) != 0 || len(ch.Deleted) != 0 {
		t.Fatalf("outside the window: items=%v deleted=%v", ch.Items, ch.Deleted)
	}
	// The window moves a month on: the April event, unchanged, enters it.
	w2s, w2e := w1s.AddDate(0, 1, 0), w1e.AddDate(0, 1, 0)
	ch = e.changes(t, events(alice, w2s, w2e), ch.Cursor)
	if got := byID(ch.Items); len(got) != 1 || got[later] == nil || len(ch.Deleted) != 0 {
		t.Fatalf("window moved: items=%v deleted=%v", ch.Items, ch.Deleted)
	}
	ch = e.changes(t, events(alice, w2s, w2e), ch.Cursor)
	if len(ch.Items) != 0 {
		t.Fatalf("same window again: %v", ch.Items)
	}
}

func TestPagingAcrossQueryMore(t *testing.T) {
	e := newEnv(t, func(o *salesforce.Options) { o.BatchSize = 200 })
	const n = 450
	for i := range n {
		e.seed(t, alice, "Contact", map[string]any{"LastName": "Many", "FirstName": string(rune('A' + i%26))})
	}
	ch := e.changes(t, contacts(alice), "")
	ids := map[string]bool{}
	for _, it := range ch.Items {
		ids[it.ID] = true
	}
	if len(ch.Items) != n || len(ids) != n {
		t.Fatalf("full listing over pages: %d items, %d distinct", len(ch.Items), len(ids))
	}
	pages := 0
	for _, c := range e.gw.calls() {
		if strings.Contains(c, "/query") {
			pages++
		}
	}
	if pages != 3 {
		t.Errorf("%d query calls, want 3 pages of at most 200", pages)
	}
}

func TestFailureMidPageReturnsNoPartialResult(t *testing.T) {
	cases := []struct {
		name        string
		status      int
		incremental bool
		check       func(error) bool
	}{
		{"full listing, 500", 500, false, func(err error) bool {
			var he *connector.HTTPError
			return errors.As(err, &he) && he.Status == 500 && he.Code == "SERVER_UNAVAILABLE" && strings.HasPrefix(he.RequestID, "gw-")
		}},
		{"incremental, 500", 500, true, func(err error) bool { var he *connector.HTTPError; return errors.As(err, &he) && he.Status == 500 }},
		{"full listing, 503 outlasting retries", 503, false, func(err error) bool {
			var te *connector.ThrottledError
			return errors.As(err, &te) && te.Status == 503
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *salesforce.Options) { o.BatchSize = 200 })
			s := contacts(alice)
			cursor := ""
			if tc.incremental {
				cursor = e.changes(t, s, "").Cursor
			}
			for range 450 {
				e.seed(t, alice, "Contact", map[string]any{"LastName": "Many"})
			}
			pages := 0
			e.gw.after = func(req *http.Request, resp *http.Response) {
				if strings.Contains(req.URL.Path, "/query") {
					pages++
					if pages == 1 { // fail the second page
						e.srv.SetFaults(sfemu.Faults{Fail5xx: 1, Status5xx: tc.status})
					}
				}
			}
			ch, err := e.conn.Changes(ctx, s, cursor)
			if err == nil || ch != nil {
				t.Fatalf("Changes = %v, %v; want an error and no result", ch, err)
			}
			if !tc.check(err) {
				t.Errorf("error %v (%T)", err, err)
			}
			if pages != 2 {
				t.Errorf("%d query pages read, want the failure on the second", pages)
			}
			noData(t, err)
		})
	}
}

func TestCreateIsIdempotent(t *testing.T) {
	cases := []struct {
		name string
		obj  string
		s    connector.Scope
		item *model.Item
	}{
		{"contact", "Contact", contacts(alice), &model.Item{Contact: &model.Contact{FirstName: "Grace", LastName: "Hopper", Email: "grace@navy.example"}}},
		{"event", "Event", events(alice, time.Time{}, time.Time{}), &model.Item{Event: &model.Event{Subject: "Launch",
			Start: time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 3, 11, 0, 0, 0, time.UTC)}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			const key = "0123456789abcdef0123456789abcdef"
			a, err := e.conn.Create(ctx, tc.s, key, tc.item)
			if err != nil {
				t.Fatal(err)
			}
			// A retry after a crash between the write and the state commit.
			e.clk.Advance(time.Second)
			b, err := e.conn.Create(ctx, tc.s, key, tc.item)
			if err != nil {
				t.Fatal(err)
			}
			if a.ID == "" || a.ID != b.ID || a.Key != key || b.Key != key || a.Owner != e.ids[alice] {
				t.Fatalf("create twice: %+v then %+v", a, b)
			}
			if n := e.live(t, tc.obj, key); n != 1 {
				t.Fatalf("%d live records carry the key, want 1", n)
			}
			found, err := e.conn.FindByKey(ctx, tc.s, key)
			if err != nil || found == nil || found.ID != a.ID {
				t.Fatalf("FindByKey = %+v, %v", found, err)
			}
		})
	}
}

func TestCreateSetsAccountByExactName(t *testing.T) {
	e := newEnv(t, nil)
	acme := e.seed(t, alice, "Account", map[string]any{"Name": "Acme"})
	e.seed(t, alice, "Account", map[string]any{"Name": "Twin"})
	e.seed(t, alice, "Account", map[string]any{"Name": "Twin"})
	e.seed(t, alice, "Account", map[string]any{"Name": "ACME Corp"})
	cases := []struct {
		company, wantAccount, wantCompany string
	}{
		{"Acme", acme, "Acme"},
		{"acme", "", ""}, // exact names only
		{"Twin", "", ""}, // ambiguous: left alone
		{"Nobody Inc", "", ""},
		{"", "", ""},
	}
	for i, tc := range cases {
		it, err := e.conn.Create(ctx, contacts(alice), "acct-"+string(rune('a'+i)), &model.Item{Contact: &model.Contact{LastName: "L", Company: tc.company}})
		if err != nil {
			t.Fatalf("%q: %v", tc.company, err)
		}
		recs, _ := e.srv.Records("Contact")
		var acct any
		for _, r := range recs {
			if r.ID == it.ID {
				acct = r.Fields["AccountId"]
			}
		}
		if (tc.wantAccount == "" && acct != nil) || (tc.wantAccount != "" && acct != tc.wantAccount) || it.Contact.Company != tc.wantCompany {
			t.Errorf("company %q: AccountId %v, read back %q", tc.company, acct, it.Contact.Company)
		}
	}
	if recs, _ := e.srv.Records("Account"); len(recs) != 4 {
		t.Errorf("%d accounts, want 4: the connector never creates one", len(recs))
	}
}

func TestUpdate(t *testing.T) {
	e := newEnv(t, nil)
	s := contacts(alice)
	it, err := e.conn.Create(ctx, s, "k1", &model.Item{Contact: &model.Contact{FirstName: "Old", LastName: "Name", Phone: "1", Title: "T"}})
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Second)
	want := &model.Item{Contact: &model.Contact{FirstName: "New", LastName: "Name", Phone: "2"}} // Title cleared
	up, err := e.conn.Update(ctx, s, it.ID, it.Marker, want)
	if err != nil {
		t.Fatal(err)
	}
	if up.ID != it.ID || up.Marker == it.Marker || up.Hash() != want.Hash() || up.Contact.Title != "" {
		t.Fatalf("update read back %+v (marker %q -> %q)", up.Contact, it.Marker, up.Marker)
	}

	// The stale marker no longer matches: conflict, nothing written.
	e.clk.Advance(time.Second)
	_, err = e.conn.Update(ctx, s, it.ID, it.Marker, &model.Item{Contact: &model.Contact{LastName: "Lost"}})
	if !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("stale marker: %v, want ErrConflict", err)
	}
	got, err := e.conn.Get(ctx, s, it.ID)
	if err != nil || got.Contact.LastName != "Name" || got.Marker != up.Marker {
		t.Fatalf("after conflict: %+v, %v", got, err)
	}

	// Deleted meanwhile: not found.
	e.rest(t, alice, http.MethodDelete, "/sobjects/Contact/"+it.ID, nil)
	if _, err := e.conn.Update(ctx, s, it.ID, up.Marker, want); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("update of a deleted record: %v, want ErrNotFound", err)
	}
}

func TestDelete(t *testing.T) {
	e := newEnv(t, nil)
	s := events(alice, time.Time{}, time.Time{})
	ev := &model.Item{Event: &model.Event{Subject: "Gone", Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour)}}
	it, err := e.conn.Create(ctx, s, "del-1", ev)
	if err != nil {
		t.Fatal(err)
	}
	// Changed since it was read: the change wins.
	e.clk.Advance(time.Second)
	e.rest(t, alice, http.MethodPatch, "/sobjects/Event/"+it.ID, map[string]any{"Location": "Moved"})
	if err := e.conn.Delete(ctx, s, it.ID, it.Marker); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("delete with a stale marker: %v, want ErrConflict", err)
	}
	cur, err := e.conn.Get(ctx, s, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.conn.Delete(ctx, s, it.ID, cur.Marker); err != nil {
		t.Fatalf("delete: %v", err)
	}
	for _, marker := range []string{cur.Marker, ""} {
		if err := e.conn.Delete(ctx, s, it.ID, marker); !errors.Is(err, connector.ErrNotFound) {
			t.Fatalf("second delete (marker %q): %v, want ErrNotFound", marker, err)
		}
	}
	if _, err := e.conn.Get(ctx, s, it.ID); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
	if _, err := e.conn.Get(ctx, s, "00U000000000000AAA"); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("get of an id that never existed: %v", err)
	}
	if _, err := e.conn.Get(ctx, s, "../../limits"); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("get of a malformed id: %v", err)
	}
}

func TestFindByKey(t *testing.T) {
	e := newEnv(t, nil)
	s := contacts(alice)
	plain := e.seed(t, alice, "Contact", map[string]any{"LastName": "Plain", "Syncgate_Id__c": "abc123"})
	odd := e.seed(t, alice, "Contact", map[string]any{"LastName": "Odd", "Syncgate_Id__c": `o'brien\" OR Id != null`})
	cases := []struct {
		key, want string
	}{
		{"abc123", plain},
		{`o'brien\" OR Id != null`, odd},
		{"missing", ""},
		{`x' OR LastName != '`, ""}, // an injection attempt finds nothing
		{"", ""},
	}
	for _, tc := range cases {
		it, err := e.conn.FindByKey(ctx, s, tc.key)
		if err != nil {
			t.Errorf("FindByKey(%q): %v", tc.key, err)
			continue
		}
		switch {
		case tc.want == "" && it != nil:
			t.Errorf("FindByKey(%q) = %s, want none", tc.key, it.ID)
		case tc.want != "" && (it == nil || it.ID != tc.want || it.Key != tc.key):
			t.Errorf("FindByKey(%q) = %+v, want %s", tc.key, it, tc.want)
		}
	}
}

func TestEventRoundTrips(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	cases := []struct {
		name string
		ev   model.Event
	}{
		{"all-day one day", model.Event{Subject: "Holiday", AllDay: true, StartDate: "2026-03-05", EndDate: "2026-03-06"}},
		{"all-day three days", model.Event{Subject: "Offsite", AllDay: true, StartDate: "2026-12-30", EndDate: "2027-01-02", ShowAs: "free"}},
		{"all-day on a DST change", model.Event{Subject: "Spring", AllDay: true, StartDate: "2026-03-08", EndDate: "2026-03-09", ShowAs: "oof"}},
		{"timed, given in New York time", model.Event{Subject: "Call", Location: "Phone", Description: "line 1\nline 2", Private: true,
			Start: time.Date(2026, 3, 8, 1, 30, 0, 0, ny), End: time.Date(2026, 3, 8, 3, 30, 0, 0, ny)}},
		{"timed across midnight UTC", model.Event{Subject: "Late", Start: time.Date(2026, 3, 9, 23, 30, 0, 0, time.UTC), End: time.Date(2026, 3, 10, 0, 45, 0, 0, time.UTC), ShowAs: "busy"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			s := events(alice, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC))
			in := &model.Item{Event: &tc.ev}
			created, err := e.conn.Create(ctx, s, "ev-1", in)
			if err != nil {
				t.Fatal(err)
			}
			got := created.Event
			if got.AllDay != tc.ev.AllDay {
				t.Fatalf("AllDay = %v", got.AllDay)
			}
			if tc.ev.AllDay {
				if got.StartDate != tc.ev.StartDate || got.EndDate != tc.ev.EndDate || !got.Start.IsZero() {
					t.Errorf("dates %s..%s, want %s..%s (start instant %v)", got.StartDate, got.EndDate, tc.ev.StartDate, tc.ev.EndDate, got.Start)
				}
			} else if !got.Start.Equal(tc.ev.Start) || !got.End.Equal(tc.ev.End) || got.Start.Location() != time.UTC {
				t.Errorf("instants %v..%v, want %v..%v", got.Start, got.End, tc.ev.Start, tc.ev.End)
			}
			if created.Hash() != in.Hash() {
				t.Errorf("hash after create differs: %+v vs %+v", *got, tc.ev)
			}
			// The same through Changes and Get.
			ch := e.changes(t, s, "")
			if len(ch.Items) != 1 || ch.Items[0].Hash() != in.Hash() {
				t.Fatalf("listing: %+v", ch.Items)
			}
			g, err := e.conn.Get(ctx, s, created.ID)
			if err != nil || g.Hash() != in.Hash() {
				t.Fatalf("get: %+v, %v", g, err)
			}
			// And after an update that flips all-day and timed.
			flip := tc.ev
			if flip.AllDay {
				flip.AllDay, flip.Start, flip.End = false, time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
			} else {
				flip.AllDay, flip.StartDate, flip.EndDate = true, "2026-06-01", "2026-06-03"
			}
			e.clk.Advance(time.Second)
			up, err := e.conn.Update(ctx, s, created.ID, created.Marker, &model.Item{Event: &flip})
			if err != nil {
				t.Fatal(err)
			}
			if up.Hash() != (&model.Item{Event: &flip}).Hash() {
				t.Errorf("after flip: %+v, want %+v", *up.Event, flip)
			}
		})
	}
}

func TestContactRoundTripHash(t *testing.T) {
	e := newEnv(t, nil)
	e.seed(t, alice, "Account", map[string]any{"Name": "Initech"})
	cases := []model.Contact{
		{LastName: "Only"},
		{FirstName: "Peter", LastName: "Gibbons", Email: "Peter@Initech.example", Company: "Initech", Title: "Engineer", Department: "IT",
			Phone: "555-0100", MobilePhone: "555-0199", Street: "4120 Freidrich Ln\nSuite 1", City: "Austin", State: "TX",
			PostalCode: "78744", Country: "USA", Notes: "TPS reports\r\nsecond line"},
		{FirstName: "  Spaced  ", LastName: "Out", Notes: "trailing\n"},
	}
	for i, c := range cases {
		in := &model.Item{Contact: &c}
		got, err := e.conn.Create(ctx, contacts(alice), "rt-"+string(rune('a'+i)), in)
		if err != nil {
			t.Fatal(err)
		}
		if got.Hash() != in.Hash() {
			t.Errorf("case %d: read back %+v, want %+v", i, *got.Contact, c)
		}
	}
}

func TestUnrepresentable(t *testing.T) {
	e := newEnv(t, nil)
	cases := []struct {
		name string
		s    connector.Scope
		it   *model.Item
	}{
		{"contact without last name", contacts(alice), &model.Item{Contact: &model.Contact{FirstName: "Cher"}}},
		{"event longer than 14 days", events(alice, time.Time{}, time.Time{}), &model.Item{Event: &model.Event{Subject: "Long", Start: t0, End: t0.Add(15 * 24 * time.Hour)}}},
		{"all-day event longer than 14 days", events(alice, time.Time{}, time.Time{}), &model.Item{Event: &model.Event{AllDay: true, StartDate: "2026-03-01", EndDate: "2026-03-20"}}},
		{"series", events(alice, time.Time{}, time.Time{}), &model.Item{Event: &model.Event{Subject: "Weekly", Start: t0, End: t0.Add(time.Hour), Series: "master"}}},
		{"event ends before it starts", events(alice, time.Time{}, time.Time{}), &model.Item{Event: &model.Event{Start: t0, End: t0.Add(-time.Hour)}}},
		{"kind mismatch", contacts(alice), &model.Item{Event: &model.Event{Start: t0, End: t0.Add(time.Hour)}}},
	}
	for _, tc := range cases {
		if _, err := e.conn.Create(ctx, tc.s, "bad-1", tc.it); !errors.Is(err, connector.ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", tc.name, err)
		}
	}
	if calls := e.gw.calls(); len(calls) != 0 {
		t.Errorf("unrepresentable items made calls: %v", calls)
	}
}

func TestOrgLimit(t *testing.T) {
	e := newEnv(t, nil)
	s := contacts(alice)
	it, err := e.conn.Create(ctx, s, "lim-1", &model.Item{Contact: &model.Contact{LastName: "Before"}})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.ExhaustAPILimit()
	calls := map[string]func() error{
		"Changes":   func() error { _, err := e.conn.Changes(ctx, s, ""); return err },
		"Get":       func() error { _, err := e.conn.Get(ctx, s, it.ID); return err },
		"FindByKey": func() error { _, err := e.conn.FindByKey(ctx, s, "lim-1"); return err },
		"Create": func() error {
			_, err := e.conn.Create(ctx, s, "lim-2", &model.Item{Contact: &model.Contact{LastName: "After", Email: "after@corp.example"}})
			return err
		},
		"Update": func() error { _, err := e.conn.Update(ctx, s, it.ID, it.Marker, it); return err },
		"Delete": func() error { return e.conn.Delete(ctx, s, it.ID, "") },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, connector.ErrOrgLimit) {
			t.Errorf("%s: %v, want ErrOrgLimit", name, err)
			continue
		}
		var he *connector.HTTPError
		if !errors.As(err, &he) || he.Code != "REQUEST_LIMIT_EXCEEDED" || he.Status != 403 || he.RequestID == "" {
			t.Errorf("%s: HTTPError %+v", name, he)
		}
		noData(t, err)
	}
}

func TestThrottledAndSessionErrors(t *testing.T) {
	e := newEnv(t, nil)
	s := contacts(alice)
	it, err := e.conn.Create(ctx, s, "thr-1", &model.Item{Contact: &model.Contact{LastName: "T"}})
	if err != nil {
		t.Fatal(err)
	}

	e.srv.SetFaults(sfemu.Faults{Fail5xx: 1, Status5xx: http.StatusServiceUnavailable})
	_, err = e.conn.Get(ctx, s, it.ID)
	var te *connector.ThrottledError
	if !errors.As(err, &te) || te.Status != 503 {
		t.Fatalf("503: %v (%T), want ThrottledError", err, err)
	}

	// A rejected session is an HTTPError naming INVALID_SESSION_ID, never
	// the token.
	const bogus = "00Dxx0000001gPL!AQ4AQbogusbogusbogus"
	e.gw.badToken = bogus
	_, err = e.conn.Get(ctx, s, it.ID)
	var he *connector.HTTPError
	if !errors.As(err, &he) || he.Status != 401 || he.Code != "INVALID_SESSION_ID" || errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("401: %v, want HTTPError INVALID_SESSION_ID", err)
	}
	noData(t, err, bogus, "AQ4AQ")
	e.gw.badToken = ""

	// A transport failure: *url.Error would quote the URL with its SOQL.
	e.gw.failNext = errors.New("gateway unreachable")
	_, err = e.conn.FindByKey(ctx, s, "alice@corp.example")
	if err == nil || !strings.Contains(err.Error(), "gateway unreachable") {
		t.Fatalf("transport error: %v", err)
	}
	noData(t, err, "corp.my.salesforce.com")
}

func TestNoDataInErrors(t *testing.T) {
	e := newEnv(t, nil)
	s := contacts(alice)
	e.srv.ExhaustAPILimit()
	// The company name travels in a SOQL query string and the contact's
	// e-mail in the body: neither may reach the error.
	_, err := e.conn.Create(ctx, s, "nd-1", &model.Item{Contact: &model.Contact{LastName: "Secret", Email: "ceo@acme.example", Company: "Acme Secret Holdings"}})
	if err == nil {
		t.Fatal("want an error")
	}
	noData(t, err, "ceo", "Acme", "Secret")
	_, err = e.conn.FindByKey(ctx, s, "key-with-data-ceo")
	if err == nil {
		t.Fatal("want an error")
	}
	noData(t, err, "ceo")
}

func TestCursorResync(t *testing.T) {
	e := newEnv(t, nil)
	e.seed(t, alice, "Contact", map[string]any{"LastName": "A"})
	s := contacts(alice)
	ch := e.changes(t, s, "")
	bobCh := e.changes(t, contacts(bob), "")
	evCh := e.changes(t, events(alice, time.Time{}, time.Time{}), "")
	cases := map[string]string{
		"garbage":          "not-a-cursor",
		"bad base64":       "sf1.!!!",
		"another user's":   bobCh.Cursor,
		"another kind's":   evCh.Cursor,
		"truncated":        ch.Cursor[:len(ch.Cursor)/2],
		"empty JSON state": "sf1.e30",
	}
	for name, cur := range cases {
		if _, err := e.conn.Changes(ctx, s, cur); !errors.Is(err, connector.ErrResync) {
			t.Errorf("%s cursor: %v, want ErrResync", name, err)
		}
	}
	// Deleted records stay in the Recycle Bin 15 days: an older cursor
	// could miss deletions.
	e.skew = 15 * 24 * time.Hour
	if _, err := e.conn.Changes(ctx, s, ch.Cursor); !errors.Is(err, connector.ErrResync) {
		t.Errorf("stale cursor: %v, want ErrResync", err)
	}
	e.skew = 13 * 24 * time.Hour
	if _, err := e.conn.Changes(ctx, s, ch.Cursor); err != nil {
		t.Errorf("13-day-old cursor: %v", err)
	}
}

func TestSubjectIsSetForEveryCall(t *testing.T) {
	e := newEnv(t, nil)
	s := contacts(alice)
	// The fake gateway refuses any request without a subject, as
	// sync/gateway does; a plain context is all a caller passes.
	it, err := e.conn.Create(context.Background(), s, "subj-1", &model.Item{Contact: &model.Contact{LastName: "S"}})
	if err != nil {
		t.Fatal(err)
	}
	if it.Owner != e.ids[alice] {
		t.Errorf("owner %s, want alice %s", it.Owner, e.ids[alice])
	}
	// Bob's connector calls act as bob: his record, his owner id.
	b, err := e.conn.Create(context.Background(), contacts(bob), "subj-2", &model.Item{Contact: &model.Contact{LastName: "B"}})
	if err != nil || b.Owner != e.ids[bob] {
		t.Fatalf("bob's create: %+v, %v", b, err)
	}
	if _, err := e.conn.Changes(ctx, connector.Scope{Kind: model.Contacts}, ""); err == nil {
		t.Error("a scope without a user was accepted")
	}
	n := 0
	for _, c := range e.gw.calls() {
		if c == "GET /services/oauth2/userinfo" {
			n++
		}
	}
	if _, err := e.conn.Changes(ctx, s, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.conn.Changes(ctx, s, ""); err != nil {
		t.Fatal(err)
	}
	m := 0
	for _, c := range e.gw.calls() {
		if c == "GET /services/oauth2/userinfo" {
			m++
		}
	}
	if n != 0 || m != 1 {
		t.Errorf("userinfo calls: %d before Changes, %d after two (want 0 and 1: cached per user)", n, m)
	}
}

func TestNewValidates(t *testing.T) {
	hc := &http.Client{}
	bad := []salesforce.Options{
		{InstanceURL: "http://corp.my.salesforce.com", HTTP: hc},
		{InstanceURL: "https://corp.my.salesforce.com/services", HTTP: hc},
		{InstanceURL: "https://user:pw@corp.my.salesforce.com", HTTP: hc},
		{InstanceURL: "https://corp.my.salesforce.com"},
		{InstanceURL: "https://corp.my.salesforce.com", HTTP: hc, APIVersion: "latest"},
		{InstanceURL: "https://corp.my.salesforce.com", HTTP: hc, BatchSize: 50},
	}
	for _, o := range bad {
		if _, err := salesforce.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	for _, v := range []string{"", "v60.0", "62.0"} {
		if _, err := salesforce.New(salesforce.Options{InstanceURL: "https://corp.my.salesforce.com/", HTTP: hc, APIVersion: v}); err != nil {
			t.Errorf("version %q: %v", v, err)
		}
	}
}
