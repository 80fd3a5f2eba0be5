package main

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/calendar/v3"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/engine"
	syncgw "github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
)

// splitSubject names the series these tests split (and the new series a
// split makes).
const splitSubject = "Split standup"

// TestSyncSplitThroughGateway: a person splits a weekly series ("this and
// following") at its first occurrence in the sync window, in Graph (the
// original's recurrence range ends the day before, a new series starts
// there, as Outlook does), in Google (UNTIL on the original's RRULE and a
// new recurring event, as Calendar's UI does) or in Salesforce (the series
// record ends and a new series record starts, as Lightning's "This and
// following events" does). The original then has no occurrence left in the
// window, so its side no longer lists it. After the next pass both sides
// show the same occurrences over the window (a year), instant by instant,
// none twice, the other side holds two series, and the pass after writes
// nothing. Nothing is deleted. The same when the new series is seen a
// pass before the original's end. And when the person deletes the new
// series before a pass reads it (in effect ends the series there) in
// Graph or Google: only the ended original is left, which the mailbox no
// longer lists; its connector reports it departed
// (connector.Changes.Departed), and the other side's series ends too.
func TestSyncSplitThroughGateway(t *testing.T) {
	type split struct {
		name, user string
		split      model.Side
		newFirst   bool
		deleteNew  bool
	}
	var cases []split
	for _, c := range []split{
		{name: "graph", user: "alice@corp.example", split: model.Mail},
		{name: "google", user: "bob@corp.example=google", split: model.Mail},
		{name: "salesforce", user: "alice@corp.example", split: model.CRM},
	} {
		cases = append(cases, c)
		c.newFirst = true
		cases = append(cases, c)
		if c.split == model.Mail {
			c.newFirst, c.deleteNew = false, true
			cases = append(cases, c)
		}
	}
	for _, tc := range cases {
		name := tc.name
		if tc.newFirst {
			name += "/new series first"
		}
		if tc.deleteNew {
			name += "/new series deleted unseen"
		}
		t.Run(name, func(t *testing.T) {
			user, mailbox, _ := strings.Cut(tc.user, "=")
			st, cfg, rt := startSeriesWorld(t, tc.user)
			j := eventsJob(t, rt, user)
			ctx := syncgw.WithSubject(context.Background(), user)
			berlin, _ := time.LoadLocation("Europe/Berlin")
			now := time.Now().In(berlin)
			mon := time.Date(now.Year(), now.Month(), now.Day(), 9, 0, 0, 0, berlin)
			for mon.Weekday() != time.Monday {
				mon = mon.AddDate(0, 0, -1)
			}
			first := mon.AddDate(0, 0, -70) // well before the 30-day window
			wall := func(t time.Time) string { return t.In(berlin).Format("2006-01-02T15:04:05") }

			// The series, made where it will be split.
			var graphID string
			switch tc.name {
			case "graph":
				m, err := st.set.Microsoft.AddEvent(user, graphWeekly(wall, first, "noEnd", ""))
				if err != nil {
					t.Fatal(err)
				}
				graphID = m["id"].(string)
			case "google":
				if _, err := st.set.Google.PutEvent(user, googleWeekly(first)); err != nil {
					t.Fatal(err)
				}
			case "salesforce":
				if _, err := st.set.Salesforce.Seed(user, "Event", sfWeekly(first)); err != nil {
					t.Fatal(err)
				}
			}
			round(t, rt, cfg)
			if w := writes(round(t, rt, cfg)); w != 0 {
				t.Fatalf("second pass wrote %d", w)
			}

			sc := engine.ScopeOf(j, time.Now())
			origin, other := conn(j, tc.split), conn(j, tc.split.Other())
			before := splitItems(t, ctx, origin, sc)
			if len(before) != 1 {
				t.Fatalf("%d series on the origin before the split", len(before))
			}
			orig := before[0]
			want := occurrenceSet(t, before, sc.WindowStart, sc.WindowEnd)
			if got := occurrenceSet(t, splitItems(t, ctx, other, sc), sc.WindowStart, sc.WindowEnd); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("before the split the sides differ:\n%v\n%v", got, want)
			}
			keys, err := orig.Event.OriginalStarts(sc.WindowStart, sc.WindowEnd)
			if err != nil || len(keys) == 0 {
				t.Fatalf("no occurrence in the window (%v)", err)
			}
			at, _ := time.Parse(time.RFC3339, keys[0]) // the first in the window
			dayBefore := at.In(berlin).AddDate(0, 0, -1)

			// The split, as each service's own client makes it: the end of
			// the original and the new series.
			truncate := func() {
				t.Helper()
				if tc.name == "graph" {
					if _, err := st.set.Microsoft.UpdateEvent(user, graphID, map[string]any{
						"recurrence": graphWeekly(wall, first, "endDate", dayBefore.Format(time.DateOnly))["recurrence"]}); err != nil {
						t.Fatal(err)
					}
					return
				}
				// Google Calendar's UI puts UNTIL on the master's RRULE;
				// Lightning ends the series record: written through the
				// connector as the person's client.
				trunc := orig.Clone()
				trunc.Event.Recurrence.Until = at.Add(-time.Second)
				trunc.Event.Recurrence.Exceptions = nil
				if _, err := origin.Update(ctx, sc, orig.ID, orig.Marker, trunc); err != nil {
					t.Fatal(err)
				}
			}
			create := func() (id string) {
				t.Helper()
				var err error
				switch tc.name {
				case "graph":
					var m map[string]any
					if m, err = st.set.Microsoft.AddEvent(user, graphWeekly(wall, at, "noEnd", "")); err == nil {
						id, _ = m["id"].(string)
					}
				case "google":
					var ev *calendar.Event
					if ev, err = st.set.Google.PutEvent(user, googleWeekly(at)); err == nil {
						id = ev.Id
					}
				case "salesforce":
					_, err = st.set.Salesforce.Seed(user, "Event", sfWeekly(at))
				}
				if err != nil {
					t.Fatal(err)
				}
				return id
			}
			switch {
			case tc.deleteNew:
				// The person deletes the new series before any pass reads
				// it: the split only ended the original.
				truncate()
				id := create()
				var err error
				if tc.name == "graph" {
					err = st.set.Microsoft.DeleteEvent(user, id)
				} else {
					err = st.set.Google.DeleteEvent(user, id)
				}
				if err != nil {
					t.Fatal(err)
				}
				var kept []string
				for _, o := range want {
					if start, _, _ := strings.Cut(o, "/"); start < at.UTC().Format(time.RFC3339) {
						kept = append(kept, o)
					}
				}
				want = kept
			case tc.newFirst:
				// The new series is seen a pass before the truncation (two
				// delta rounds, or the client's first try to end the
				// original failed): duplicates for a pass are allowed.
				create()
				round(t, rt, cfg)
				truncate()
			default:
				truncate()
				create()
			}
			// A side lists only series with an occurrence in the window.
			if left := splitItems(t, ctx, origin, sc); !tc.deleteNew && len(left) != 1 || tc.deleteNew && len(left) != 0 {
				t.Fatalf("after the split the origin lists %d series in the window", len(left))
			}
			if got := occurrenceSet(t, splitItems(t, ctx, origin, sc), sc.WindowStart, sc.WindowEnd); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("the split changed the origin's occurrences:\n%v\nwant\n%v", got, want)
			}

			res := round(t, rt, cfg)
			for _, o := range res {
				if o.Result.Deleted != 0 {
					t.Fatalf("%s %s deleted %d", o.Job.User, o.Job.Kind, o.Result.Deleted)
				}
			}
			for _, s := range []model.Side{tc.split, tc.split.Other()} {
				got := occurrenceSet(t, splitItems(t, ctx, conn(j, s), sc), sc.WindowStart, sc.WindowEnd)
				if d := twiceIn(got); d != "" {
					t.Fatalf("%s holds occurrence %s twice", s, d)
				}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Fatalf("%s occurrences after the split:\n%v\nwant\n%v", s, got, want)
				}
			}
			wantSeries := 2
			if tc.deleteNew {
				wantSeries = 1
			}
			if n := seriesCount(t, st, tc.split.Other(), mailbox, user); n != wantSeries {
				t.Fatalf("%s holds %d series named %q, want %d (the ended original, and the new one unless deleted)", tc.split.Other(), n, splitSubject, wantSeries)
			}
			if w := writes(round(t, rt, cfg)); w != 0 {
				t.Fatalf("pass after the split wrote %d", w)
			}
		})
	}
}

func eventsJob(t *testing.T, rt *syncRuntime, user string) engine.Job {
	t.Helper()
	for _, j := range rt.jobs {
		if j.User == user && j.Kind == model.Events {
			return j
		}
	}
	t.Fatalf("no events job for %s", user)
	return engine.Job{}
}

func conn(j engine.Job, s model.Side) connector.Connector {
	if s == model.CRM {
		return j.CRM
	}
	return j.Mail
}

// graphWeekly is a Graph event body: Mondays from start (Berlin time),
// 30 minutes, its range noEnd or ending on end.
func graphWeekly(wall func(time.Time) string, start time.Time, rangeType, end string) map[string]any {
	rng := map[string]any{"type": rangeType, "startDate": start.Format(time.DateOnly), "recurrenceTimeZone": "W. Europe Standard Time"}
	if end != "" {
		rng["endDate"] = end
	}
	return map[string]any{"subject": splitSubject,
		"start": map[string]any{"dateTime": wall(start), "timeZone": "W. Europe Standard Time"},
		"end":   map[string]any{"dateTime": wall(start.Add(30 * time.Minute)), "timeZone": "W. Europe Standard Time"},
		"recurrence": map[string]any{
			"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"monday"}, "firstDayOfWeek": "monday"},
			"range":   rng}}
}

// googleWeekly is a Google recurring event: Mondays from start (Berlin),
// 30 minutes.
func googleWeekly(start time.Time) *calendar.Event {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	s := start.In(berlin)
	return &calendar.Event{Summary: splitSubject, Recurrence: []string{"RRULE:FREQ=WEEKLY;BYDAY=MO"},
		Start: &calendar.EventDateTime{DateTime: s.Format(time.RFC3339), TimeZone: "Europe/Berlin"},
		End:   &calendar.EventDateTime{DateTime: s.Add(30 * time.Minute).Format(time.RFC3339), TimeZone: "Europe/Berlin"}}
}

// sfWeekly is a Lightning event series record: Mondays from start, 30
// minutes, in Berlin time.
func sfWeekly(start time.Time) map[string]any {
	return map[string]any{"Subject": splitSubject, "StartDateTime": start.UTC().Format(time.RFC3339),
		"EndDateTime": start.Add(30 * time.Minute).UTC().Format(time.RFC3339), "IsRecurrence2": true,
		"Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=MO", "Recurrence2PatternTimeZone": "Europe/Berlin"}
}

// splitItems lists the series named splitSubject that c lists in sc's
// window (a full listing through the gateway).
func splitItems(t *testing.T, ctx context.Context, c connector.Connector, sc connector.Scope) []*model.Item {
	t.Helper()
	ch, err := c.Changes(ctx, sc, "")
	if err != nil {
		t.Fatalf("list %s: %v", c.Side(), err)
	}
	var out []*model.Item
	for _, it := range ch.Items {
		if it.Event != nil && strings.HasPrefix(it.Event.Subject, splitSubject) {
			if it.Event.Recurrence == nil {
				t.Fatalf("%s lists %s without a readable recurrence", c.Side(), it.ID)
			}
			out = append(out, it)
		}
	}
	return out
}

// occurrenceSet is every occurrence of items in [from, to) as "start/end"
// instants, sorted.
func occurrenceSet(t *testing.T, items []*model.Item, from, to time.Time) []string {
	t.Helper()
	var out []string
	for _, it := range items {
		occ, err := it.Event.Occurrences(from, to)
		if err != nil {
			t.Fatalf("%s: %v", it.ID, err)
		}
		for _, o := range occ {
			out = append(out, o.Start.UTC().Format(time.RFC3339)+"/"+o.End.UTC().Format(time.RFC3339))
		}
	}
	sort.Strings(out)
	return out
}

func twiceIn(set []string) string {
	for i := 1; i < len(set); i++ {
		if set[i] == set[i-1] {
			return set[i]
		}
	}
	return ""
}

// seriesCount counts the series named splitSubject that side s holds,
// whatever their dates, as the service's own store has them.
func seriesCount(t *testing.T, st *demoStack, s model.Side, mailbox, user string) int {
	t.Helper()
	n := 0
	switch {
	case s == model.CRM:
		for _, r := range sfRecords(t, st.set.Salesforce, "Event") {
			if r.Fields["Subject"] == splitSubject && r.Fields["IsRecurrence2"] == true {
				n++
			}
		}
	case mailbox == "google":
		evs, err := st.set.Google.Events(user)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Summary == splitSubject && ev.Status != "cancelled" && len(ev.Recurrence) > 0 {
				n++
			}
		}
	default:
		evs, err := st.set.Microsoft.Events(user)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e["subject"] == splitSubject && e["type"] == "seriesMaster" {
				n++
			}
		}
	}
	return n
}
