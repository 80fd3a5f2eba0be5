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
// items of their own. An incremental read (sync token, which reports
// changes anywhere in the calendar) reports a master that changed and has
// no occurrence left in the window in connector.Changes.Departed.
//
// All-day series (start.date) are civil dates: the RRULE's UNTIL is a
// DATE, exceptions are keyed YYYY-MM-DD; the series zone, when it has
// one, is start.timeZone (which the events resource defines for recurring
// events as the zone the recurrence is expanded in), kept so the series
// hashes alike at every end.
// Besides its one RRULE line a master may have EXDATE lines (RFC 5545
// 3.8.5.1; TZID, UTC or VALUE=DATE), which are cancelled occurrences
// (events.instances leaves them out), and RDATE lines (3.8.5.2), extra
// dates read into model.Recurrence.RDates: written back here, but a
// pattern of Graph, Salesforce or EWS cannot hold them, so those ends
// refuse the series (connector.ErrUnsupported) instead of flattening it.
// Any other line (EXRULE, RDATE periods) leaves the master without a
// readable recurrence: the engine skips it and says why.

// SupportsSeries implements connector.SeriesCapable.
func (c *Connector) SupportsSeries() bool { return c.series }

var _ connector.SeriesCapable = (*Connector)(nil)

// seriesChanges folds a listing's instances into their masters.
func (c *Connector) seriesChanges(ctx context.Context, s connector.Scope, ch *connector.Changes, token string, evs []*calendar.Event) (*connector.Changes, error) {
	masters := map[string]bool{}
	changed := map[string]bool{} // masters listed themselves, not through an instance
	for _, ev := range evs {
		switch {
		case ev.RecurringEventId != "":
			masters[ev.RecurringEventId] = true
		case ev.Status == "cancelled":
			ch.Deleted = append(ch.Deleted, ev.Id)
		case len(ev.Recurrence) > 0:
			masters[ev.Id] = true
			changed[ev.Id] = true
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
		if errors.Is(err, connector.ErrNotFound) {
			continue // deleted between the listing and its instances
		}
		if err != nil {
			return nil, err
		}
		if it.Event.Recurrence != nil && !hasOccurrence(it.Event, s) {
			// No occurrence in the window. A sync token reports a master
			// changed anywhere in the calendar: one that changed itself
			// (an UNTIL put before the window by a split, say) is
			// departed (connector.Changes.Departed); a full listing and an
			// instance's change outside the window report nothing.
			if token != "" && changed[id] {
				ch.Departed = append(ch.Departed, it)
			}
			continue
		}
		ch.Items = append(ch.Items, it)
	}
	return ch, nil
}

func hasOccurrence(e *model.Event, s connector.Scope) bool {
	keys, err := e.OriginalStarts(s.WindowStart, s.WindowEnd)
	return err != nil || len(keys) > 0
}

// seriesRule reads the master's recurrence lines: the RRULE in its start
// zone (none for an all-day series), RDATE as extra dates, and the EXDATE
// keys (cancelled occurrences).
func seriesRule(m *calendar.Event) (*model.Recurrence, map[string]bool, bool) {
	if m.Start == nil || (m.Start.DateTime == "") == (m.Start.Date == "") {
		return nil, nil, false
	}
	allDay := m.Start.Date != ""
	zone := m.Start.TimeZone
	var r *model.Recurrence
	var rdates []string
	exdates := map[string]bool{}
	for _, line := range m.Recurrence {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, nil, false
		}
		prop, params, _ := strings.Cut(name, ";")
		switch strings.ToUpper(strings.TrimSpace(prop)) {
		case "RRULE":
			if r != nil {
				return nil, nil, false // one rule is what every other end holds
			}
			var err error
			if r, err = model.ParseRRULE(value, zone); err != nil {
				return nil, nil, false
			}
		case "EXDATE", "RDATE":
			keys, err := dateList(params, value, zone, allDay)
			if err != nil {
				return nil, nil, false
			}
			if strings.EqualFold(strings.TrimSpace(prop), "RDATE") {
				rdates = append(rdates, keys...)
				continue
			}
			for _, k := range keys {
				exdates[k] = true
			}
		default:
			return nil, nil, false
		}
	}
	if r == nil {
		return nil, nil, false
	}
	r.RDates = rdates
	return r, exdates, true
}

// dateList reads an EXDATE or RDATE value list as occurrence keys: dates
// (VALUE=DATE) for an all-day series, instants for a timed one — a
// DATE-TIME in UTC ("Z"), in TZID, or else in the series zone.
func dateList(params, value, zone string, allDay bool) ([]string, error) {
	loc := time.UTC
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return nil, err
		}
		loc = l
	}
	isDate := false
	for _, p := range strings.Split(params, ";") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		switch strings.ToUpper(k) {
		case "TZID":
			l, err := time.LoadLocation(v)
			if err != nil || v == "" || v == "Local" {
				return nil, fmt.Errorf("unknown TZID %q", truncate(v, 40))
			}
			loc = l
		case "VALUE":
			switch strings.ToUpper(v) {
			case "DATE":
				isDate = true
			case "DATE-TIME":
			default:
				return nil, fmt.Errorf("VALUE=%s", truncate(v, 16)) // PERIOD: not an occurrence start
			}
		default:
			return nil, fmt.Errorf("parameter %s", truncate(k, 16))
		}
	}
	var out []string
	for _, v := range strings.Split(value, ",") {
		v = strings.TrimSpace(v)
		switch {
		case len(v) == 8 && (isDate || allDay):
			d, err := time.Parse("20060102", v)
			if err != nil || !allDay {
				return nil, errors.New("a date in a timed series")
			}
			out = append(out, d.Format(time.DateOnly))
		case allDay || isDate:
			return nil, errors.New("a date-time in an all-day series")
		case len(v) == 16 && v[15] == 'Z':
			t, err := time.Parse("20060102T150405Z", v)
			if err != nil {
				return nil, err
			}
			out = append(out, t.UTC().Format(time.RFC3339))
		case len(v) == 15:
			t, err := time.ParseInLocation("20060102T150405", v, loc)
			if err != nil {
				return nil, err
			}
			out = append(out, t.UTC().Format(time.RFC3339))
		default:
			return nil, fmt.Errorf("date %q", truncate(v, 20))
		}
	}
	return out, nil
}

// rdateLines renders a series' extra dates: dates for an all-day series,
// UTC instants otherwise.
func rdateLines(r *model.Recurrence, allDay bool) []string {
	if len(r.RDates) == 0 {
		return nil
	}
	vals := make([]string, 0, len(r.RDates))
	for _, k := range r.RDates {
		if allDay {
			d, _ := time.Parse(time.DateOnly, k)
			vals = append(vals, d.Format("20060102"))
		} else {
			t, _ := time.Parse(time.RFC3339, k)
			vals = append(vals, t.UTC().Format("20060102T150405Z"))
		}
	}
	if allDay {
		return []string{"RDATE;VALUE=DATE:" + strings.Join(vals, ",")}
	}
	return []string{"RDATE:" + strings.Join(vals, ",")}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// seriesItem is master m completed with the window's exceptions.
func (c *Connector) seriesItem(ctx context.Context, s connector.Scope, m *calendar.Event) (*model.Item, error) {
	it, err := c.eventItem(s.User, m)
	if err != nil {
		return nil, err
	}
	it.Event.Series = "master"
	r, exdates, ok := seriesRule(m)
	if !ok {
		return it, nil
	}
	it.Event.Recurrence = r
	expected, err := it.Event.OriginalStarts(s.WindowStart, s.WindowEnd)
	if err != nil {
		it.Event.Recurrence = nil
		return it, nil
	}
	insts, err := c.instances(ctx, s, m.Id)
	if err != nil {
		return nil, err
	}
	ev := it.Event
	dur := ev.End.Sub(ev.Start)
	var xs []model.Exception
	for _, k := range expected {
		in := insts[k]
		if exdates[k] || in == nil || in.Status == "cancelled" {
			xs = append(xs, model.Exception{OriginalStart: k, Cancelled: true})
			continue
		}
		x := model.Exception{OriginalStart: k}
		if ev.AllDay {
			if in.Start != nil && in.End != nil && in.Start.Date != "" && (in.Start.Date != k || in.End.Date != model.ShiftDate(k, ev.StartDate, ev.EndDate)) {
				x.StartDate, x.EndDate = in.Start.Date, in.End.Date
			}
		} else if st, err := instant(in.Start); err == nil {
			if en, err := instant(in.End); err == nil && (st.UTC().Format(time.RFC3339) != k || en.Sub(st) != dur) {
				x.Start, x.End = st, en
			}
		}
		if strings.TrimSpace(in.Summary) != ev.Subject {
			x.Subject = in.Summary
		}
		if strings.TrimSpace(in.Location) != ev.Location {
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

// instanceKey is an instance's model.Exception key: its original start
// date (all-day) or instant.
func instanceKey(in *calendar.Event) (string, bool) {
	o := in.OriginalStartTime
	if o == nil {
		return "", false
	}
	if o.Date != "" {
		d, err := time.Parse(time.DateOnly, o.Date)
		return d.Format(time.DateOnly), err == nil
	}
	t, err := instant(o)
	if err != nil {
		return "", false
	}
	return t.UTC().Format(time.RFC3339), true
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
			// 410 (or 404): the series was deleted since it was listed;
			// its own tombstone reports that, so it is not found, never a
			// failed pass.
			return nil, mapErr(op, rctx, err, classItem)
		}
		for _, in := range res.Items {
			if k, ok := instanceKey(in); ok {
				out[k] = in
			}
		}
		if res.NextPageToken == "" || res.NextPageToken == pageTok {
			return out, nil
		}
		pageTok = res.NextPageToken
	}
}

// seriesBody adds the recurrence to a master's body: a timed series' times
// in its zone, an all-day series' dates with a DATE UNTIL; extra dates as
// an RDATE line.
func seriesBody(body *calendar.Event, e *model.Event) error {
	r := e.Recurrence.Normalize()
	if err := r.Validate(); err != nil {
		return fmt.Errorf("google: %v: %w", err, connector.ErrUnsupported)
	}
	if e.AllDay {
		st, en, err := googleTimes(e, "")
		if err != nil {
			return fmt.Errorf("%v: %w", err, connector.ErrUnsupported)
		}
		if r.TimeZone != "" {
			for _, dt := range []*calendar.EventDateTime{st, en} {
				dt.TimeZone, dt.NullFields = r.TimeZone, []string{"DateTime"}
			}
		}
		body.Start, body.End = st, en
		body.Recurrence = append([]string{"RRULE:" + r.RRULEDate()}, rdateLines(&r, true)...)
		return nil
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
	body.Recurrence = append([]string{"RRULE:" + r.RRULE()}, rdateLines(&r, false)...)
	return nil
}

// sameRule reports whether the stored rule r is want's.
func sameRule(r *model.Recurrence, want *model.Event) bool {
	if r == nil || want.Recurrence == nil {
		return false
	}
	n := want.Recurrence.Normalize()
	if strings.Join(r.Normalize().RDates, ",") != strings.Join(n.RDates, ",") {
		return false
	}
	if want.AllDay {
		return r.RRULEDate() == n.RRULEDate() && r.TimeZone == n.TimeZone
	}
	return r.RRULE() == n.RRULE() && r.TimeZone == n.TimeZone
}

// updateSeries patches the master where it differs, then the exceptions.
func (c *Connector) updateSeries(ctx context.Context, s connector.Scope, cur *calendar.Event, marker string, want *model.Event) (*model.Item, error) {
	const op = "google update series"
	patch, changed, err := c.eventPatch(cur, want)
	if err != nil {
		return nil, err
	}
	r, exdates, _ := seriesRule(cur)
	if !sameRule(r, want) || patch.Start != nil {
		body := &calendar.Event{}
		if err := seriesBody(body, want); err != nil {
			return nil, err
		}
		patch.Start, patch.End, patch.Recurrence = body.Start, body.End, body.Recurrence
		// Cancellations kept as EXDATE lines (outside the window too) stay
		// while the occurrences they name are the same.
		if len(exdates) > 0 && sameStart(cur, want) {
			patch.Recurrence = append(patch.Recurrence, exdateLines(cur)...)
		}
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

// exdateLines are cur's EXDATE lines as they are.
func exdateLines(cur *calendar.Event) []string {
	var out []string
	for _, l := range cur.Recurrence {
		if name, _, _ := strings.Cut(l, ":"); strings.EqualFold(strings.SplitN(name, ";", 2)[0], "EXDATE") {
			out = append(out, l)
		}
	}
	return out
}

// sameStart reports whether cur starts where want does (so its EXDATEs
// still name occurrences of want's series).
func sameStart(cur *calendar.Event, want *model.Event) bool {
	if want.AllDay {
		return cur.Start != nil && cur.Start.Date == want.StartDate
	}
	t, err := instant(cur.Start)
	return err == nil && t.Equal(want.Start)
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
		subj, loc := n.Subject, n.Location
		if x.Subject != "" {
			subj = x.Subject
		}
		if x.Location != "" {
			loc = x.Location
		}
		p := &calendar.Event{Summary: subj, Location: loc}
		if n.AllDay {
			sd, ed := x.StartDate, x.EndDate
			if sd == "" {
				sd, ed = k, model.ShiftDate(k, n.StartDate, n.EndDate)
			}
			if inst.Start != nil && inst.End != nil && inst.Start.Date == sd && inst.End.Date == ed &&
				strings.TrimSpace(inst.Summary) == subj && strings.TrimSpace(inst.Location) == loc {
				continue
			}
			p.Start = &calendar.EventDateTime{Date: sd, NullFields: []string{"DateTime", "TimeZone"}}
			p.End = &calendar.EventDateTime{Date: ed, NullFields: []string{"DateTime", "TimeZone"}}
		} else {
			orig, _ := time.Parse(time.RFC3339, k)
			st, en := x.Start, x.End
			if st.IsZero() {
				st, en = orig, orig.Add(dur)
			}
			cs, _ := instant(inst.Start)
			ce, _ := instant(inst.End)
			if cs.Equal(st) && ce.Equal(en) && strings.TrimSpace(inst.Summary) == subj && strings.TrimSpace(inst.Location) == loc {
				continue
			}
			p.Start = &calendar.EventDateTime{DateTime: st.UTC().Format(time.RFC3339), TimeZone: "UTC"}
			p.End = &calendar.EventDateTime{DateTime: en.UTC().Format(time.RFC3339), TimeZone: "UTC"}
		}
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
