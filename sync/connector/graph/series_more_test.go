package graph

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/emulate/microsoft"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

func allDayWeekly(t *testing.T, tz string, xs ...model.Exception) *model.Item {
	t.Helper()
	r, err := model.ParseRRULE("FREQ=WEEKLY;BYDAY=SA;UNTIL=20261226", tz)
	must(t, err)
	r.Exceptions = xs
	return &model.Item{Event: &model.Event{Subject: "Market", AllDay: true, StartDate: "2026-10-03", EndDate: "2026-10-04",
		Series: "master", Recurrence: r}}
}

func dateOcc(t *testing.T, it *model.Item) string {
	t.Helper()
	occ, err := it.Event.Occurrences(winStart, winEnd)
	must(t, err)
	var b []string
	for _, o := range occ {
		if !o.Start.IsZero() {
			t.Fatalf("all-day occurrence with an instant: %+v", o)
		}
		b = append(b, o.StartDate+".."+o.EndDate+"/"+o.Subject)
	}
	return strings.Join(b, " ")
}

// An all-day series is an isAllDay master with a date range: written with
// a cancelled and a moved occurrence (keyed by date) in a zone west and
// east of UTC and in none, read back with the same hash and dates; a
// cancellation in Outlook is an update of the master; the engine's update
// puts the moved occurrence back.
func TestSeriesAllDay(t *testing.T) {
	for _, tz := range []string{"", "America/New_York", "Australia/Sydney"} {
		t.Run("zone "+tz, func(t *testing.T) {
			e := newEnv(t, Options{Series: true})
			cancelled := model.Exception{OriginalStart: "2026-11-14", Cancelled: true}
			moved := model.Exception{OriginalStart: "2026-11-21", StartDate: "2026-11-20", EndDate: "2026-11-22", Subject: "Market (long)"}
			in := allDayWeekly(t, tz, cancelled, moved)
			got, err := e.c.Create(e.ctx, eventsS, "allday-1", in)
			must(t, err)
			if got.Hash() != in.Hash() || dateOcc(t, got) != dateOcc(t, in) {
				t.Fatalf("created all-day series reads back differently:\n got %+v\nwant %+v", got.Event.Recurrence, in.Event.Recurrence)
			}
			occ := dateOcc(t, got)
			if strings.Contains(occ, "2026-11-14") || !strings.Contains(occ, "2026-11-20..2026-11-22/Market (long)") || !strings.HasSuffix(occ, "2026-12-26..2026-12-27/Market") {
				t.Fatalf("occurrences %s", occ)
			}
			evs, err := e.s.Events(aliceID)
			must(t, err)
			var rng map[string]any
			for _, ev := range evs {
				if ev["id"] == got.ID {
					if ev["isAllDay"] != true {
						t.Fatalf("master not isAllDay: %v", ev["isAllDay"])
					}
					rng = ev["recurrence"].(map[string]any)["range"].(map[string]any)
				}
			}
			if rng["startDate"] != "2026-10-03" || rng["endDate"] != "2026-12-26" || rng["type"] != "endDate" {
				t.Fatalf("range %v", rng)
			}
			// Outlook cancels 5 December: its occurrence id is the master's
			// with the UTC instant of that midnight in the series zone.
			loc := time.UTC
			if tz != "" {
				loc, _ = time.LoadLocation(tz)
			}
			must(t, e.s.DeleteEvent(aliceID, got.ID+"."+time.Date(2026, 12, 5, 0, 0, 0, 0, loc).UTC().Format("20060102T150405Z")))
			read, err := e.c.Get(e.ctx, eventsS, got.ID)
			must(t, err)
			want := allDayWeekly(t, tz, cancelled, moved, model.Exception{OriginalStart: "2026-12-05", Cancelled: true})
			if read.Hash() != want.Hash() {
				t.Fatalf("after a cancellation in Outlook: %+v", read.Event.Recurrence.Exceptions)
			}
			upd := allDayWeekly(t, tz, cancelled, model.Exception{OriginalStart: "2026-12-05", Cancelled: true})
			got2, err := e.c.Update(e.ctx, eventsS, got.ID, read.Marker, upd)
			must(t, err)
			if got2.Hash() != upd.Hash() || strings.Contains(dateOcc(t, got2), "long") {
				t.Fatalf("update reads back %+v", got2.Event.Recurrence.Exceptions)
			}
		})
	}
}

// Extra dates (Google's RDATE) have no Graph pattern: refused with
// ErrUnsupported (the engine records the series as unresolved), and
// nothing is written — never single events in their place.
func TestSeriesExtraDatesRefused(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	in := berlinWeekly(t)
	in.Event.Recurrence.RDates = []string{"2026-12-03T15:00:00Z"}
	if _, err := e.c.Create(e.ctx, eventsS, "rdate-1", in); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("create with RDATE: %v", err)
	}
	if evs, _ := e.s.Events(aliceID); len(evs) != 0 {
		t.Fatalf("%d events written for a refused series", len(evs))
	}
	plain := berlinWeekly(t)
	got, err := e.c.Create(e.ctx, eventsS, "rdate-2", plain)
	must(t, err)
	if _, err := e.c.Update(e.ctx, eventsS, got.ID, got.Marker, in); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("update with RDATE: %v", err)
	}
	if again, err := e.c.Get(e.ctx, eventsS, got.ID); err != nil || again.Hash() != plain.Hash() {
		t.Fatalf("the refused update changed the series: %v", err)
	}
}

// The rule as written comes back while Graph's pattern is what it gives;
// once the pattern is changed in Outlook, Graph's spelling is read.
func TestSeriesWrittenRule(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	r, err := model.ParseRRULE("FREQ=YEARLY", "Asia/Kolkata")
	must(t, err)
	loc, _ := time.LoadLocation("Asia/Kolkata")
	st := time.Date(2026, 3, 15, 11, 0, 0, 0, loc)
	in := &model.Item{Event: &model.Event{Subject: "Anniversary", Start: st.UTC(), End: st.Add(time.Hour).UTC(), Series: "master", Recurrence: r}}
	got, err := e.c.Create(e.ctx, eventsS, "rule-1", in)
	must(t, err)
	if got.Event.Recurrence.RRULE() != "FREQ=YEARLY" || got.Hash() != in.Hash() {
		t.Fatalf("read back as %s", got.Event.Recurrence.RRULE())
	}
	_, err = e.s.UpdateEvent(aliceID, got.ID, map[string]any{"recurrence": map[string]any{
		"pattern": map[string]any{"type": "absoluteYearly", "interval": 1, "month": 3, "dayOfMonth": 16},
		"range":   map[string]any{"type": "noEnd", "startDate": "2026-03-15", "recurrenceTimeZone": "Asia/Kolkata"}}})
	must(t, err)
	read, err := e.c.Get(e.ctx, eventsS, got.ID)
	must(t, err)
	if read.Event.Recurrence.RRULE() != "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=16" {
		t.Fatalf("a pattern changed in Outlook reads as %s", read.Event.Recurrence.RRULE())
	}
}

// onSeriesCall answers the connector's requests matching match.
func onSeriesCall(match func(r *http.Request) bool, answer func() *http.Response) func(*http.Request, int) (*http.Response, error) {
	return func(r *http.Request, _ int) (*http.Response, error) {
		if match(r) {
			return answer(), nil
		}
		return nil, nil
	}
}

// Faults on each series call: 429 with Retry-After on the instances or
// the master's read stops with ThrottledError (Retry-After kept); a 503
// there fails the read (never a master without its exceptions, which
// would read as cancellations); 412 on the master's update is a conflict
// and writes nothing.
func TestSeriesFaults(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	in := berlinWeekly(t, gCancelled)
	got, err := e.c.Create(e.ctx, eventsS, "faults-1", in)
	must(t, err)
	isInstances := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/events/"+got.ID+"/instances")
	}
	isMaster := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/events/"+got.ID)
	}
	throttled := func() *http.Response {
		return synthetic(429, `{"error":{"code":"ApplicationThrottled","message":"x"}}`, "Retry-After", "23")
	}
	unavailable := func() *http.Response {
		return synthetic(503, `{"error":{"code":"ServiceUnavailable","message":"x"}}`)
	}
	reads := map[string]func() error{
		"Get":     func() error { _, err := e.c.Get(e.ctx, eventsS, got.ID); return err },
		"Changes": func() error { _, err := e.c.Changes(e.ctx, eventsS, ""); return err },
		"Update":  func() error { _, err := e.c.Update(e.ctx, eventsS, got.ID, got.Marker, berlinWeekly(t)); return err },
	}
	for _, call := range []struct {
		name  string
		match func(*http.Request) bool
	}{{"instances", isInstances}, {"master", isMaster}} {
		for name, read := range reads {
			e.gw.intercept = onSeriesCall(call.match, throttled)
			var te *connector.ThrottledError
			if err := read(); !errors.As(err, &te) || te.Status != 429 || te.RetryAfter != 23*time.Second {
				t.Fatalf("%s with 429 on the %s: %v", name, call.name, err)
			}
			e.gw.intercept = onSeriesCall(call.match, unavailable)
			var he *connector.HTTPError
			if err := read(); !errors.As(err, &he) || he.Status != 503 || errors.As(err, &te) {
				t.Fatalf("%s with 503 on the %s: %v", name, call.name, err)
			}
		}
	}
	e.gw.intercept = nil
	if cur, err := e.c.Get(e.ctx, eventsS, got.ID); err != nil || cur.Hash() != in.Hash() {
		t.Fatalf("the faults changed the series: %v", err)
	}
	// 412 on the master's PATCH.
	e.gw.intercept = onSeriesCall(func(r *http.Request) bool {
		return r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, "/events/"+got.ID)
	}, func() *http.Response {
		return synthetic(412, `{"error":{"code":"ErrorIrresolvableConflict","message":"x"}}`)
	})
	cur, err := e.c.Get(e.ctx, eventsS, got.ID)
	must(t, err)
	renamed := berlinWeekly(t, gCancelled, model.Exception{OriginalStart: "2026-12-21T08:00:00Z", Cancelled: true})
	renamed.Event.Subject = "Renamed"
	if _, err := e.c.Update(e.ctx, eventsS, got.ID, cur.Marker, renamed); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("412 on the master: %v", err)
	}
	e.gw.intercept = nil
	after, err := e.c.Get(e.ctx, eventsS, got.ID)
	must(t, err)
	if after.Hash() != in.Hash() {
		t.Fatalf("a refused master update still wrote: %+v", after.Event.Recurrence.Exceptions)
	}
	res, err := e.c.Update(e.ctx, eventsS, got.ID, after.Marker, renamed)
	must(t, err)
	if res.Hash() != renamed.Hash() {
		t.Fatalf("retry after the conflict reads back %+v", res.Event.Recurrence.Exceptions)
	}
}

// The emulator's own fault injection, switched on just as the connector
// asks for a series' instances (or its master): forced throttling (429,
// Retry-After) and failures (503, Retry-After) surface as ThrottledError
// with the service's Retry-After, on the series call itself.
func TestSeriesEmulatorFaults(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	got, err := e.c.Create(e.ctx, eventsS, "emufaults-1", berlinWeekly(t, gCancelled))
	must(t, err)
	for _, c := range []struct {
		name   string
		suffix string
		faults microsoft.Faults
		status int
		ra     time.Duration
	}{
		{"throttle on instances", "/instances", microsoft.Faults{Throttle: true, RetryAfter: 9}, 429, 9 * time.Second},
		{"503 on instances", "/instances", microsoft.Faults{ErrorRate: 1}, 503, time.Second},
		{"throttle on the master", "/events/" + got.ID, microsoft.Faults{Throttle: true, RetryAfter: 4}, 429, 4 * time.Second},
	} {
		var seen []string
		e.gw.intercept = func(r *http.Request, _ int) (*http.Response, error) {
			seen = append(seen, r.URL.Path)
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, c.suffix) {
				e.s.SetFaults(c.faults)
			}
			return nil, nil
		}
		_, err := e.c.Get(e.ctx, eventsS, got.ID)
		e.gw.intercept = nil
		e.s.SetFaults(microsoft.Faults{})
		var te *connector.ThrottledError
		if !errors.As(err, &te) || te.Status != c.status || te.RetryAfter != c.ra {
			t.Fatalf("%s: %v (%+v)", c.name, err, te)
		}
		if last := seen[len(seen)-1]; !strings.HasSuffix(last, c.suffix) {
			t.Fatalf("%s: the failed call was %s", c.name, last)
		}
	}
	if _, err := e.c.Get(e.ctx, eventsS, got.ID); err != nil {
		t.Fatalf("after the faults: %v", err)
	}
}

// A series made in Outlook (absoluteYearly) updated from an end that
// spells the same pattern otherwise (FREQ=YEARLY): the pattern is not
// re-set, so its exceptions stay, and it reads back as written.
func TestSeriesSpellingOnlyUpdate(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	ev := gEvent0("Anniversary", "2026-11-15T11:00:00", "2026-11-15T12:00:00", "India Standard Time")
	ev["recurrence"] = map[string]any{
		"pattern": map[string]any{"type": "absoluteYearly", "interval": 1, "month": 11, "dayOfMonth": 15},
		"range":   map[string]any{"type": "noEnd", "startDate": "2026-11-15"},
	}
	master := addEvent(t, e, ev)
	moved := time.Date(2026, 11, 15, 5, 30, 0, 0, time.UTC)
	_, err := e.s.UpdateEvent(aliceID, master+"."+moved.Format("20060102T150405Z"), map[string]any{"subject": "Anniversary (dinner)"})
	must(t, err)
	read, err := e.c.Get(e.ctx, eventsS, master)
	must(t, err)
	if read.Event.Recurrence.RRULE() != "FREQ=YEARLY;BYMONTH=11;BYMONTHDAY=15" || len(read.Event.Recurrence.Exceptions) != 1 {
		t.Fatalf("read %s %+v", read.Event.Recurrence.RRULE(), read.Event.Recurrence.Exceptions)
	}
	upd := read.Clone()
	r, err := model.ParseRRULE("FREQ=YEARLY", "Asia/Kolkata")
	must(t, err)
	r.Exceptions = read.Event.Recurrence.Exceptions
	upd.Event.Recurrence = r
	got, err := e.c.Update(e.ctx, eventsS, master, read.Marker, upd)
	must(t, err)
	if got.Event.Recurrence.RRULE() != "FREQ=YEARLY" || got.Hash() != upd.Hash() {
		t.Fatalf("update reads back %s %+v", got.Event.Recurrence.RRULE(), got.Event.Recurrence.Exceptions)
	}
}

// All-day occurrences on the days daylight saving changes (23 and 25
// hours long in the series zone) keep their dates: Sunday series in
// Berlin (29 March, 25 October) and Sydney (5 April, 4 October).
func TestSeriesAllDayOverDSTDays(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	for i, tz := range []string{"Europe/Berlin", "Australia/Sydney"} {
		r, err := model.ParseRRULE("FREQ=WEEKLY;BYDAY=SU", tz)
		must(t, err)
		in := &model.Item{Event: &model.Event{Subject: "Sunday " + tz, AllDay: true, StartDate: "2026-03-01", EndDate: "2026-03-02",
			Series: "master", Recurrence: r}}
		got, err := e.c.Create(e.ctx, year2026, "dst-days-"+string(rune('a'+i)), in)
		must(t, err)
		if got.Hash() != in.Hash() || len(got.Event.Recurrence.Exceptions) != 0 {
			t.Fatalf("%s: read back with exceptions %+v", tz, got.Event.Recurrence.Exceptions)
		}
		view, err := e.s.CalendarView(aliceID, year2026.WindowStart, year2026.WindowEnd)
		must(t, err)
		n := 0
		for _, in := range view {
			if in["seriesMasterId"] != got.ID {
				continue
			}
			st, en := in["start"].(map[string]any), in["end"].(map[string]any)
			sd, err1 := dateTimeTZ{st["dateTime"].(string), "UTC"}.civilDate(tz)
			ed, err2 := dateTimeTZ{en["dateTime"].(string), "UTC"}.civilDate(tz)
			if err1 != nil || err2 != nil || model.ShiftDate(sd, "2026-03-01", "2026-03-02") != ed {
				t.Fatalf("%s: occurrence %s..%s", tz, sd, ed)
			}
			n++
		}
		if n != 44 { // the Sundays from 1 March to 27 December
			t.Fatalf("%s: %d occurrences", tz, n)
		}
	}
}
