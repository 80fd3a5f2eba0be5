package google

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/api/calendar/v3"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// Event series (Options.Series): a recurring event is one item, its
// master with the RRULE line of its recurrence (in the master's start
// time zone) and the exceptions — moved or edited instances, and
// cancelled instances, which Google lists with status "cancelled",
// recurringEventId and originalStartTime — whose original start lies in
// the window, read with events.instances over the window (showDeleted).
// A cancelled instance is never a series delete; instances are never
// items of their own. A master whose recurrence has lines other than one
// RRULE (EXDATE, RDATE) is returned without a recurrence: the engine
// skips it and says why.

// SupportsSeries implements connector.SeriesCapable.
func (c *Connector) SupportsSeries() bool { return c.series }

var _ connector.SeriesCapable = (*Connector)(nil)

// seriesChanges folds a listing's instances into their masters.
func (c *Connector) seriesChanges(ctx context.Context, s connector.Scope, ch *connector.Changes, token string, evs []*calendar.Event) (*connector.Changes, error) {
	masters := map[string]bool{}
	for _, ev := range evs {
		switch {
		case ev.RecurringEventId != "":
			masters[ev.RecurringEventId] = true
		case ev.Status == "cancelled":
			ch.Deleted = append(ch.Deleted, ev.Id)
		case len(ev.Recurrence) > 0:
			masters[ev.Id] = true
		default:
			it, err := c.eventItem(s.User, ev)
			if err != nil {
				return nil, fmt.Errorf("google list events: %w", err)
			}
			if token != "" && !inWindow(it.Event, s) {
				continue
			}
			ch.Items = append(ch.Items, it)
		}
	}
	ids := make([]string, 0, len(masters))
	for id := range masters {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m, err := c.getEvent(ctx, s, id)
		if err != nil {
			if errors.Is(err, connector.ErrNotFound) {
				continue // the series is gone: its own tombstone says so
			}
			return nil, err
		}
		it, err := c.seriesItem(ctx, s, m)
		if err != nil {
			return nil, err
		}
		if it.Event.Recurrence != nil && !hasOccurrence(it.Event, s) {
			continue // no occurrence in the window
		}
		ch.Items = append(ch.Items, it)
	}
	return ch, nil
}

func hasOccurrence(e *model.Event, s connector.Scope) bool {
	keys, err := e.OriginalStarts(s.WindowStart, s.WindowEnd)
	return err != nil || len(keys) > 0
}

// seriesRule reads the master's RRULE in its start zone.
func seriesRule(m *calendar.Event) (*model.Recurrence, bool) {
	if len(m.Recurrence) != 1 || m.Start == nil || m.Start.DateTime == "" {
		return nil, false
	}
	line := m.Recurrence[0]
	if !strings.HasPrefix(strings.ToUpper(line), "RRULE:") {
		return nil, false
	}
	r, err := model.ParseRRULE(line, m.Start.TimeZone)
	if err != nil {
		return nil, false
	}
	return r, true
}

// seriesItem is master m completed with the window's exceptions.
func (c *Connector) seriesItem(ctx context.Context, s connector.Scope, m *calendar.Event) (*model.Item, error) {
	it, err := c.eventItem(s.User, m)
	if err != nil {
		return nil, err
	}
	it.Event.Series = "master"
	r, ok := seriesRule(m)
	if !ok {
		return it, nil
	}
	it.Event.Recurrence = r
	insts, err := c.instances(ctx, s, m.Id)
	if err != nil {
		return nil, err
	}
	expected, err := it.Event.OriginalStarts(s.WindowStart, s.WindowEnd)
	if err != nil {
		it.Event.Recurrence = nil
		return it, nil
	}
	dur := it.Event.End.Sub(it.Event.Start)
	var xs []model.Exception
	for _, k := range expected {
		in := insts[k]
		if in == nil || in.Status == "cancelled" {
			xs = append(xs, model.Exception{OriginalStart: k, Cancelled: true})
			continue
		}
		x := model.Exception{OriginalStart: k}
		if st, err := instant(in.Start); err == nil {
			if en, err := instant(in.End); err == nil && (st.UTC().Format(time.RFC3339) != k || en.Sub(st) != dur) {
				x.Start, x.End = st, en
			}
		}
		if strings.TrimSpace(in.Summary) != it.Event.Subject {
			x.Subject = in.Summary
		}
		if strings.TrimSpace(in.Location) != it.Event.Location {
			x.Location = in.Location
		}
		if x != (model.Exception{OriginalStart: k}) {
			xs = append(xs, x)
		}
	}
	r.Exceptions = xs
	n := it.Event.Normalize()
	it.Event = &n
	return it, nil
}

// instances lists a master's instances over the window, cancelled ones
// included, by original start.
func (c *Connector) instances(ctx context.Context, s connector.Scope, id string) (map[string]*calendar.Event, error) {
	const op = "google series instances"
	rctx := ctxFor(ctx, s)
	out := map[string]*calendar.Event{}
	pageTok := ""
	for page := 0; ; page++ {
		if page >= c.maxPages {
			return nil, fmt.Errorf("%s: more than %d pages", op, c.maxPages)
		}
		call := c.cal.Events.Instances(primary, id).Context(rctx).ShowDeleted(true).MaxResults(int64(min(c.pageSize, maxCalendarPage))).
			TimeMin(s.WindowStart.UTC().Format(time.RFC3339)).TimeMax(s.WindowEnd.UTC().Format(time.RFC3339))
		if pageTok != "" {
			call = call.PageToken(pageTok)
		}
		res, err := call.Do()
		if err != nil {
			return nil, mapErr(op, rctx, err, classPlain)
		}
		for _, in := range res.Items {
			if in.OriginalStartTime == nil {
				continue
			}
			t, err := time.Parse(time.RFC3339, in.OriginalStartTime.DateTime)
			if err != nil {
				continue
			}
			out[t.UTC().Format(time.RFC3339)] = in
		}
		if res.NextPageToken == "" || res.NextPageToken == pageTok {
			return out, nil
		}
		pageTok = res.NextPageToken
	}
}

// seriesBody adds the recurrence to a master's body, its times in the
// series zone.
func seriesBody(body *calendar.Event, e *model.Event) error {
	if e.AllDay {
		return fmt.Errorf("google: all-day series are not written: %w", connector.ErrUnsupported)
	}
	r := e.Recurrence.Normalize()
	if err := r.Validate(); err != nil {
		return fmt.Errorf("google: %v: %w", err, connector.ErrUnsupported)
	}
	zone := r.TimeZone
	if zone == "" {
		zone = "UTC"
	}
	st, en, err := googleTimes(e, zone)
	if err != nil {
		return err
	}
	body.Start, body.End = st, en
	body.Recurrence = []string{"RRULE:" + r.RRULE()}
	return nil
}

// updateSeries patches the master where it differs, then the exceptions.
func (c *Connector) updateSeries(ctx context.Context, s connector.Scope, cur *calendar.Event, marker string, want *model.Event) (*model.Item, error) {
	const op = "google update series"
	patch, changed, err := c.eventPatch(cur, want)
	if err != nil {
		return nil, err
	}
	r, _ := seriesRule(cur)
	n := want.Normalize()
	if r == nil || r.RRULE() != n.Recurrence.RRULE() || r.TimeZone != n.Recurrence.TimeZone || patch.Start != nil {
		body := &calendar.Event{}
		if err := seriesBody(body, want); err != nil {
			return nil, err
		}
		patch.Start, patch.End, patch.Recurrence = body.Start, body.End, body.Recurrence
		changed = true
	}
	if changed {
		rctx := ctxFor(ctx, s)
		call := c.cal.Events.Patch(primary, cur.Id, patch).SendUpdates(sendNone).Context(rctx)
		call.Header().Set("If-Match", marker)
		if _, err := call.Do(); err != nil {
			return nil, mapErr(op, rctx, err, classWrite)
		}
	}
	return c.writeExceptions(ctx, s, cur.Id, want)
}

// writeExceptions cancels (DELETE) and moves or edits (PATCH) the window's
// instances as e says, and returns the series as stored. A cancelled
// instance is not restored (ErrUnsupported).
func (c *Connector) writeExceptions(ctx context.Context, s connector.Scope, id string, e *model.Event) (*model.Item, error) {
	const op = "google write series instances"
	rctx := ctxFor(ctx, s)
	insts, err := c.instances(ctx, s, id)
	if err != nil {
		return nil, err
	}
	n := e.Normalize()
	in, _ := n.Recurrence.SplitExceptions(s.WindowStart, s.WindowEnd)
	want := map[string]model.Exception{}
	for _, x := range in {
		want[x.OriginalStart] = x
	}
	dur := n.End.Sub(n.Start)
	keys, _ := n.OriginalStarts(s.WindowStart, s.WindowEnd)
	for _, k := range keys {
		inst := insts[k]
		x, has := want[k]
		if inst == nil || inst.Status == "cancelled" {
			if !has || !x.Cancelled {
				return nil, fmt.Errorf("google: %s: a cancelled instance cannot be restored (%s): %w", op, k, connector.ErrUnsupported)
			}
			continue
		}
		if x.Cancelled {
			if err := c.cal.Events.Delete(primary, inst.Id).SendUpdates(sendNone).Context(rctx).Do(); err != nil {
				return nil, mapErr(op, rctx, err, classWrite)
			}
			continue
		}
		orig, _ := time.Parse(time.RFC3339, k)
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
		cs, _ := instant(inst.Start)
		ce, _ := instant(inst.End)
		if cs.Equal(st) && ce.Equal(en) && strings.TrimSpace(inst.Summary) == subj && strings.TrimSpace(inst.Location) == loc {
			continue
		}
		p := &calendar.Event{Summary: subj, Location: loc,
			Start: &calendar.EventDateTime{DateTime: st.UTC().Format(time.RFC3339), TimeZone: "UTC"},
			End:   &calendar.EventDateTime{DateTime: en.UTC().Format(time.RFC3339), TimeZone: "UTC"}}
		p.ForceSendFields = []string{"Summary", "Location"}
		if _, err := c.cal.Events.Patch(primary, inst.Id, p).SendUpdates(sendNone).Context(rctx).Do(); err != nil {
			return nil, mapErr(op, rctx, err, classWrite)
		}
	}
	m, err := c.getEvent(ctx, s, id)
	if err != nil {
		return nil, err
	}
	return c.seriesItem(ctx, s, m)
}
