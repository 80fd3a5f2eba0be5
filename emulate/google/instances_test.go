package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// TestOAuthV4Endpoint: Google's Node auth library (gtoken) posts the
// service-account assertion to https://www.googleapis.com/oauth2/v4/token
// with that URL as the audience. Google serves it and accepts either
// audience at either endpoint.
func TestOAuthV4Endpoint(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	e.clk.Set(time.Now()) // x/oauth2 stamps assertions with the wall clock

	// Google's Go library pointed at the v4 endpoint: aud = that endpoint.
	conf := &jwt.Config{Email: saEmail, PrivateKey: pemPrivate(t, e.key), PrivateKeyID: saKeyID,
		Scopes: []string{ScopeCalendar}, TokenURL: TokenURLV4, Subject: alice}
	svc, err := calendar.NewService(ctx, option.WithEndpoint(CalendarBase),
		option.WithHTTPClient(conf.Client(context.WithValue(ctx, oauth2.HTTPClient, e.client))))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Hour)
	ev, err := svc.Events.Insert("primary", &calendar.Event{Summary: "via v4",
		Start: &calendar.EventDateTime{DateTime: start.Format(time.RFC3339)},
		End:   &calendar.EventDateTime{DateTime: start.Add(time.Hour).Format(time.RFC3339)}}).Do()
	if err != nil {
		t.Fatalf("calendar call with a v4 token: %v", err)
	}
	if evs, _ := e.srv.Events(alice); len(evs) != 1 || evs[0].Id != ev.Id {
		t.Fatalf("event not stored for the delegated user: %v", evs)
	}

	// A service-account key file naming the v4 endpoint as token_uri, as
	// older key files do, through google.JWTConfigFromJSON.
	key, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": saEmail, "private_key_id": saKeyID,
		"private_key": string(pemPrivate(t, e.key)), "token_uri": TokenURLV4})
	jc, err := google.JWTConfigFromJSON(key, ScopeContacts)
	if err != nil {
		t.Fatal(err)
	}
	jc.Subject = bob
	tok, err := jc.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, e.client)).Token()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("JWTConfigFromJSON with the v4 token_uri: %v", err)
	}

	// Cross: the v4 audience at oauth2.googleapis.com, and the current
	// audience at the v4 endpoint; a foreign audience is refused at both.
	post := func(endpoint, aud string) (int, map[string]any) {
		c := e.claims(alice, ScopeCalendar)
		c["aud"] = aud
		resp, err := e.client.PostForm(endpoint, url.Values{"grant_type": {grantJWTBearer}, "assertion": {e.sign(c, e.key, saKeyID)}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	for _, endpoint := range []string{TokenURL, TokenURLV4} {
		for _, aud := range []string{TokenURL, TokenURLV4} {
			if code, body := post(endpoint, aud); code != 200 || body["access_token"] == nil {
				t.Errorf("POST %s with aud %s: %d %v", endpoint, aud, code, body)
			}
		}
		if code, body := post(endpoint, "https://evil.example/token"); code != 400 || body["error"] != "invalid_grant" ||
			!strings.Contains(fmt.Sprint(body["error_description"]), "audience") {
			t.Errorf("POST %s with a foreign aud: %d %v", endpoint, code, body)
		}
	}
	// Only the documented paths: no /token on www.googleapis.com, no
	// /oauth2/v4/token on oauth2.googleapis.com.
	for _, u := range []string{"https://" + HostAPIs + "/token", "https://" + HostOAuth + "/oauth2/v4/token"} {
		resp, err := e.client.PostForm(u, url.Values{"grant_type": {grantJWTBearer}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("POST %s: %d", u, resp.StatusCode)
		}
	}
}

// TestEventsInstances drives events.instances through Google's Go client:
// occurrences in order with their identity, exceptions in place, cancelled
// ones only with showDeleted, the time window, originalStart and paging.
func TestEventsInstances(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	svc, err := calendar.NewService(ctx, option.WithEndpoint(CalendarBase),
		option.WithHTTPClient(e.googleHTTPClient(ctx, alice, ScopeCalendar)))
	if err != nil {
		t.Fatal(err)
	}
	// Daily at 09:00 Berlin time, 10 occurrences from Monday 1 June 2026.
	series, err := svc.Events.Insert("primary", &calendar.Event{Summary: "Daily",
		Start:      &calendar.EventDateTime{DateTime: "2026-06-01T09:00:00+02:00", TimeZone: "Europe/Berlin"},
		End:        &calendar.EventDateTime{DateTime: "2026-06-01T09:15:00+02:00", TimeZone: "Europe/Berlin"},
		Recurrence: []string{"RRULE:FREQ=DAILY;COUNT=10"}}).Do()
	if err != nil {
		t.Fatal(err)
	}
	all := func(call *calendar.EventsInstancesCall) []*calendar.Event {
		t.Helper()
		var out []*calendar.Event
		if err := call.Pages(ctx, func(p *calendar.Events) error {
			if p.NextSyncToken != "" {
				return errors.New("instances must not return a nextSyncToken")
			}
			out = append(out, p.Items...)
			return nil
		}); err != nil {
			t.Fatalf("instances: %v", err)
		}
		return out
	}
	inst := all(svc.Events.Instances("primary", series.Id))
	if len(inst) != 10 {
		t.Fatalf("instances: %d", len(inst))
	}
	for i, in := range inst {
		wantStart := time.Date(2026, 6, 1+i, 7, 0, 0, 0, time.UTC)
		if in.RecurringEventId != series.Id || in.Id != series.Id+"_"+wantStart.Format("20060102T150405Z") ||
			in.OriginalStartTime == nil || len(in.Recurrence) != 0 || in.Summary != "Daily" {
			t.Fatalf("instance %d: %+v", i, in)
		}
	}

	// Move the 3rd occurrence, cancel the 5th.
	third, fifth := inst[2].Id, inst[4].Id
	if _, err := svc.Events.Patch("primary", third, &calendar.Event{Summary: "Daily (moved)",
		Start: &calendar.EventDateTime{DateTime: "2026-06-03T15:00:00+02:00", TimeZone: "Europe/Berlin"},
		End:   &calendar.EventDateTime{DateTime: "2026-06-03T15:15:00+02:00", TimeZone: "Europe/Berlin"}}).Do(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Events.Delete("primary", fifth).Do(); err != nil {
		t.Fatal(err)
	}
	inst = all(svc.Events.Instances("primary", series.Id))
	if len(inst) != 9 || inst[2].Id != third || inst[2].Summary != "Daily (moved)" || inst[2].Start.DateTime != "2026-06-03T15:00:00+02:00" {
		t.Fatalf("after exceptions: %d, third %+v", len(inst), inst[2])
	}
	for _, in := range inst {
		if in.Id == fifth {
			t.Fatal("cancelled instance listed without showDeleted")
		}
	}
	withDeleted := all(svc.Events.Instances("primary", series.Id).ShowDeleted(true))
	if len(withDeleted) != 10 || withDeleted[4].Id != fifth || withDeleted[4].Status != "cancelled" || withDeleted[4].RecurringEventId != series.Id {
		t.Fatalf("showDeleted: %d %+v", len(withDeleted), withDeleted[4])
	}

	// The window: end after timeMin, start before timeMax.
	win := all(svc.Events.Instances("primary", series.Id).TimeMin("2026-06-02T07:15:00Z").TimeMax("2026-06-05T07:00:00Z"))
	var ids []string
	for _, in := range win {
		ids = append(ids, strings.TrimPrefix(in.Id, series.Id+"_"))
	}
	// The 2nd occurrence ends exactly at timeMin; the moved 3rd keeps its
	// original id; the cancelled 5th starts at timeMax.
	if fmt.Sprint(ids) != "[20260603T070000Z 20260604T070000Z]" {
		t.Fatalf("window: %v", ids)
	}
	one := all(svc.Events.Instances("primary", series.Id).OriginalStart("2026-06-03T09:00:00+02:00"))
	if len(one) != 1 || one[0].Id != third {
		t.Fatalf("originalStart: %+v", one)
	}

	// Paging: 3 per page, every instance once, in order.
	var pages int
	var paged []string
	if err := svc.Events.Instances("primary", series.Id).MaxResults(3).Pages(ctx, func(p *calendar.Events) error {
		pages++
		for _, in := range p.Items {
			paged = append(paged, in.Id)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if pages != 3 || len(paged) != 9 || paged[0] != inst[0].Id || paged[8] != inst[8].Id {
		t.Fatalf("paging: %d pages %v", pages, paged)
	}
	_, err = svc.Events.Instances("primary", series.Id).PageToken("bogus").Do()
	if ge := (*googleapi.Error)(nil); !errors.As(err, &ge) || ge.Code != 400 {
		t.Fatalf("bad page token: %v", err)
	}

	// A single event lists itself; unknown and deleted events do not.
	single, err := svc.Events.Insert("primary", &calendar.Event{Summary: "Once",
		Start: &calendar.EventDateTime{DateTime: "2026-06-20T10:00:00Z"}, End: &calendar.EventDateTime{DateTime: "2026-06-20T11:00:00Z"}}).Do()
	if err != nil {
		t.Fatal(err)
	}
	if got := all(svc.Events.Instances("primary", single.Id)); len(got) != 1 || got[0].Id != single.Id {
		t.Fatalf("single event instances: %+v", got)
	}
	_, err = svc.Events.Instances("primary", "nosuchevent0").Do()
	if ge := (*googleapi.Error)(nil); !errors.As(err, &ge) || ge.Code != 404 {
		t.Fatalf("unknown event: %v", err)
	}
	if err := svc.Events.Delete("primary", series.Id).Do(); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Events.Instances("primary", series.Id).Do()
	if ge := (*googleapi.Error)(nil); !errors.As(err, &ge) || ge.Code != 410 {
		t.Fatalf("deleted series: %v", err)
	}
	// Only GET.
	tok := e.token(alice, ScopeCalendar)
	if r := e.do(http.MethodPost, calEvents+"/"+single.Id+"/instances", tok, map[string]any{}); r.code != 405 {
		t.Fatalf("POST instances: %d", r.code)
	}
}

// events.instances honours EXDATE (the instance is gone, even with
// showDeleted) and RDATE (an extra instance with its own id and original
// start), for timed and all-day series.
func TestInstancesExdateRdate(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	svc, err := calendar.NewService(ctx, option.WithEndpoint(CalendarBase),
		option.WithHTTPClient(e.googleHTTPClient(ctx, alice, ScopeCalendar)))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		start, end *calendar.EventDateTime
		lines      []string
		want       string
	}{
		{"timed", &calendar.EventDateTime{DateTime: "2026-03-23T09:30:00+01:00", TimeZone: "Europe/Berlin"},
			&calendar.EventDateTime{DateTime: "2026-03-23T10:00:00+01:00", TimeZone: "Europe/Berlin"},
			[]string{"RRULE:FREQ=WEEKLY;COUNT=3", "EXDATE;TZID=Europe/Berlin:20260330T093000", "RDATE:20260401T120000Z"},
			"2026-03-23T08:30:00Z 2026-04-01T12:00:00Z 2026-04-06T07:30:00Z"},
		{"all-day", &calendar.EventDateTime{Date: "2026-12-24"}, &calendar.EventDateTime{Date: "2026-12-25"},
			[]string{"RRULE:FREQ=DAILY;UNTIL=20261226", "EXDATE;VALUE=DATE:20261225", "RDATE;VALUE=DATE:20261231"},
			"2026-12-24 2026-12-26 2026-12-31"},
	}
	for _, c := range cases {
		ev, err := svc.Events.Insert("primary", &calendar.Event{Summary: c.name, Start: c.start, End: c.end, Recurrence: c.lines}).Do()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		res, err := svc.Events.Instances("primary", ev.Id).ShowDeleted(true).Do()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []string
		for _, in := range res.Items {
			orig := in.OriginalStartTime.Date
			if orig == "" {
				ot, err := time.Parse(time.RFC3339, in.OriginalStartTime.DateTime)
				if err != nil {
					t.Fatal(err)
				}
				orig = ot.UTC().Format(time.RFC3339)
			}
			got = append(got, orig)
			if in.RecurringEventId != ev.Id || !strings.HasPrefix(in.Id, ev.Id+"_") || in.Status == "cancelled" {
				t.Errorf("%s: instance %+v", c.name, in)
			}
			// The RDATE instance can be read by its id.
			if _, err := svc.Events.Get("primary", in.Id).Do(); err != nil {
				t.Errorf("%s: get %s: %v", c.name, in.Id, err)
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, strings.Join(got, " "), c.want)
		}
	}
}
