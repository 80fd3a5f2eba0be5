package google

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/calendar/v3"

	gemu "github.com/syncgate/syncgate/emulate/google"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

func allDayWeekly(t *testing.T, xs ...model.Exception) *model.Item {
	t.Helper()
	r, err := model.ParseRRULE("FREQ=WEEKLY;BYDAY=SA;UNTIL=20270227", "Europe/Berlin")
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

// An all-day series is start.date with a DATE UNTIL, its instances dates:
// written with a cancelled and a moved occurrence (keyed by date), read
// back with the same hash and dates; a cancellation in Google Calendar is
// an update; the engine's update moves the occurrence back.
func TestSeriesAllDay(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	cancelled := model.Exception{OriginalStart: "2026-11-14", Cancelled: true}
	moved := model.Exception{OriginalStart: "2026-11-21", StartDate: "2026-11-20", EndDate: "2026-11-22", Subject: "Market (long)"}
	in := allDayWeekly(t, cancelled, moved)
	got, err := e.c.Create(e.ctx, eventsS, "allday-1", in)
	must(t, err)
	if got.Hash() != in.Hash() || dateOcc(t, got) != dateOcc(t, in) {
		t.Fatalf("created all-day series reads back differently:\n got %+v\nwant %+v", got.Event.Recurrence, in.Event.Recurrence)
	}
	occ := dateOcc(t, got)
	if strings.Contains(occ, "2026-11-14") || !strings.Contains(occ, "2026-11-20..2026-11-22/Market (long)") || !strings.HasSuffix(occ, "2027-02-27..2027-02-28/Market") {
		t.Fatalf("occurrences %s", occ)
	}
	// Stored as Google has it: dates, a DATE UNTIL, instances by date.
	cal := e.userCalendar(alice)
	m, err := cal.Events.Get("primary", got.ID).Do()
	must(t, err)
	if m.Start.Date != "2026-10-03" || m.Start.DateTime != "" || len(m.Recurrence) != 1 || !strings.HasSuffix(m.Recurrence[0], "UNTIL=20270227") {
		t.Fatalf("master %+v %v", m.Start, m.Recurrence)
	}
	must(t, cal.Events.Delete("primary", got.ID+"_20261205").Do())
	ch := e.changes(eventsS, "")
	if len(ch.Items) != 1 || len(ch.Deleted) != 0 {
		t.Fatalf("listing: %d items, deleted %v", len(ch.Items), ch.Deleted)
	}
	want := allDayWeekly(t, cancelled, moved, model.Exception{OriginalStart: "2026-12-05", Cancelled: true})
	if ch.Items[0].Hash() != want.Hash() {
		t.Fatalf("after a cancellation in Google Calendar: %+v", ch.Items[0].Event.Recurrence.Exceptions)
	}
	upd := allDayWeekly(t, cancelled, model.Exception{OriginalStart: "2026-12-05", Cancelled: true})
	got2, err := e.c.Update(e.ctx, eventsS, got.ID, ch.Items[0].Marker, upd)
	must(t, err)
	if got2.Hash() != upd.Hash() || strings.Contains(dateOcc(t, got2), "long") {
		t.Fatalf("update reads back %+v", got2.Event.Recurrence.Exceptions)
	}
}

// EXDATE (with TZID, in UTC, or as a DATE) is a cancelled occurrence and
// RDATE an extra date, read into the model; the model's occurrences equal
// Google's own expansion; a series with extra dates round-trips here, and
// an update keeps the EXDATE lines (also those outside the window).
func TestSeriesExdateRdate(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	cal := e.userCalendar(alice)
	cases := []struct {
		name       string
		start, end *calendar.EventDateTime
		lines      []string
		cancelled  []string
		rdates     []string
	}{
		{"timed", &calendar.EventDateTime{DateTime: "2026-10-05T09:00:00+02:00", TimeZone: "Europe/Berlin"},
			&calendar.EventDateTime{DateTime: "2026-10-05T09:30:00+02:00", TimeZone: "Europe/Berlin"},
			[]string{"RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE;TZID=Europe/Berlin:20261012T090000,20261109T090000", "EXDATE:20261116T080000Z",
				"RDATE;TZID=Europe/Berlin:20261104T150000", "RDATE:20261202T120000Z"},
			[]string{"2026-11-09T08:00:00Z", "2026-11-16T08:00:00Z"}, []string{"2026-11-04T14:00:00Z", "2026-12-02T12:00:00Z"}},
		{"all-day", &calendar.EventDateTime{Date: "2026-10-03"}, &calendar.EventDateTime{Date: "2026-10-04"},
			[]string{"RRULE:FREQ=WEEKLY;BYDAY=SA;COUNT=20", "EXDATE;VALUE=DATE:20261010,20261212", "RDATE;VALUE=DATE:20261224"},
			[]string{"2026-12-12"}, []string{"2026-12-24"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := cal.Events.Insert("primary", &calendar.Event{Summary: c.name, Start: c.start, End: c.end, Recurrence: c.lines}).Do()
			must(t, err)
			it, err := e.c.Get(e.ctx, eventsS, m.Id)
			must(t, err)
			r := it.Event.Recurrence
			if r == nil {
				t.Fatal("EXDATE/RDATE left the series unreadable")
			}
			var cancelled []string
			for _, x := range r.Exceptions {
				if x.Cancelled {
					cancelled = append(cancelled, x.OriginalStart)
				}
			}
			if !slices.Equal(cancelled, c.cancelled) || !slices.Equal(r.RDates, c.rdates) {
				t.Fatalf("cancelled %v (want %v), extra dates %v (want %v)", cancelled, c.cancelled, r.RDates, c.rdates)
			}
			if err := r.PatternOnly(); !errors.Is(err, model.ErrRecurrence) {
				t.Fatalf("a series with RDATE passes as a pattern: %v", err)
			}
			// The model expands what Google does.
			var em []string
			must(t, cal.Events.Instances("primary", m.Id).TimeMin(winStart.Format(time.RFC3339)).TimeMax(winEnd.Format(time.RFC3339)).
				Pages(e.ctx, func(p *calendar.Events) error {
					for _, in := range p.Items {
						em = append(em, startKey(t, in.Start))
					}
					return nil
				}))
			occ, err := it.Event.Occurrences(winStart, winEnd)
			must(t, err)
			var mo []string
			for _, o := range occ {
				if o.StartDate != "" {
					mo = append(mo, o.StartDate)
				} else {
					mo = append(mo, o.Start.UTC().Format(time.RFC3339))
				}
			}
			if !slices.Equal(mo, em) || len(em) == 0 {
				t.Fatalf("model %v\nGoogle %v", mo, em)
			}
			// Written back through the connector (another cancellation, a
			// new rule): the extra dates stay, the EXDATE lines stay.
			upd := it.Clone()
			upd.Event.Recurrence.Exceptions = append(upd.Event.Recurrence.Exceptions, model.Exception{OriginalStart: mo[len(mo)-1], Cancelled: true})
			got, err := e.c.Update(e.ctx, eventsS, it.ID, it.Marker, upd)
			must(t, err)
			if got.Hash() != upd.Hash() {
				t.Fatalf("update reads back %+v", got.Event.Recurrence)
			}
			after, err := cal.Events.Get("primary", m.Id).Do()
			must(t, err)
			for _, l := range c.lines {
				if strings.HasPrefix(l, "EXDATE") && !slices.Contains(after.Recurrence, l) {
					t.Errorf("EXDATE line %q dropped: %v", l, after.Recurrence)
				}
			}
		})
	}
	// Created from the model with extra dates: an RDATE line, same hash.
	in := gSeries(t)
	in.Event.Recurrence.RDates = []string{"2026-12-03T16:00:00Z"}
	got, err := e.c.Create(e.ctx, eventsS, "rdate-1", in)
	must(t, err)
	if got.Hash() != in.Hash() || !slices.Equal(got.Event.Recurrence.RDates, in.Event.Recurrence.RDates) {
		t.Fatalf("series with an extra date reads back %+v", got.Event.Recurrence)
	}
}

func startKey(t *testing.T, dt *calendar.EventDateTime) string {
	t.Helper()
	if dt.Date != "" {
		return dt.Date
	}
	st, err := time.Parse(time.RFC3339, dt.DateTime)
	must(t, err)
	return st.UTC().Format(time.RFC3339)
}

// onInstances answers the connector's events.instances calls.
func onInstances(answer func() *http.Response) func(*http.Request, int) (*http.Response, error) {
	return func(r *http.Request, _ int) (*http.Response, error) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/instances") {
			return answer(), nil
		}
		return nil, nil
	}
}

// Faults on each series call: throttling (403 rateLimitExceeded, 429 with
// Retry-After) on events.instances stops the pass with ThrottledError; a
// 410 there means the series went away (not found: skipped in a listing,
// its tombstone follows); 412 on the master's patch is a conflict.
func TestSeriesFaults(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	in := gSeries(t, model.Exception{OriginalStart: "2026-12-14T08:00:00Z", Cancelled: true})
	got, err := e.c.Create(e.ctx, eventsS, "faults-1", in)
	must(t, err)
	for _, c := range []struct {
		name   string
		resp   func() *http.Response
		status int
		ra     time.Duration
	}{
		{"403 rateLimitExceeded", func() *http.Response {
			return synthetic(403, `{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}]}}`)
		}, 403, 0},
		{"429", func() *http.Response {
			return synthetic(429, `{"error":{"code":429,"message":"x","status":"RESOURCE_EXHAUSTED"}}`, "Retry-After", "17")
		}, 429, 17 * time.Second},
	} {
		e.gw.intercept = onInstances(c.resp)
		for _, call := range []func() error{
			func() error { _, err := e.c.Get(e.ctx, eventsS, got.ID); return err },
			func() error { _, err := e.c.Changes(e.ctx, eventsS, ""); return err },
			func() error { _, err := e.c.Update(e.ctx, eventsS, got.ID, got.Marker, gSeries(t)); return err },
		} {
			err := call()
			var te *connector.ThrottledError
			if !errors.As(err, &te) || te.Status != c.status || te.RetryAfter != c.ra {
				t.Fatalf("%s on instances: %v (%+v)", c.name, err, te)
			}
		}
	}
	gone := func() *http.Response {
		return synthetic(410, `{"error":{"code":410,"message":"Resource has been deleted","errors":[{"domain":"global","reason":"deleted","message":"Resource has been deleted"}]}}`)
	}
	e.gw.intercept = onInstances(gone)
	if _, err := e.c.Get(e.ctx, eventsS, got.ID); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("410 on instances: Get %v", err)
	}
	ch, err := e.c.Changes(e.ctx, eventsS, "")
	if err != nil || len(ch.Items) != 0 || len(ch.Deleted) != 0 {
		t.Fatalf("410 on instances during a listing: %+v, %v", ch, err)
	}
	// 412 on the master's patch: a conflict to re-read, nothing written.
	e.gw.intercept = func(r *http.Request, _ int) (*http.Response, error) {
		if r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, "/events/"+got.ID) {
			return synthetic(412, `{"error":{"code":412,"message":"Precondition Failed","errors":[{"domain":"global","reason":"conditionNotMet","message":"Precondition Failed"}]}}`), nil
		}
		return nil, nil
	}
	cur, err := e.c.Get(e.ctx, eventsS, got.ID)
	must(t, err)
	renamed := gSeries(t, model.Exception{OriginalStart: "2026-12-14T08:00:00Z", Cancelled: true}, model.Exception{OriginalStart: "2026-12-21T08:00:00Z", Cancelled: true})
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
	// The retry after the conflict converges.
	res, err := e.c.Update(e.ctx, eventsS, got.ID, after.Marker, renamed)
	must(t, err)
	if res.Hash() != renamed.Hash() {
		t.Fatalf("retry reads back %+v", res.Event.Recurrence.Exceptions)
	}
}

// The emulator's own fault injection, switched on just as the connector
// asks for a series' instances: Calendar's 403 rateLimitExceeded and 429
// surface as ThrottledError on that call, and the next read works.
func TestSeriesEmulatorFaults(t *testing.T) {
	e := newEnv(t, Options{Series: true})
	got, err := e.c.Create(e.ctx, eventsS, "emufaults-1", gSeries(t))
	must(t, err)
	for _, status := range []int{403, 429} {
		var last string
		e.gw.intercept = func(r *http.Request, _ int) (*http.Response, error) {
			last = r.URL.Path
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/instances") {
				e.s.SetFaults(gemu.Faults{RateLimit: status})
			}
			return nil, nil
		}
		_, err := e.c.Get(e.ctx, eventsS, got.ID)
		e.gw.intercept = nil
		e.s.SetFaults(gemu.Faults{})
		var te *connector.ThrottledError
		if !errors.As(err, &te) || te.Status != status || !strings.HasSuffix(last, "/instances") {
			t.Fatalf("%d on instances: %v (last call %s)", status, err, last)
		}
	}
	if _, err := e.c.Get(e.ctx, eventsS, got.ID); err != nil {
		t.Fatalf("after the faults: %v", err)
	}
}

// Recurrence lines come from the service: any lines either read as a
// valid rule whose extra dates are keys of the series' kind, or leave the
// master unreadable; never a panic.
func FuzzSeriesRule(f *testing.F) {
	f.Add("RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE;TZID=Europe/Berlin:20261109T090000", "RDATE:20261104T140000Z", false)
	f.Add("RRULE:FREQ=DAILY;UNTIL=20261226", "EXDATE;VALUE=DATE:20261225", "RDATE;VALUE=DATE:20261231", true)
	f.Fuzz(func(t *testing.T, a, b, c string, allDay bool) {
		m := &calendar.Event{Start: &calendar.EventDateTime{DateTime: "2026-11-02T09:00:00+01:00", TimeZone: "Europe/Berlin"},
			Recurrence: []string{a, b, c}}
		if allDay {
			m.Start = &calendar.EventDateTime{Date: "2026-11-02"}
		}
		r, _, ok := seriesRule(m)
		if !ok {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("read an invalid rule: %v", err)
		}
		for _, k := range r.RDates {
			_, errT := time.Parse(time.RFC3339, k)
			_, errD := time.Parse(time.DateOnly, k)
			if (allDay && errD != nil) || (!allDay && errT != nil) {
				t.Fatalf("extra date %q in a series with allDay=%v", k, allDay)
			}
		}
	})
}
