package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// Lightning event series (Options.Series): the series record
// (IsRecurrence2, Recurrence2PatternText "RRULE:...",
// Recurrence2PatternTimeZone) is the item; its occurrence records
// (RecurrenceActivityId = the series) are folded into it and never listed
// on their own. Salesforce creates a series' occurrences together, in the
// order of their starts, so the occurrence records of the newest
// generation (the newest CreatedDate), in Id order, stand for the rule's
// occurrences in order: a deleted one is a cancelled occurrence, one
// marked IsRecurrence2Exception is moved or edited. Records that do not
// fit (a plain occurrence off its slot) leave the series without a
// readable recurrence: the engine skips it and says so.
//
// An all-day series is an IsAllDayEvent series record (ActivityDate,
// whole days of DurationInMinutes) with a DATE UNTIL; its occurrence
// records are all-day too and are matched by ActivityDate, and its
// exceptions are keyed YYYY-MM-DD. Recurrence2PatternText holds one RRULE:
// a series with extra dates (Google's RDATE) is refused (ErrUnsupported).

// SupportsSeries implements connector.SeriesCapable.
func (c *Connector) SupportsSeries() bool { return c.series }

var _ connector.SeriesCapable = (*Connector)(nil)

var seriesFields = []string{"IsRecurrence2", "Recurrence2PatternText", "Recurrence2PatternTimeZone", "RecurrenceActivityId", "IsRecurrence2Exception"}

// fields is the select list of obj for this connector.
func (c *Connector) fields(obj string) []string {
	f := objectFields[obj]
	if obj == "Event" && c.series {
		f = append(append([]string{}, f...), seriesFields...)
	}
	return f
}

// occurrence is one occurrence record with its original start.
type occurrence struct {
	rec  record
	orig string // model.Exception key
}

// occurrencesOf maps a series' occurrence records to original starts; ok
// is false when they do not fit the rule.
func (c *Connector) occurrencesOf(ctx context.Context, ev *model.Event, seriesID string) ([]occurrence, bool, error) {
	recs, err := c.query(ctx, "salesforce: query series occurrences",
		"SELECT Id, IsDeleted, CreatedDate, StartDateTime, EndDateTime, ActivityDate, DurationInMinutes, IsAllDayEvent, Subject, Location, IsRecurrence2Exception FROM Event WHERE RecurrenceActivityId = "+quote(seriesID), true)
	if err != nil {
		return nil, false, err
	}
	var newest time.Time
	for _, r := range recs {
		if t, ok := parseTime(r.CreatedDate); ok && t.After(newest) {
			newest = t
		}
	}
	var gen []record
	first := ev.Start
	if ev.AllDay {
		first, _ = time.Parse(time.DateOnly, ev.StartDate)
	}
	last := first
	for _, r := range recs {
		if t, ok := parseTime(r.CreatedDate); ok && t.Equal(newest) {
			gen = append(gen, r)
			if st, ok := parseTime(r.StartDateTime); ok && st.After(last) {
				last = st
			}
		}
	}
	sort.Slice(gen, func(i, j int) bool { return gen[i].ID < gen[j].ID })
	keys, err := ev.OriginalStarts(first, last.AddDate(1, 0, 1))
	if err != nil || len(keys) < len(gen) {
		return nil, false, nil
	}
	out := make([]occurrence, len(gen))
	for i, r := range gen {
		out[i] = occurrence{rec: r, orig: keys[i]}
		if !r.IsRecurrence2Exception && !r.IsDeleted && occurrenceKey(&r, ev.AllDay) != keys[i] {
			return nil, false, nil
		}
	}
	return out, true, nil
}

// occurrenceKey is where an occurrence record is: its date (all-day) or
// its start instant, as a model.Exception key.
func occurrenceKey(r *record, allDay bool) string {
	if allDay {
		if d, err := time.Parse(time.DateOnly, r.ActivityDate); err == nil {
			return d.Format(time.DateOnly)
		}
		if st, ok := parseTime(r.StartDateTime); ok {
			return st.UTC().Format(time.DateOnly)
		}
		return ""
	}
	if st, ok := parseTime(r.StartDateTime); ok {
		return st.UTC().Format(time.RFC3339)
	}
	return ""
}

// occurrenceDays is an all-day occurrence record's length in days.
func occurrenceDays(r *record) int {
	if r.DurationInMinutes != nil && *r.DurationInMinutes > 0 {
		return (*r.DurationInMinutes + 1439) / 1440
	}
	return 1
}

// keyTime is the start an occurrence key stands for: the instant, or the
// date's midnight UTC (how the window is compared for all-day keys).
func keyTime(k string) time.Time {
	if t, err := time.Parse(time.RFC3339, k); err == nil {
		return t
	}
	d, _ := time.Parse(time.DateOnly, k)
	return d
}

// seriesItem completes the series record r into one item with the
// exceptions whose original start is in the scope's window.
func (c *Connector) seriesItem(ctx context.Context, s connector.Scope, r *record) (*model.Item, error) {
	it, err := toItem("Event", r, nil)
	if err != nil {
		return nil, err
	}
	it.Event.Series = "master"
	rule, err := model.ParseRRULE(r.Recurrence2PatternText, r.Recurrence2PatternTimeZone)
	if err != nil {
		return it, nil
	}
	it.Event.Recurrence = rule
	occ, ok, err := c.occurrencesOf(ctx, it.Event, r.ID)
	if err != nil {
		return nil, err
	}
	if !ok {
		it.Event.Recurrence = nil
		return it, nil
	}
	dur := it.Event.End.Sub(it.Event.Start)
	var xs []model.Exception
	for _, o := range occ {
		x := model.Exception{OriginalStart: o.orig}
		switch {
		case o.rec.IsDeleted:
			x.Cancelled = true
		case o.rec.IsRecurrence2Exception && it.Event.AllDay:
			sd := occurrenceKey(&o.rec, true)
			d, err := time.Parse(time.DateOnly, sd)
			if err == nil {
				ed := d.AddDate(0, 0, occurrenceDays(&o.rec)).Format(time.DateOnly)
				if sd != o.orig || ed != model.ShiftDate(o.orig, it.Event.StartDate, it.Event.EndDate) {
					x.StartDate, x.EndDate = sd, ed
				}
			}
			if strings.TrimSpace(o.rec.Subject) != it.Event.Subject {
				x.Subject = o.rec.Subject
			}
			if strings.TrimSpace(o.rec.Location) != it.Event.Location {
				x.Location = o.rec.Location
			}
		case o.rec.IsRecurrence2Exception:
			st, ok1 := parseTime(o.rec.StartDateTime)
			en, ok2 := parseTime(o.rec.EndDateTime)
			if ok1 && ok2 && (st.UTC().Format(time.RFC3339) != o.orig || en.Sub(st) != dur) {
				x.Start, x.End = st, en
			}
			if strings.TrimSpace(o.rec.Subject) != it.Event.Subject {
				x.Subject = o.rec.Subject
			}
			if strings.TrimSpace(o.rec.Location) != it.Event.Location {
				x.Location = o.rec.Location
			}
		default:
			continue
		}
		xs = append(xs, x)
	}
	rule.Exceptions = xs
	in, _ := rule.SplitExceptions(s.WindowStart, s.WindowEnd)
	rule.Exceptions = in
	n := it.Event.Normalize()
	it.Event = &n
	return it, nil
}

// seriesGet reads a series record whole.
func (c *Connector) seriesGet(ctx context.Context, s connector.Scope, id string) (*model.Item, error) {
	recs, err := c.query(ctx, "salesforce: query series", "SELECT "+strings.Join(c.fields("Event"), ", ")+" FROM Event WHERE Id = "+quote(id), false)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("salesforce: series %s: %w", id, connector.ErrNotFound)
	}
	if !recs[0].IsRecurrence2 {
		return toItem("Event", &recs[0], nil)
	}
	return c.seriesItem(ctx, s, &recs[0])
}

// seriesBody is the write body of a series record.
func seriesBody(ev *model.Event) (map[string]any, error) {
	r := ev.Recurrence.Normalize()
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", connector.ErrUnsupported, err)
	}
	if err := r.PatternOnly(); err != nil {
		// Recurrence2PatternText holds one RRULE: extra dates (Google's
		// RDATE) cannot be written, and are never flattened into events.
		return nil, fmt.Errorf("%w: %v", connector.ErrUnsupported, err)
	}
	single := *ev
	single.Series, single.Recurrence = "", nil
	b, err := eventBody(&single)
	if err != nil {
		return nil, err
	}
	tz := r.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	b["IsRecurrence2"] = true
	b["Recurrence2PatternText"] = "RRULE:" + r.RRULE()
	if ev.AllDay {
		b["Recurrence2PatternText"] = "RRULE:" + r.RRULEDate() // a DATE UNTIL for a date series (RFC 5545)
	}
	b["Recurrence2PatternTimeZone"] = tz
	return b, nil
}

// writeExceptions brings the occurrence records whose original start is
// in the window to ev's exceptions: DELETE cancels, PATCH moves or edits
// (or puts back). A cancelled occurrence cannot be restored.
func (c *Connector) writeExceptions(ctx context.Context, s connector.Scope, id string, ev *model.Event) error {
	const op = "salesforce: write series occurrence"
	n := ev.Normalize()
	occ, ok, err := c.occurrencesOf(ctx, &n, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s: the series' occurrence records do not fit its rule", connector.ErrUnsupported, op)
	}
	want := map[string]model.Exception{}
	in, _ := n.Recurrence.SplitExceptions(s.WindowStart, s.WindowEnd)
	for _, x := range in {
		want[x.OriginalStart] = x
	}
	dur := n.End.Sub(n.Start)
	for _, o := range occ {
		x, has := want[o.orig]
		orig := keyTime(o.orig)
		if !has {
			probe := model.Recurrence{Exceptions: []model.Exception{{OriginalStart: o.orig}}}
			if inside, _ := probe.SplitExceptions(s.WindowStart, s.WindowEnd); len(inside) == 0 {
				continue
			}
			if o.rec.IsDeleted {
				return fmt.Errorf("%w: %s: a cancelled occurrence cannot be restored (%s)", connector.ErrUnsupported, op, o.orig)
			}
			if !o.rec.IsRecurrence2Exception {
				continue
			}
		}
		if o.rec.IsDeleted {
			continue
		}
		if x.Cancelled {
			rep, err := c.send(ctx, op, http.MethodDelete, c.api+"/sobjects/Event/"+o.rec.ID, nil, nil)
			if err != nil {
				return err
			}
			if rep.status != http.StatusNoContent && !notFound(rep) {
				return writeFail(op, rep)
			}
			continue
		}
		subj, loc := n.Subject, n.Location
		if x.Subject != "" {
			subj = x.Subject
		}
		if x.Location != "" {
			loc = x.Location
		}
		cur := o.rec
		sameText := strings.TrimSpace(cur.Subject) == subj && strings.TrimSpace(cur.Location) == loc
		var body map[string]any
		if n.AllDay {
			sd, ed := x.StartDate, x.EndDate
			if sd == "" {
				sd, ed = o.orig, model.ShiftDate(o.orig, n.StartDate, n.EndDate)
			}
			d, err1 := time.Parse(time.DateOnly, sd)
			e, err2 := time.Parse(time.DateOnly, ed)
			if err1 != nil || err2 != nil || !e.After(d) {
				return fmt.Errorf("%w: %s: all-day exception without valid dates (%s)", connector.ErrUnsupported, op, o.orig)
			}
			days := int(e.Sub(d) / day)
			if occurrenceKey(&cur, true) == sd && occurrenceDays(&cur) == days && sameText {
				continue
			}
			body = map[string]any{"IsAllDayEvent": true, "ActivityDate": sd, "StartDateTime": wireTime(d), "DurationInMinutes": days * 1440,
				"Subject": nullable(subj), "Location": nullable(loc)}
		} else {
			st, en := x.Start, x.End
			if st.IsZero() {
				st, en = orig, orig.Add(dur)
			}
			cs, _ := parseTime(cur.StartDateTime)
			ce, _ := parseTime(cur.EndDateTime)
			if cs.Equal(st) && ce.Equal(en) && sameText {
				continue
			}
			body = map[string]any{"StartDateTime": wireTime(st), "EndDateTime": wireTime(en), "Subject": nullable(subj), "Location": nullable(loc)}
		}
		rep, err := c.send(ctx, op, http.MethodPatch, c.api+"/sobjects/Event/"+o.rec.ID, body, nil)
		if err != nil {
			return err
		}
		if rep.status != http.StatusNoContent && rep.status != http.StatusOK {
			return writeFail(op, rep)
		}
	}
	return nil
}

// foldSeries replaces the occurrence records of a read by their series,
// read whole; deleted occurrences are cancellations, not deletions.
func (c *Connector) foldSeries(ctx context.Context, s connector.Scope, out *connector.Changes, live, deleted []record) (*connector.Changes, error) {
	series := map[string]bool{}
	var keepLive []record
	for _, r := range live {
		switch {
		case r.RecurrenceActivityID != "":
			series[r.RecurrenceActivityID] = true
		case r.IsRecurrence2:
			series[r.ID] = true
		default:
			keepLive = append(keepLive, r)
		}
	}
	for _, r := range deleted {
		if r.RecurrenceActivityID != "" {
			series[r.RecurrenceActivityID] = true
		} else {
			out.Deleted = append(out.Deleted, r.ID)
		}
	}
	for i := range keepLive {
		it, err := toItem("Event", &keepLive[i], nil)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, it)
	}
	ids := make([]string, 0, len(series))
	for id := range series {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		it, err := c.seriesGet(ctx, s, id)
		if errors.Is(err, connector.ErrNotFound) {
			continue // deleted: its own tombstone says so
		}
		if err != nil {
			return nil, err
		}
		if it.Event != nil && it.Event.Recurrence != nil && !s.WindowEnd.IsZero() {
			// The query lists every series record whatever its dates (its
			// own start is the first occurrence's); one with no occurrence
			// in the window is not listed, and an incremental read reports
			// it departed (a "this and following" split's ended original).
			if keys, err := it.Event.OriginalStarts(s.WindowStart, s.WindowEnd); err == nil && len(keys) == 0 {
				if !out.Full {
					out.Departed = append(out.Departed, it)
				}
				continue
			}
		}
		out.Items = append(out.Items, it)
	}
	return out, nil
}
