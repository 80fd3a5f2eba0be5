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
		"SELECT Id, IsDeleted, CreatedDate, StartDateTime, EndDateTime, Subject, Location, IsRecurrence2Exception FROM Event WHERE RecurrenceActivityId = "+quote(seriesID), true)
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
	last := ev.Start
	for _, r := range recs {
		if t, ok := parseTime(r.CreatedDate); ok && t.Equal(newest) {
			gen = append(gen, r)
			if st, ok := parseTime(r.StartDateTime); ok && st.After(last) {
				last = st
			}
		}
	}
	sort.Slice(gen, func(i, j int) bool { return gen[i].ID < gen[j].ID })
	keys, err := ev.OriginalStarts(ev.Start, last.AddDate(1, 0, 1))
	if err != nil || len(keys) < len(gen) {
		return nil, false, nil
	}
	out := make([]occurrence, len(gen))
	for i, r := range gen {
		out[i] = occurrence{rec: r, orig: keys[i]}
		if !r.IsRecurrence2Exception {
			if st, ok := parseTime(r.StartDateTime); !ok || st.UTC().Format(time.RFC3339) != keys[i] {
				if !r.IsDeleted {
					return nil, false, nil
				}
			}
		}
	}
	return out, true, nil
}

// seriesItem completes the series record r into one item with the
// exceptions whose original start is in the scope's window.
func (c *Connector) seriesItem(ctx context.Context, s connector.Scope, r *record) (*model.Item, error) {
	it, err := toItem("Event", r, nil)
	if err != nil {
		return nil, err
	}
	it.Event.Series = "master"
	if it.Event.AllDay {
		return it, nil
	}
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
	if ev.AllDay {
		return nil, fmt.Errorf("%w: all-day series are not written to Salesforce", connector.ErrUnsupported)
	}
	r := ev.Recurrence.Normalize()
	if err := r.Validate(); err != nil {
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
		orig, _ := time.Parse(time.RFC3339, o.orig)
		if !has {
			if orig.Before(s.WindowStart) || (!s.WindowEnd.IsZero() && !orig.Before(s.WindowEnd)) {
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
		st, en := x.Start, x.End
		if st.IsZero() {
			st, en = orig, orig.Add(dur)
		}
		subj, loc := n.Subject, n.Location
		if x.Subject != "" {
			subj = x.Subject
		}
		if x.Location != "" {
			loc = x.Location
		}
		cur := o.rec
		cs, _ := parseTime(cur.StartDateTime)
		ce, _ := parseTime(cur.EndDateTime)
		if cs.Equal(st) && ce.Equal(en) && strings.TrimSpace(cur.Subject) == subj && strings.TrimSpace(cur.Location) == loc {
			continue
		}
		body := map[string]any{"StartDateTime": wireTime(st), "EndDateTime": wireTime(en), "Subject": nullable(subj), "Location": nullable(loc)}
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
		out.Items = append(out.Items, it)
	}
	return out, nil
}
