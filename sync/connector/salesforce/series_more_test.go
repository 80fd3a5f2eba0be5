package salesforce_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/salesforce"
	"github.com/syncgate/syncgate/sync/model"
)

func sfAllDay(t *testing.T, tz string, xs ...model.Exception) *model.Item {
	t.Helper()
	r, err := model.ParseRRULE("FREQ=WEEKLY;BYDAY=SA;UNTIL=20260502", tz)
	mustOK(t, err)
	r.Exceptions = xs
	return &model.Item{Event: &model.Event{Subject: "Market", AllDay: true, StartDate: "2026-01-03", EndDate: "2026-01-04",
		Series: "master", Recurrence: r}}
}

func sfDates(t *testing.T, it *model.Item, s connector.Scope) string {
	t.Helper()
	occ, err := it.Event.Occurrences(s.WindowStart, s.WindowEnd)
	mustOK(t, err)
	var b []string
	for _, o := range occ {
		if !o.Start.IsZero() {
			t.Fatalf("all-day occurrence with an instant: %+v", o)
		}
		b = append(b, o.StartDate+".."+o.EndDate+"/"+o.Subject)
	}
	return strings.Join(b, " ")
}

// An all-day series is IsAllDayEvent + IsRecurrence2 with a DATE UNTIL:
// written with a cancelled and a moved occurrence (keyed by date) in a
// zone west and one east of UTC, read back with the same hash and dates
// across the DST switches; a person's cancellation in Salesforce is an
// update; the engine's update puts the moved occurrence back.
func TestSeriesAllDay(t *testing.T) {
	ctx := context.Background()
	for _, tz := range []string{"America/New_York", "Europe/Berlin"} {
		t.Run(tz, func(t *testing.T) {
			e := newEnv(t, func(o *salesforce.Options) { o.Series = true })
			s := events(alice, t0.AddDate(0, 0, -7), t0.AddDate(0, 3, 0))
			cancelled := model.Exception{OriginalStart: "2026-03-14", Cancelled: true}
			moved := model.Exception{OriginalStart: "2026-04-04", StartDate: "2026-04-03", EndDate: "2026-04-05", Subject: "Market (long)"}
			in := sfAllDay(t, tz, cancelled, moved)
			got, err := e.conn.Create(ctx, s, "allday-1", in)
			mustOK(t, err)
			if got.Hash() != in.Hash() || sfDates(t, got, s) != sfDates(t, in, s) {
				t.Fatalf("created all-day series reads back differently:\n got %+v\nwant %+v", got.Event.Recurrence, in.Event.Recurrence)
			}
			occ := sfDates(t, got, s)
			if strings.Contains(occ, "2026-03-14") || !strings.Contains(occ, "2026-04-03..2026-04-05/Market (long)") || !strings.HasSuffix(occ, "2026-05-02..2026-05-03/Market") {
				t.Fatalf("occurrences %s", occ)
			}
			var occID string
			for _, o := range e.srv.Occurrences(got.ID) {
				if o["IsAllDayEvent"] != true {
					t.Fatalf("occurrence record not all-day: %v", o)
				}
				if o["ActivityDate"].(time.Time).Format(time.DateOnly) == "2026-04-18" {
					occID = o["Id"].(string)
				}
			}
			if occID == "" {
				t.Fatal("no occurrence record on 18 April")
			}
			e.clk.Advance(time.Minute)
			e.rest(t, alice, "DELETE", "/sobjects/Event/"+occID, nil)
			read, err := e.conn.Get(ctx, s, got.ID)
			mustOK(t, err)
			want := sfAllDay(t, tz, cancelled, moved, model.Exception{OriginalStart: "2026-04-18", Cancelled: true})
			if read.Hash() != want.Hash() {
				t.Fatalf("after a cancellation in Salesforce: %+v", read.Event.Recurrence.Exceptions)
			}
			upd := sfAllDay(t, tz, cancelled, model.Exception{OriginalStart: "2026-04-18", Cancelled: true})
			got2, err := e.conn.Update(ctx, s, got.ID, read.Marker, upd)
			mustOK(t, err)
			if got2.Hash() != upd.Hash() || strings.Contains(sfDates(t, got2, s), "long") {
				t.Fatalf("update reads back %+v", got2.Event.Recurrence.Exceptions)
			}
		})
	}
}

// Extra dates (Google's RDATE) cannot be a Recurrence2PatternText:
// refused with ErrUnsupported and nothing written, never single events.
func TestSeriesExtraDatesRefused(t *testing.T) {
	e := newEnv(t, func(o *salesforce.Options) { o.Series = true })
	ctx := context.Background()
	s := events(alice, t0.AddDate(0, 0, -30), t0.AddDate(1, 0, 0))
	in := sfSeries(t)
	in.Event.Recurrence.RDates = []string{"2026-03-12T15:00:00Z"}
	if _, err := e.conn.Create(ctx, s, "rdate-1", in); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("create with RDATE: %v", err)
	}
	if n := e.live(t, "Event", "rdate-1"); n != 0 {
		t.Fatalf("%d records written for a refused series", n)
	}
}

// Faults on the series calls: REQUEST_LIMIT_EXCEEDED on the occurrence
// query (right after the series record is written, and on a read) is
// ErrOrgLimit; a failed exception write leaves the series half-written,
// and the engine's re-run of the same create converges without a second
// series or a second set of occurrences.
func TestSeriesFaults(t *testing.T) {
	ctx := context.Background()
	s := events(alice, t0.AddDate(0, 0, -30), t0.AddDate(1, 0, 0))
	isQuery := func(r *http.Request) bool { return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "query") }
	t.Run("limit on the occurrence query", func(t *testing.T) {
		e := newEnv(t, func(o *salesforce.Options) { o.Series = true })
		used, limit := e.srv.APIUsage()
		if used >= limit {
			t.Fatal("no allocation to exhaust")
		}
		in := sfSeries(t, sfMoved, sfCancel)
		// The allocation runs out as the series record is upserted.
		e.gw.after = func(req *http.Request, _ *http.Response) {
			if req.Method == http.MethodPatch && strings.Contains(req.URL.Path, "/sobjects/Event/") {
				e.srv.ExhaustAPILimit()
			}
		}
		if _, err := e.conn.Create(ctx, s, "limit-1", in); !errors.Is(err, connector.ErrOrgLimit) {
			t.Fatalf("create with the limit exhausted: %v", err)
		}
		e.gw.after = nil
		e.srv.SetAPILimit(1 << 30)
		got, err := e.conn.Create(ctx, s, "limit-1", in)
		mustOK(t, err)
		if got.Hash() != in.Hash() || e.live(t, "Event", "limit-1") != 1 {
			t.Fatalf("re-run: hash %v, %d series records", got.Hash() == in.Hash(), e.live(t, "Event", "limit-1"))
		}
		// On a read of the series: the occurrence query is refused.
		var n atomic.Int32
		e.gw.after = func(req *http.Request, _ *http.Response) {
			if isQuery(req) && n.Add(1) == 1 {
				e.srv.ExhaustAPILimit()
			}
		}
		if _, err := e.conn.Get(ctx, s, got.ID); !errors.Is(err, connector.ErrOrgLimit) {
			t.Fatalf("get with the limit exhausted on the occurrence query: %v", err)
		}
	})
	t.Run("failed exception write re-run", func(t *testing.T) {
		e := newEnv(t, func(o *salesforce.Options) { o.Series = true })
		in := sfSeries(t, sfMoved, sfCancel)
		// The moved occurrence is written (PATCH), then the connection
		// drops on the next exception write (the cancellation's DELETE).
		var writes atomic.Int32
		e.gw.after = func(req *http.Request, _ *http.Response) {
			if req.Method == http.MethodPatch && strings.Contains(req.URL.Path, "/sobjects/Event/00U") && writes.Add(1) == 1 {
				e.gw.mu.Lock()
				e.gw.failNext = errors.New("connection reset by peer")
				e.gw.mu.Unlock()
			}
		}
		if _, err := e.conn.Create(ctx, s, "partial-1", in); err == nil {
			t.Fatal("a failed exception write went unnoticed")
		}
		e.gw.after = nil
		if writes.Load() != 1 {
			t.Fatalf("%d occurrence writes before the failure", writes.Load())
		}
		before := len(e.srv.Occurrences(e.seriesID(t, "partial-1")))
		got, err := e.conn.Create(ctx, s, "partial-1", in)
		mustOK(t, err)
		if got.Hash() != in.Hash() || occString(t, got, s.WindowStart, s.WindowEnd) != occString(t, in, s.WindowStart, s.WindowEnd) {
			t.Fatalf("re-run reads back %+v", got.Event.Recurrence.Exceptions)
		}
		if n := e.live(t, "Event", "partial-1"); n != 1 {
			t.Fatalf("%d series records after the re-run", n)
		}
		if after := len(e.srv.Occurrences(got.ID)); after != before-1 {
			t.Fatalf("occurrence records %d before the re-run, %d after (one cancelled)", before, after)
		}
		// A third run writes nothing more.
		again, err := e.conn.Create(ctx, s, "partial-1", in)
		mustOK(t, err)
		if again.Hash() != in.Hash() || len(e.srv.Occurrences(got.ID)) != before-1 {
			t.Fatal("a converged series changed on another run")
		}
	})
}

// seriesID is the id of the series record carrying key.
func (e *env) seriesID(t *testing.T, key string) string {
	t.Helper()
	recs, err := e.srv.Records("Event")
	mustOK(t, err)
	for _, r := range recs {
		if !r.Deleted && r.Fields["Syncgate_Id__c"] == key {
			return r.Fields["Id"].(string)
		}
	}
	t.Fatalf("no series record for %s", key)
	return ""
}
