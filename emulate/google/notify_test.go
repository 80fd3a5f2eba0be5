package google

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/api/people/v1"
)

func (e *env) calendarService(ctx context.Context, sub string) *calendar.Service {
	e.t.Helper()
	svc, err := calendar.NewService(ctx, option.WithEndpoint(CalendarBase), option.WithHTTPClient(e.googleHTTPClient(ctx, sub, ScopeCalendar)))
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// Every API write is recorded with its sendUpdates and the guests Google
// would have emailed: all guests for "all" (or sendNotifications=true),
// guests outside Google Calendar for "externalOnly", nobody for "none" or
// when neither parameter is sent.
func TestSendUpdatesDecideWhoIsNotified(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	svc := e.calendarService(ctx, alice)
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ev, err := svc.Events.Insert("primary", &calendar.Event{
		Summary: "Review",
		Start:   &calendar.EventDateTime{DateTime: start.Format(time.RFC3339)},
		End:     &calendar.EventDateTime{DateTime: start.Add(time.Hour).Format(time.RFC3339)},
		Attendees: []*calendar.EventAttendee{
			{Email: alice, Organizer: true, Self: true},
			{Email: bob},
			{Email: "carol@partner.example"},
			{Email: "room-1@resource.calendar.google.com", Resource: true},
		},
	}).SendUpdates("none").Do()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		call  func() error
		op    string
		param string
		want  []string
	}{
		{"patch, all", func() error {
			_, err := svc.Events.Patch("primary", ev.Id, &calendar.Event{Summary: "R1"}).SendUpdates("all").Do()
			return err
		}, "patch", "all", []string{bob, "carol@partner.example"}},
		{"patch, externalOnly", func() error {
			_, err := svc.Events.Patch("primary", ev.Id, &calendar.Event{Summary: "R2"}).SendUpdates("externalOnly").Do()
			return err
		}, "patch", "externalOnly", []string{"carol@partner.example"}},
		{"patch, none", func() error {
			_, err := svc.Events.Patch("primary", ev.Id, &calendar.Event{Summary: "R3"}).SendUpdates("none").Do()
			return err
		}, "patch", "none", nil},
		{"update, no parameter", func() error {
			cur, err := svc.Events.Get("primary", ev.Id).Do()
			if err != nil {
				return err
			}
			cur.Summary = "R4"
			_, err = svc.Events.Update("primary", ev.Id, cur).Do()
			return err
		}, "update", "", nil},
		{"patch, sendNotifications", func() error {
			_, err := svc.Events.Patch("primary", ev.Id, &calendar.Event{Summary: "R5"}).SendNotifications(true).Do()
			return err
		}, "patch", "", []string{bob, "carol@partner.example"}},
		{"delete, none", func() error {
			return svc.Events.Delete("primary", ev.Id).SendUpdates("none").Do()
		}, "delete", "none", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(e.srv.CalendarWrites(alice))
			if err := c.call(); err != nil {
				t.Fatal(err)
			}
			ws := e.srv.CalendarWrites(alice)
			if len(ws) != before+1 {
				t.Fatalf("%d writes recorded, want one more than %d", len(ws), before)
			}
			w := ws[len(ws)-1]
			if w.Op != c.op || w.EventID != ev.Id || w.SendUpdates != c.param || w.Attendees != 4 || !slices.Equal(w.Notified, append([]string{}, c.want...)) {
				t.Fatalf("recorded %+v, want %s sendUpdates=%q notifying %v", w, c.op, c.param, c.want)
			}
		})
	}
	if first := e.srv.CalendarWrites(alice)[0]; first.Op != "insert" || len(first.Notified) != 0 {
		t.Fatalf("insert with sendUpdates=none: %+v", first)
	}
	if n := e.srv.Notifications(alice); len(n) != 5 {
		t.Fatalf("notifications %v, want 5", n)
	}
	var gerr *googleapi.Error
	_, err = svc.Events.Insert("primary", &calendar.Event{Summary: "x",
		Start: &calendar.EventDateTime{Date: "2026-12-04"}, End: &calendar.EventDateTime{Date: "2026-12-05"}}).SendUpdates("everyone").Do()
	if !errors.As(err, &gerr) || gerr.Code != 400 || len(gerr.Errors) != 1 || gerr.Errors[0].Reason != "invalid" {
		t.Fatalf("unknown sendUpdates: %v", err)
	}
}

// A client-chosen id stays taken after a delete (409 duplicate), and the
// deleted event can be restored by patching its status; the private
// extended property filter finds it again.
func TestClientChosenIDAfterDelete(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	svc := e.calendarService(ctx, alice)
	const id = "sg0123456789abcdefghijklmnopqrstuv"
	mk := func() *calendar.Event {
		return &calendar.Event{Id: id, Summary: "Kept",
			Start:              &calendar.EventDateTime{Date: "2026-12-07"},
			End:                &calendar.EventDateTime{Date: "2026-12-08"},
			ExtendedProperties: &calendar.EventExtendedProperties{Private: map[string]string{"syncgateKey": "k1"}}}
	}
	if _, err := svc.Events.Insert("primary", mk()).SendUpdates("none").Do(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Events.Delete("primary", id).SendUpdates("none").Do(); err != nil {
		t.Fatal(err)
	}
	var gerr *googleapi.Error
	if _, err := svc.Events.Insert("primary", mk()).Do(); !errors.As(err, &gerr) || gerr.Code != 409 {
		t.Fatalf("insert over a deleted id: %v", err)
	}
	gone, err := svc.Events.Get("primary", id).Do()
	if err != nil || gone.Status != "cancelled" {
		t.Fatalf("get deleted: %+v %v", gone, err)
	}
	if err := svc.Events.Delete("primary", id).Do(); !errors.As(err, &gerr) || gerr.Code != 410 {
		t.Fatalf("delete twice: %v", err)
	}
	count := func() int {
		res, err := svc.Events.List("primary").PrivateExtendedProperty("syncgateKey=k1").Do()
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Items)
	}
	if n := count(); n != 0 {
		t.Fatalf("a deleted event is listed by its property: %d", n)
	}
	pc := svc.Events.Patch("primary", id, &calendar.Event{Status: "confirmed", Summary: "Back"})
	pc.Header().Set("If-Match", gone.Etag)
	back, err := pc.SendUpdates("none").Do()
	if err != nil || back.Status != "confirmed" || back.Summary != "Back" || back.Start.Date != "2026-12-07" {
		t.Fatalf("restore: %+v %v", back, err)
	}
	if n := count(); n != 1 {
		t.Fatalf("restored event listed %d times", n)
	}
}

// clientData is stored, read back with personFields=clientData, left alone
// by an update that does not name it, and replaced by one that does.
func TestPeopleClientData(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	svc, err := people.NewService(ctx, option.WithEndpoint(PeopleBase), option.WithHTTPClient(e.googleHTTPClient(ctx, alice, ScopeContacts)))
	if err != nil {
		t.Fatal(err)
	}
	made, err := svc.People.CreateContact(&people.Person{
		Names:      []*people.Name{{GivenName: "Ada", FamilyName: "Lovelace"}},
		ClientData: []*people.ClientData{{Key: "syncgateKey", Value: "k-1"}},
	}).PersonFields("names,clientData").Do()
	if err != nil {
		t.Fatal(err)
	}
	keyOf := func(p *people.Person) string {
		for _, d := range p.ClientData {
			if d.Key == "syncgateKey" {
				return d.Value
			}
		}
		return ""
	}
	if keyOf(made) != "k-1" {
		t.Fatalf("create: %+v", made.ClientData)
	}
	res, err := svc.People.Connections.List("people/me").PersonFields("clientData").Do()
	if err != nil || len(res.Connections) != 1 || keyOf(res.Connections[0]) != "k-1" || len(res.Connections[0].Names) != 0 {
		t.Fatalf("list clientData: %+v %v", res, err)
	}
	upd, err := svc.People.UpdateContact(made.ResourceName, &people.Person{Etag: made.Etag,
		Names: []*people.Name{{GivenName: "Ada", FamilyName: "King"}}}).UpdatePersonFields("names").PersonFields("names,clientData").Do()
	if err != nil || keyOf(upd) != "k-1" || upd.Names[0].FamilyName != "King" {
		t.Fatalf("update names: %+v %v", upd, err)
	}
	upd, err = svc.People.UpdateContact(made.ResourceName, &people.Person{Etag: upd.Etag,
		ClientData: []*people.ClientData{{Key: "syncgateKey", Value: "k-2"}}}).UpdatePersonFields("clientData").PersonFields("clientData").Do()
	if err != nil || keyOf(upd) != "k-2" || len(upd.ClientData) != 1 {
		t.Fatalf("update clientData: %+v %v", upd, err)
	}
}
