package ews

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	emu "github.com/syncgate/syncgate/emulate/ews"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// All-day events keep their dates: written as midnights of the configured
// zone with that zone as StartTimeZone/EndTimeZone, read as the dates of
// the start and end in the item's own zones, never shifted.
func TestAllDayDatesKept(t *testing.T) {
	cases := []struct {
		zone      string
		wantStart string // the instant stored for 2026-11-24
	}{
		{"", "2026-11-24T00:00:00Z"},
		{"W. Europe Standard Time", "2026-11-23T23:00:00Z"},
		{"Tokyo Standard Time", "2026-11-23T15:00:00Z"},
		{"Hawaiian Standard Time", "2026-11-24T10:00:00Z"},
		{"Line Islands Standard Time", "2026-11-23T10:00:00Z"},
	}
	for _, c := range cases {
		t.Run(c.zone, func(t *testing.T) {
			e := newEnv(t, Options{TimeZone: c.zone})
			in := &model.Item{Event: &model.Event{Subject: "Offsite", AllDay: true, StartDate: "2026-11-24", EndDate: "2026-11-26"}}
			got, err := e.c.Create(e.ctx, eventsS, "k-allday", in)
			must(t, err)
			if got.Event.StartDate != "2026-11-24" || got.Event.EndDate != "2026-11-26" || !got.Event.AllDay || got.Hash() != in.Hash() {
				t.Fatalf("read back %+v", got.Event)
			}
			it := e.item("calendar", got.ID)
			if it.Props["Start"] != c.wantStart || it.Props["IsAllDayEvent"] != "true" {
				t.Fatalf("stored start %s", it.Props["Start"])
			}
			// Moving it by a day keeps it all-day and on the right dates.
			next := got.Clone()
			next.Event.StartDate, next.Event.EndDate = "2026-11-25", "2026-11-26"
			up, err := e.c.Update(e.ctx, eventsS, got.ID, got.Marker, next)
			must(t, err)
			if up.Event.StartDate != "2026-11-25" || up.Event.EndDate != "2026-11-26" || up.Hash() != next.Hash() {
				t.Fatalf("moved %+v", up.Event)
			}
		})
	}
	// Made in Outlook in Tokyo: midnight Tokyo is 15:00 UTC the day before.
	e := newEnv(t, Options{})
	id, err := e.s.AddCalendarItemWith(alice, emu.CalendarItem{Subject: "Holiday", IsAllDayEvent: true,
		Start: mustTime(t, "2026-11-22T15:00:00Z"), End: mustTime(t, "2026-11-23T15:00:00Z")}, emu.Extras{StartTimeZone: "Tokyo Standard Time"})
	must(t, err)
	got, err := e.c.Get(e.ctx, eventsS, id)
	must(t, err)
	if got.Event.StartDate != "2026-11-23" || got.Event.EndDate != "2026-11-24" {
		t.Fatalf("Tokyo all-day read as %s..%s", got.Event.StartDate, got.Event.EndDate)
	}
}

// Timed events are instants in UTC both ways; a round trip keeps the hash.
func TestTimedEventRoundTrip(t *testing.T) {
	e := newEnv(t, Options{})
	start := time.Date(2026, 11, 24, 10, 30, 0, 0, time.FixedZone("CET", 3600))
	in := &model.Item{Event: &model.Event{Subject: "Review", Location: "Room 1", Description: "Agenda\nline 2", Start: start, End: start.Add(90 * time.Minute),
		Private: true, ShowAs: "tentative", Categories: []string{"CRM"}}}
	got, err := e.c.Create(e.ctx, eventsS, "k-timed", in)
	must(t, err)
	if got.Hash() != in.Hash() || !got.Event.Start.Equal(start) || got.Event.Start.Location() != time.UTC {
		t.Fatalf("read back %+v", got.Event)
	}
	if len(got.Event.Categories) != 1 || got.Event.Categories[0] != "CRM" {
		t.Fatalf("categories %v", got.Event.Categories)
	}
	it := e.item("calendar", got.ID)
	if it.Props["Start"] != "2026-11-24T09:30:00Z" || it.Props["End"] != "2026-11-24T11:00:00Z" || it.Props["Sensitivity"] != "Private" || it.Props["LegacyFreeBusyStatus"] != "Tentative" {
		t.Fatalf("stored %v", it.Props)
	}
	ch := e.changes(eventsS, "")
	if len(ch.Items) != 1 || ch.Items[0].Hash() != in.Hash() || ch.Items[0].Key != "k-timed" {
		t.Fatalf("listed %+v", ch.Items)
	}
	found, err := e.c.FindByKey(e.ctx, eventsS, "k-timed")
	must(t, err)
	if found == nil || found.ID != got.ID {
		t.Fatalf("FindByKey: %+v", found)
	}
	next := got.Clone()
	next.Event.Location, next.Event.Private, next.Event.ShowAs = "", false, ""
	up, err := e.c.Update(e.ctx, eventsS, got.ID, got.Marker, next)
	must(t, err)
	if up.Hash() != next.Hash() {
		t.Fatalf("updated %+v", up.Event)
	}
}

// Only the window is listed; a recurring master is listed as Series
// "master"; it is not written as a single event; deleting it deletes the
// series.
func TestEventWindowAndSeries(t *testing.T) {
	e := newEnv(t, Options{})
	in := e.addEvent(emu.CalendarItem{Subject: "In", Start: mustTime(t, "2026-11-25T09:00:00Z"), End: mustTime(t, "2026-11-25T10:00:00Z")})
	e.addEvent(emu.CalendarItem{Subject: "Out", Start: mustTime(t, "2027-03-01T09:00:00Z"), End: mustTime(t, "2027-03-01T10:00:00Z")})
	master, err := e.s.AddCalendarItemWith(alice, emu.CalendarItem{Subject: "Weekly", Start: mustTime(t, "2026-11-23T09:00:00Z"), End: mustTime(t, "2026-11-23T09:30:00Z")},
		emu.Extras{Recurrence: &emu.Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: "Monday", StartDate: "2026-11-23"}})
	must(t, err)
	ch := e.changes(eventsS, "")
	got := byID(ch.Items)
	if len(ch.Items) != 2 || got[in] == nil || got[master] == nil || got[master].Event.Series != "master" || got[in].Event.Series != "" {
		t.Fatalf("listed %d items", len(ch.Items))
	}
	next := got[master].Clone()
	next.Event.Series = ""
	if _, err := e.c.Update(e.ctx, eventsS, master, got[master].Marker, next); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("update of a series master: %v", err)
	}
	// A moved window lists afresh.
	moved := eventsS
	moved.WindowEnd = winEnd.AddDate(0, 3, 0)
	if ch2 := e.changes(moved, ch.Cursor); !ch2.Full || len(ch2.Items) != 3 {
		t.Fatalf("moved window: full %v, %d items", ch2.Full, len(ch2.Items))
	}
	// Deleting the master deletes the series.
	if err := e.c.Delete(e.ctx, eventsS, master, got[master].Marker); err != nil {
		t.Fatalf("delete of a series master: %v", err)
	}
	if _, err := e.c.Get(e.ctx, eventsS, master); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("series after delete: %v", err)
	}
}

// No request ever invites, updates or cancels attendees, and meetings
// this mailbox organises are not written at all.
func TestNeverNotifiesAttendees(t *testing.T) {
	e := newEnv(t, Options{})
	meeting := e.addEvent(emu.CalendarItem{Subject: "Meeting", Start: mustTime(t, "2026-11-25T09:00:00Z"), End: mustTime(t, "2026-11-25T10:00:00Z"), Attendees: []string{bob}})
	ev := &model.Item{Event: &model.Event{Subject: "Solo", Start: mustTime(t, "2026-11-26T09:00:00Z"), End: mustTime(t, "2026-11-26T10:00:00Z")}}
	got, err := e.c.Create(e.ctx, eventsS, "k-solo", ev)
	must(t, err)
	next := got.Clone()
	next.Event.Subject = "Solo 2"
	up, err := e.c.Update(e.ctx, eventsS, got.ID, got.Marker, next)
	must(t, err)
	must(t, e.c.Delete(e.ctx, eventsS, got.ID, up.Marker))
	cur, err := e.c.Get(e.ctx, eventsS, meeting)
	must(t, err)
	m2 := cur.Clone()
	m2.Event.Subject = "Moved"
	e.gw.reset()
	if _, err := e.c.Update(e.ctx, eventsS, meeting, cur.Marker, m2); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("update of an organised meeting: %v", err)
	}
	if err := e.c.Delete(e.ctx, eventsS, meeting, cur.Marker); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("delete of an organised meeting: %v", err)
	}
	if n := countOps(e.gw.Calls(), "UpdateItem") + countOps(e.gw.Calls(), "DeleteItem"); n != 0 {
		t.Fatalf("%d writes to a meeting", n)
	}
	if inv := e.s.Invitations(); len(inv) != 0 {
		t.Fatalf("meeting messages sent: %+v", inv)
	}
	for _, c := range e.gw.Calls() {
		b := string(c.body)
		for _, bad := range []string{"SendToAll", "SendOnlyToAll", "SendOnlyToChanged", "SendToChanged", "RequiredAttendees", "OptionalAttendees", "Resources", "MessageDisposition=\"Send"} {
			if strings.Contains(b, bad) {
				t.Fatalf("%s carries %s", c.op, bad)
			}
		}
	}
	// The attendees of the meeting are still there.
	if it := e.item("calendar", meeting); len(it.Attendees) != 1 {
		t.Fatal("attendees changed")
	}
}

// Every write names SendToNone.
func TestWritesSendToNone(t *testing.T) {
	e := newEnv(t, Options{})
	ev := &model.Item{Event: &model.Event{Subject: "S", Start: mustTime(t, "2026-11-26T09:00:00Z"), End: mustTime(t, "2026-11-26T10:00:00Z")}}
	got, err := e.c.Create(e.ctx, eventsS, "k", ev)
	must(t, err)
	next := got.Clone()
	next.Event.Subject = "T"
	up, err := e.c.Update(e.ctx, eventsS, got.ID, got.Marker, next)
	must(t, err)
	must(t, e.c.Delete(e.ctx, eventsS, up.ID, up.Marker))
	for op, attr := range map[string]string{"CreateItem": `SendMeetingInvitations="SendToNone"`, "UpdateItem": `SendMeetingInvitationsOrCancellations="SendToNone"`, "DeleteItem": `SendMeetingCancellations="SendToNone"`} {
		if !strings.Contains(string(lastBody(e, op)), attr) {
			t.Errorf("%s without %s", op, attr)
		}
	}
	if !strings.Contains(string(lastBody(e, "UpdateItem")), `ConflictResolution="NeverOverwrite"`) {
		t.Error("UpdateItem without NeverOverwrite")
	}
}

const busyFault = `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode><faultstring>busy</faultstring><detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode><t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><t:Value Name="BackOffMilliseconds">250</t:Value></t:MessageXml></detail></s:Fault></s:Body></s:Envelope>`

// ErrorServerBusy is waited out as BackOffMilliseconds says, a bounded
// number of times, then reported as throttling.
func TestServerBusyBackOff(t *testing.T) {
	cases := []struct {
		name      string
		busy      int
		backOff   time.Duration
		wantErr   bool
		wantSleep []time.Duration
	}{
		{"waits twice", 2, 300 * time.Millisecond, false, []time.Duration{300 * time.Millisecond, 300 * time.Millisecond}},
		{"gives up", 9, time.Second, true, []time.Duration{time.Second, time.Second, time.Second}},
		{"too long to wait", 1, 10 * time.Minute, true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			e.addContact(emu.Contact{GivenName: "A"})
			e.s.SetFaults(emu.Faults{ServerBusy: c.busy, BackOff: c.backOff})
			_, err := e.c.Changes(e.ctx, contactsS, "")
			var te *connector.ThrottledError
			if c.wantErr != (err != nil) || c.wantErr && (!errors.As(err, &te) || te.RetryAfter != c.backOff) {
				t.Fatalf("err %v", err)
			}
			if len(e.sleeps) != len(c.wantSleep) {
				t.Fatalf("slept %v, want %v", e.sleeps, c.wantSleep)
			}
			for i := range c.wantSleep {
				if e.sleeps[i] != c.wantSleep[i] {
					t.Fatalf("slept %v, want %v", e.sleeps, c.wantSleep)
				}
			}
		})
	}
	// A busy fault in any shape is read the same (here, a canned one).
	e := newEnv(t, Options{})
	left := 1
	e.gw.intercept = func(op string, _ []byte, _ int) *http.Response {
		if left > 0 {
			left--
			return soapAnswer(500, busyFault)
		}
		return nil
	}
	e.changes(contactsS, "")
	if len(e.sleeps) != 1 || e.sleeps[0] != 250*time.Millisecond {
		t.Fatalf("slept %v", e.sleeps)
	}
}

// A failure on any page or batch fails the read: never a shorter list.
func TestPartialFailureIsAnError(t *testing.T) {
	failMsg := func(op, code string) string {
		return `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:` + op + `Response xmlns:m="` + NSMessages + `"><m:ResponseMessages><m:` + op +
			`ResponseMessage ResponseClass="Error"><m:MessageText>no</m:MessageText><m:ResponseCode>` + code + `</m:ResponseCode></m:` + op + `ResponseMessage></m:ResponseMessages></m:` + op + `Response></s:Body></s:Envelope>`
	}
	cases := []struct {
		name   string
		op     string
		nth    int
		answer *http.Response
	}{
		{"second page fails", "SyncFolderItems", 2, soapAnswer(200, failMsg("SyncFolderItems", "ErrorMailboxStoreUnavailable"))},
		{"second page is a fault", "SyncFolderItems", 2, soapAnswer(500, strings.Replace(busyFault, "ErrorServerBusy", "ErrorInternalServerError", 2))},
		{"second page cut off", "SyncFolderItems", 2, soapAnswer(200, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>`)},
		{"a GetItem batch fails", "GetItem", 2, soapAnswer(200, failMsg("GetItem", "ErrorAccessDenied"))},
		{"gateway unavailable", "GetItem", 1, &http.Response{StatusCode: 502, Header: http.Header{"Content-Type": {"application/json"}}, Body: http.NoBody}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Options{PageSize: 2, GetBatch: 2})
			for _, n := range []string{"A", "B", "C", "D", "E"} {
				e.addContact(emu.Contact{GivenName: n})
			}
			seen := 0
			e.gw.intercept = func(op string, _ []byte, _ int) *http.Response {
				if op == c.op {
					seen++
					if seen == c.nth {
						return c.answer
					}
				}
				return nil
			}
			ch, err := e.c.Changes(e.ctx, contactsS, "")
			if err == nil || ch != nil {
				t.Fatalf("partial read returned %v, %v", ch, err)
			}
		})
	}
}

// Errors name the operation, the status, the EWS code and the gateway's
// request id; never an address, a password, an id, a key or a body.
func TestNoSecretsInErrors(t *testing.T) {
	e := newEnv(t, Options{})
	id := e.addContact(emu.Contact{GivenName: "Secret", Emails: map[string]string{"EmailAddress1": "hidden@example.net"}})
	e.changes(contactsS, "")
	must(t, e.s.RemoveItem(id))
	var errs []error
	_, err := e.c.Get(e.ctx, contactsS, id)
	errs = append(errs, err)
	e.gw.restart()
	_, err = e.c.Get(e.ctx, contactsS, id)
	errs = append(errs, err)
	_, err = e.c.FindByKey(e.ctx, connector.Scope{User: "nobody@corp.example", Kind: model.Contacts}, "key-secret")
	errs = append(errs, err)
	e.gw.intercept = func(string, []byte, int) *http.Response {
		return soapAnswer(500, strings.Replace(busyFault, "ErrorServerBusy", "ErrorImpersonateUserDenied", 2))
	}
	_, err = e.c.Changes(e.ctx, contactsS, "")
	errs = append(errs, err)
	e.gw.intercept = func(string, []byte, int) *http.Response {
		return refusal("gw-x", "ews impersonation does not match subject")
	}
	_, err = e.c.Create(e.ctx, contactsS, "key-secret", &model.Item{Contact: &ann})
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Fatalf("case %d: no error", i)
		}
		msg := err.Error()
		for _, secret := range []string{alice, "nobody@", "hidden@", svcPass, svcUser, id, "key-secret", "Basic", "Secret", "<"} {
			if strings.Contains(msg, secret) {
				t.Errorf("error %q carries %q", msg, secret)
			}
		}
		var he *connector.HTTPError
		if !errors.As(err, &he) || he.RequestID == "" {
			t.Errorf("error %q is not an HTTPError with a request id", msg)
		}
	}
}
