package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/api/calendar/v3"

	"github.com/syncgate/syncgate/emulate/salesforce"
	"github.com/syncgate/syncgate/sync/engine"
	"github.com/syncgate/syncgate/sync/model"
)

// startSeriesWorld is startSyncWorld with events.series: sync.
func startSeriesWorld(t *testing.T, users ...string) (*demoStack, *syncConfig, *syncRuntime) {
	t.Helper()
	ctx := context.Background()
	st, err := startDemoStack(ctx, filepath.Join(t.TempDir(), "demo"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	path, err := st.writeSyncConfig(users...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadSyncConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Profiles["default"].Events.Series = "sync"
	rt, err := buildSync(ctx, cfg, zerolog.Nop(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	return st, cfg, rt
}

// TestSyncSeriesThroughGateway: a weekly Graph series that began before
// the window, with one moved and one cancelled occurrence, reaches
// Salesforce as one Lightning event series (its occurrence records moved
// and deleted to match); a Salesforce series reaches Graph as one series
// master; a second pass writes nothing; a cancellation in Salesforce is an
// update of the Graph series, never a delete.
func TestSyncSeriesThroughGateway(t *testing.T) {
	const alice = "alice@corp.example"
	st, cfg, rt := startSeriesWorld(t, alice)
	sf, ms := st.set.Salesforce, st.set.Microsoft
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// Mondays 09:00 Berlin, from eight weeks ago (before the 30-day window).
	now := time.Now().In(berlin)
	monday := time.Date(now.Year(), now.Month(), now.Day(), 9, 0, 0, 0, berlin)
	for monday.Weekday() != time.Monday {
		monday = monday.AddDate(0, 0, -1)
	}
	first := monday.AddDate(0, 0, -56)
	wall := func(t time.Time) string { return t.Format("2006-01-02T15:04:05") }
	master, err := ms.AddEvent(alice, map[string]any{"subject": "Series standup",
		"start": map[string]any{"dateTime": wall(first), "timeZone": "W. Europe Standard Time"},
		"end":   map[string]any{"dateTime": wall(first.Add(30 * time.Minute)), "timeZone": "W. Europe Standard Time"},
		"recurrence": map[string]any{
			"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"monday"}, "firstDayOfWeek": "monday"},
			"range":   map[string]any{"type": "noEnd", "startDate": first.Format(time.DateOnly), "recurrenceTimeZone": "W. Europe Standard Time"}}})
	if err != nil {
		t.Fatal(err)
	}
	mid := master["id"].(string)
	occ := func(weeks int) time.Time { return monday.AddDate(0, 0, 7*weeks) }
	occID := func(t time.Time) string { return mid + "." + t.UTC().Format("20060102T150405Z") }
	moved, cancelled := occ(1), occ(2)
	if err := ms.DeleteEvent(alice, occID(cancelled)); err != nil {
		t.Fatal(err)
	}
	if _, err := ms.UpdateEvent(alice, occID(moved), map[string]any{
		"start": map[string]any{"dateTime": wall(moved.Add(3 * time.Hour)), "timeZone": "W. Europe Standard Time"},
		"end":   map[string]any{"dateTime": wall(moved.Add(3*time.Hour + 30*time.Minute)), "timeZone": "W. Europe Standard Time"}}); err != nil {
		t.Fatal(err)
	}
	// A Salesforce series: Thursdays 15:00 New York, ten times.
	ny, _ := time.LoadLocation("America/New_York")
	thu := time.Date(now.Year(), now.Month(), now.Day(), 15, 0, 0, 0, ny).AddDate(0, 0, 1)
	for thu.Weekday() != time.Thursday {
		thu = thu.AddDate(0, 0, 1)
	}
	sfSeries, err := sf.Seed(alice, "Event", map[string]any{"Subject": "Series review", "StartDateTime": thu.UTC().Format(time.RFC3339),
		"EndDateTime": thu.Add(time.Hour).UTC().Format(time.RFC3339), "IsRecurrence2": true,
		"Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=TH;COUNT=10", "Recurrence2PatternTimeZone": "America/New_York"})
	if err != nil {
		t.Fatal(err)
	}

	round(t, rt, cfg) // the demo world's own items sync too
	// Salesforce: one series record for the Graph series, with its
	// occurrences moved and cancelled as in Graph; no single events.
	var sfStandup string
	standups := 0
	for _, r := range sfRecords(t, sf, "Event") {
		if r.Fields["RecurrenceActivityId"] != nil && r.Fields["RecurrenceActivityId"] != "" {
			continue
		}
		switch r.Fields["Subject"] {
		case "Series standup":
			if r.Fields["IsRecurrence2"] != true || r.Fields["Recurrence2PatternText"] != "RRULE:FREQ=WEEKLY;BYDAY=MO" || r.Fields["Recurrence2PatternTimeZone"] != "Europe/Berlin" {
				t.Fatalf("series record %v", r.Fields)
			}
			sfStandup = r.ID
			standups++
		}
	}
	if sfStandup == "" || standups != 1 {
		t.Fatalf("the Graph series reached Salesforce as %d series records (and no single event)", standups)
	}
	for _, r := range sfRecords(t, sf, "Event") {
		if r.Fields["Subject"] == "Series standup" && r.Fields["RecurrenceActivityId"] != sfStandup && r.ID != sfStandup {
			t.Fatalf("a Series standup event outside the series: %v", r.Fields)
		}
	}
	starts := map[string]bool{}
	for _, o := range sf.Occurrences(sfStandup) {
		starts[o["StartDateTime"].(time.Time).UTC().Format(time.RFC3339)] = true
	}
	if starts[cancelled.UTC().Format(time.RFC3339)] || starts[moved.UTC().Format(time.RFC3339)] || !starts[moved.Add(3*time.Hour).UTC().Format(time.RFC3339)] || !starts[occ(3).UTC().Format(time.RFC3339)] {
		t.Fatalf("Salesforce occurrences %v", starts)
	}
	// Graph: one series master for the Salesforce series.
	evs, err := ms.Events(alice)
	if err != nil {
		t.Fatal(err)
	}
	masters := 0
	for _, e := range evs {
		if e["subject"] == "Series review" {
			if e["type"] != "seriesMaster" {
				t.Fatalf("Salesforce series written as %v", e["type"])
			}
			masters++
		}
	}
	if masters != 1 {
		t.Fatalf("%d Graph masters for the Salesforce series", masters)
	}
	if w := writes(round(t, rt, cfg)); w != 0 {
		t.Fatalf("second pass wrote %d", w)
	}
	// A person cancels the Salesforce series' third occurrence: Graph's
	// series loses that occurrence; nothing is deleted.
	cancelOccurrencePass(t, rt, cfg, sf, alice, sfSeries, thu.AddDate(0, 0, 14))
	if w := writes(round(t, rt, cfg)); w != 0 {
		t.Fatalf("last pass wrote %d", w)
	}
}

// TestSyncConfigSeries: events.series skip (default) | sync; contacts
// have none.
func TestSyncConfigSeries(t *testing.T) {
	dir := t.TempDir()
	base := "gateway: {proxy: http://127.0.0.1:3128}\nsalesforce: {instance_url: https://x.my.salesforce.com}\n"
	for i, tc := range []struct {
		users  string
		series bool
		err    string
	}{
		{"users: [{user: a@corp.example, events: {}}]\n", false, ""},
		{"users: [{user: a@corp.example, events: {series: sync}}]\n", true, ""},
		{"users: [{user: a@corp.example, events: {series: skip}}]\n", false, ""},
		{"users: [{user: a@corp.example, events: {series: flatten}}]\n", false, "want skip or sync"},
		{"users: [{user: a@corp.example, contacts: {series: sync}}]\n", false, "events only"},
	} {
		p := filepath.Join(dir, fmt.Sprint(i, ".yaml"))
		if err := os.WriteFile(p, []byte(base+tc.users), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadSyncConfig(p)
		if err == nil {
			kind := model.Events
			if strings.Contains(tc.users, "contacts") {
				kind = model.Contacts
			}
			var ks engine.KindSettings
			ks, err = cfg.settings(cfg.Users[0], kind)
			if err == nil && ks.Series != tc.series {
				t.Errorf("%s: series %v", tc.users, ks.Series)
			}
		}
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err %v, want %q", tc.users, err, tc.err)
		}
	}
}

// TestSyncSeriesGoogleThroughGateway: a Salesforce series reaches a
// Google Workspace user as one recurring event (its RRULE in the series
// zone), a Google series begun before the window with a cancelled
// instance reaches Salesforce as one series, and a second pass writes
// nothing.
func TestSyncSeriesGoogleThroughGateway(t *testing.T) {
	const bob = "bob@corp.example"
	st, cfg, rt := startSeriesWorld(t, bob+"=google")
	sf, gc := st.set.Salesforce, st.set.Google
	ny, _ := time.LoadLocation("America/New_York")
	now := time.Now().In(ny)
	thu := time.Date(now.Year(), now.Month(), now.Day(), 15, 0, 0, 0, ny).AddDate(0, 0, 1)
	for thu.Weekday() != time.Thursday {
		thu = thu.AddDate(0, 0, 1)
	}
	if _, err := sf.Seed(bob, "Event", map[string]any{"Subject": "Series review", "StartDateTime": thu.UTC().Format(time.RFC3339),
		"EndDateTime": thu.Add(time.Hour).UTC().Format(time.RFC3339), "IsRecurrence2": true,
		"Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=TH;COUNT=10", "Recurrence2PatternTimeZone": "America/New_York"}); err != nil {
		t.Fatal(err)
	}
	// A Google series: Mondays 09:00 Berlin from ten weeks ago, and its
	// instance two weeks on cancelled.
	berlin, _ := time.LoadLocation("Europe/Berlin")
	mon := time.Date(now.Year(), now.Month(), now.Day(), 9, 0, 0, 0, berlin)
	for mon.Weekday() != time.Monday {
		mon = mon.AddDate(0, 0, -1)
	}
	first := mon.AddDate(0, 0, -70)
	m, err := gc.PutEvent(bob, &calendar.Event{Summary: "Series standup", Recurrence: []string{"RRULE:FREQ=WEEKLY;BYDAY=MO"},
		Start: &calendar.EventDateTime{DateTime: first.Format(time.RFC3339), TimeZone: "Europe/Berlin"},
		End:   &calendar.EventDateTime{DateTime: first.Add(30 * time.Minute).Format(time.RFC3339), TimeZone: "Europe/Berlin"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := gc.DeleteEvent(bob, m.Id+"_"+mon.AddDate(0, 0, 14).UTC().Format("20060102T150405Z")); err != nil {
		t.Fatal(err)
	}
	round(t, rt, cfg)
	evs, err := gc.Events(bob)
	if err != nil {
		t.Fatal(err)
	}
	reviews := 0
	for _, ev := range evs {
		if ev.Summary == "Series review" && ev.Status != "cancelled" {
			reviews++
			if len(ev.Recurrence) != 1 || ev.Recurrence[0] != "RRULE:FREQ=WEEKLY;BYDAY=TH;COUNT=10" || ev.Start.TimeZone != "America/New_York" {
				t.Fatalf("Google master %+v %+v", ev.Recurrence, ev.Start)
			}
		}
	}
	if reviews != 1 {
		t.Fatalf("%d Google events for the Salesforce series", reviews)
	}
	var standup string
	for _, r := range sfRecords(t, sf, "Event") {
		if r.Fields["Subject"] == "Series standup" && r.Fields["IsRecurrence2"] == true {
			if standup != "" {
				t.Fatal("two Salesforce series for one Google series")
			}
			standup = r.ID
		}
	}
	if standup == "" {
		t.Fatal("the Google series did not reach Salesforce")
	}
	for _, o := range sf.Occurrences(standup) {
		if o["StartDateTime"].(time.Time).Equal(mon.AddDate(0, 0, 14)) {
			t.Fatal("the cancelled instance is a live Salesforce occurrence")
		}
	}
	if w := writes(round(t, rt, cfg)); w != 0 {
		t.Fatalf("second pass wrote %d", w)
	}
}

// cancelOccurrencePass cancels the occurrence of Salesforce series
// seriesID that starts at start, as a person would in Salesforce, and runs
// one pass: the mailbox series must be updated once and nothing deleted
// (a cancelled occurrence is never a series delete).
func cancelOccurrencePass(t *testing.T, rt *syncRuntime, cfg *syncConfig, sf *salesforce.Server, user, seriesID string, start time.Time) {
	t.Helper()
	var occ string
	for _, o := range sf.Occurrences(seriesID) {
		if o["StartDateTime"].(time.Time).Equal(start) {
			occ = o["Id"].(string)
		}
	}
	if occ == "" {
		t.Fatalf("no occurrence record at %s", start)
	}
	if err := sf.CancelOccurrence(user, occ); err != nil {
		t.Fatal(err)
	}
	deleted, updated := 0, 0
	for _, o := range round(t, rt, cfg) {
		deleted += o.Result.Deleted
		updated += o.Result.Updated
	}
	if updated != 1 || deleted != 0 {
		t.Fatalf("cancel pass: %d updated, %d deleted", updated, deleted)
	}
}
