package google

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/api/people/v1"
)

// googleHTTPClient is what a Go program using Google's libraries would
// build: x/oauth2/jwt signs the assertion (with Subject for DWD) and fetches
// the token from the emulator, over the test TLS client.
func (e *env) googleHTTPClient(ctx context.Context, sub string, scopes ...string) *http.Client {
	e.t.Helper()
	// x/oauth2 stamps assertions with the wall clock.
	e.clk.Set(time.Now())
	conf := &jwt.Config{Email: saEmail, PrivateKey: pemPrivate(e.t, e.key), PrivateKeyID: saKeyID,
		Scopes: scopes, TokenURL: TokenURL, Subject: sub}
	return conf.Client(context.WithValue(ctx, oauth2.HTTPClient, e.client))
}

func TestGoogleCalendarClient(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	svc, err := calendar.NewService(ctx, option.WithEndpoint(CalendarBase),
		option.WithHTTPClient(e.googleHTTPClient(ctx, alice, ScopeCalendar)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var made []string
	for i := 0; i < 5; i++ {
		ev, err := svc.Events.Insert("primary", &calendar.Event{
			Summary:            "Meeting",
			Start:              &calendar.EventDateTime{DateTime: start.Add(time.Duration(i) * time.Hour).Format(time.RFC3339)},
			End:                &calendar.EventDateTime{DateTime: start.Add(time.Duration(i)*time.Hour + 30*time.Minute).Format(time.RFC3339)},
			ExtendedProperties: &calendar.EventExtendedProperties{Private: map[string]string{"syncgate": "1"}},
		}).Do()
		if err != nil {
			t.Fatalf("insert: %v", err)
		}
		made = append(made, ev.Id)
	}
	fullSync := func(call func() *calendar.EventsListCall) ([]*calendar.Event, string) {
		t.Helper()
		var all []*calendar.Event
		pageTok := ""
		for {
			c := call()
			if pageTok != "" {
				c = c.PageToken(pageTok)
			}
			res, err := c.Do()
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			all = append(all, res.Items...)
			if res.NextPageToken == "" {
				if res.NextSyncToken == "" {
					t.Fatal("last page without nextSyncToken")
				}
				return all, res.NextSyncToken
			}
			if res.NextSyncToken != "" {
				t.Fatal("nextSyncToken before the last page")
			}
			pageTok = res.NextPageToken
		}
	}
	all, syncTok := fullSync(func() *calendar.EventsListCall {
		return svc.Events.List("primary").MaxResults(2).PrivateExtendedProperty("syncgate=1")
	})
	var got []string
	for _, ev := range all {
		got = append(got, ev.Id)
	}
	sort.Strings(got)
	sort.Strings(made)
	if len(got) != 5 || got[0] != made[0] || got[4] != made[4] {
		t.Fatalf("listed %v, made %v", got, made)
	}

	// Patch with If-Match, then a stale If-Match surfaces as a 412 googleapi.Error.
	cur, err := svc.Events.Get("primary", made[0]).Do()
	if err != nil {
		t.Fatal(err)
	}
	pc := svc.Events.Patch("primary", made[0], &calendar.Event{Summary: "Moved"})
	pc.Header().Set("If-Match", cur.Etag)
	if _, err := pc.Do(); err != nil {
		t.Fatalf("patch: %v", err)
	}
	pc = svc.Events.Patch("primary", made[0], &calendar.Event{Summary: "Again"})
	pc.Header().Set("If-Match", cur.Etag)
	var gerr *googleapi.Error
	if _, err := pc.Do(); !errors.As(err, &gerr) || gerr.Code != 412 {
		t.Fatalf("stale If-Match: %v", err)
	}
	if err := svc.Events.Delete("primary", made[1]).Do(); err != nil {
		t.Fatalf("delete: %v", err)
	}
	changes, next := fullSync(func() *calendar.EventsListCall {
		return svc.Events.List("primary").SyncToken(syncTok).MaxResults(1)
	})
	status := map[string]string{}
	for _, ev := range changes {
		status[ev.Id] = ev.Status
	}
	if len(status) != 2 || status[made[0]] != "confirmed" || status[made[1]] != "cancelled" {
		t.Fatalf("incremental: %v", status)
	}

	if err := e.srv.InvalidateSyncTokens(alice); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Events.List("primary").SyncToken(next).Do()
	if !errors.As(err, &gerr) || gerr.Code != 410 || len(gerr.Errors) != 1 || gerr.Errors[0].Reason != "fullSyncRequired" {
		t.Fatalf("invalidated sync token: %#v", err)
	}
	_, err = svc.Events.List("primary").SyncToken(next).TimeMin(start.Format(time.RFC3339)).Do()
	if !errors.As(err, &gerr) || gerr.Code != 400 {
		t.Fatalf("syncToken with timeMin: %v", err)
	}
}

func TestGoogleCalendarClientDWDRefused(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	svc, err := calendar.NewService(ctx, option.WithEndpoint(CalendarBase),
		option.WithHTTPClient(e.googleHTTPClient(ctx, alice, "https://mail.google.com/")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Events.List("primary").Do()
	var re *oauth2.RetrieveError
	// x/oauth2/jwt keeps the raw body rather than parsing error codes.
	if !errors.As(err, &re) || re.Response.StatusCode != 400 || !strings.Contains(string(re.Body), `"error": "unauthorized_client"`) {
		t.Fatalf("scope without DWD grant: %v", err)
	}
}

func TestGooglePeopleClient(t *testing.T) {
	e := newEnv(t, Options{TokenTTL: 30 * 24 * time.Hour})
	ctx := context.Background()
	svc, err := people.NewService(ctx, option.WithEndpoint(PeopleBase),
		option.WithHTTPClient(e.googleHTTPClient(ctx, alice, ScopeContacts)))
	if err != nil {
		t.Fatal(err)
	}
	var made []*people.Person
	for _, n := range []string{"Ada", "Grace", "Edsger"} {
		p, err := svc.People.CreateContact(&people.Person{
			Names:          []*people.Name{{GivenName: n, FamilyName: "Test"}},
			EmailAddresses: []*people.EmailAddress{{Value: n + "@example.com"}},
		}).PersonFields("names,emailAddresses").Do()
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		made = append(made, p)
	}
	list := func(syncTok string) ([]*people.Person, string) {
		t.Helper()
		var all []*people.Person
		pageTok := ""
		for {
			c := svc.People.Connections.List("people/me").PersonFields("names,emailAddresses").PageSize(2).RequestSyncToken(true)
			if syncTok != "" {
				c = c.SyncToken(syncTok)
			}
			if pageTok != "" {
				c = c.PageToken(pageTok)
			}
			res, err := c.Do()
			if err != nil {
				t.Fatalf("connections: %v", err)
			}
			all = append(all, res.Connections...)
			if res.NextPageToken == "" {
				return all, res.NextSyncToken
			}
			pageTok = res.NextPageToken
		}
	}
	all, st := list("")
	if len(all) != 3 || st == "" {
		t.Fatalf("full sync: %d people, token %q", len(all), st)
	}
	upd := &people.Person{Etag: made[0].Etag, Names: []*people.Name{{GivenName: "Ada", FamilyName: "Lovelace"}}}
	if _, err := svc.People.UpdateContact(made[0].ResourceName, upd).UpdatePersonFields("names").Do(); err != nil {
		t.Fatalf("update: %v", err)
	}
	var gerr *googleapi.Error
	if _, err := svc.People.UpdateContact(made[0].ResourceName, upd).UpdatePersonFields("names").Do(); !errors.As(err, &gerr) || gerr.Code != 400 {
		t.Fatalf("stale etag: %v", err)
	}
	if _, err := svc.People.DeleteContact(made[1].ResourceName).Do(); err != nil {
		t.Fatalf("delete: %v", err)
	}
	changes, _ := list(st)
	seen := map[string]bool{}
	for _, p := range changes {
		seen[p.ResourceName] = p.Metadata != nil && p.Metadata.Deleted
	}
	if len(seen) != 2 || seen[made[0].ResourceName] || !seen[made[1].ResourceName] {
		t.Fatalf("incremental: %v", seen)
	}
	got, err := svc.People.Get(made[0].ResourceName).PersonFields("names").Do()
	if err != nil || got.Names[0].FamilyName != "Lovelace" {
		t.Fatalf("get: %v %v", got, err)
	}
	_, err = svc.People.Connections.List("people/me").Do()
	if !errors.As(err, &gerr) || gerr.Code != 400 {
		t.Fatalf("list without personFields: %v", err)
	}
	// Eight days later (the access token was issued for longer, see TokenTTL).
	e.clk.Advance(8 * 24 * time.Hour)
	_, err = svc.People.Connections.List("people/me").PersonFields("names").SyncToken(st).RequestSyncToken(true).Do()
	if !errors.As(err, &gerr) || gerr.Code != 400 || len(gerr.Details) == 0 || !strings.Contains(gerr.Body, "EXPIRED_SYNC_TOKEN") {
		t.Fatalf("expired sync token: %v", err)
	}
}
