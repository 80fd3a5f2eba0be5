package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// Event series (Options.Series): a series is one item, its master with
// the recurrence (patternedRecurrence ↔ model.Recurrence) and the
// exceptions and cancelled occurrences whose original start lies in the
// window. Graph's delta reports occurrences and exceptions with few
// fields; they only point at their master (seriesMasterId), which is read
// whole, with its instances over the window (GET events/{id}/instances):
// an expected original start that has no instance was cancelled (the
// delta gives no other signal for it). Occurrences are never items of
// their own, and the master is never synced as a single event.
//
// An all-day series is an isAllDay master whose start and end are
// midnights in the recurrence zone (Graph requires midnights for
// isAllDay) and whose range is in dates (endDate = the model's
// UntilDate); its occurrences and exceptions are keyed by their date in
// that zone, never by an instant. Extra dates (Google's RDATE) have no
// patternedRecurrence: such a series is refused (ErrUnsupported).

// RulePropertyID is the single-value extended property on a series master
// that syncgate wrote, holding the RRULE it was written from. Several RRULE
// spellings give one Graph pattern (FREQ=YEARLY and
// FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=15 from 15 March are one
// absoluteYearly); reading a master whose pattern still is what that rule
// gives returns the rule as written, so a series written from another end
// reads back with its own hash. A pattern changed in Outlook no longer
// matches, and reads as Graph spells it.
const RulePropertyID = "String {2f98f854-a3ff-4ae6-b70a-fc40b568f277} Name SyncgateRule"

// expandEvent is the $expand of events: the key, and in series mode the
// rule as written.
func (c *Connector) expandEvent() string {
	if !c.series {
		return expandKey
	}
	return "singleValueExtendedProperties($filter=id eq " + odataQuote(KeyPropertyID) + " or id eq " + odataQuote(RulePropertyID) + ")"
}

// ruleProp is the rule property of a master written from e.
func ruleProp(e model.Event) extProp {
	return extProp{ID: RulePropertyID, Value: e.Recurrence.RRULE()}
}

// writtenRule returns the rule as syncgate wrote it when it still gives
// the pattern Graph holds (r, read from it), else r.
func writtenRule(g *gEvent, e model.Event, r *model.Recurrence) *model.Recurrence {
	text := ""
	for _, p := range g.Ext {
		if strings.EqualFold(p.ID, RulePropertyID) {
			text = p.Value
		}
	}
	if text == "" {
		return r
	}
	w, err := model.ParseRRULE(text, r.TimeZone)
	if err != nil {
		return r
	}
	ea, eb := e, e
	ea.Recurrence, eb.Recurrence = r, w
	ga, _, errA := recurrenceToGraph(ea)
	gb, _, errB := recurrenceToGraph(eb)
	if errA != nil || errB != nil {
		return r
	}
	ja, _ := json.Marshal(ga)
	jb, _ := json.Marshal(gb)
	if string(ja) != string(jb) {
		return r
	}
	return w
}

// samePattern reports whether the stored series w maps to the
// patternedRecurrence rec.
func samePattern(w model.Event, rec map[string]any) bool {
	have, _, err := recurrenceToGraph(w)
	if err != nil {
		return false
	}
	a, _ := json.Marshal(have)
	b, _ := json.Marshal(rec)
	return string(a) == string(b)
}

// SupportsSeries implements connector.SeriesCapable.
func (c *Connector) SupportsSeries() bool { return c.series }

var _ connector.SeriesCapable = (*Connector)(nil)

type gRecurrence struct {
	Pattern struct {
		Type           string   `json:"type"`
		Interval       int      `json:"interval"`
		DaysOfWeek     []string `json:"daysOfWeek,omitempty"`
		DayOfMonth     int      `json:"dayOfMonth,omitempty"`
		Month          int      `json:"month,omitempty"`
		Index          string   `json:"index,omitempty"`
		FirstDayOfWeek string   `json:"firstDayOfWeek,omitempty"`
	} `json:"pattern"`
	Range struct {
		Type                string `json:"type"`
		StartDate           string `json:"startDate"`
		EndDate             string `json:"endDate,omitempty"`
		NumberOfOccurrences int    `json:"numberOfOccurrences,omitempty"`
		RecurrenceTimeZone  string `json:"recurrenceTimeZone,omitempty"`
	} `json:"range"`
}

var (
	graphDays = map[string]string{"sunday": "SU", "monday": "MO", "tuesday": "TU", "wednesday": "WE", "thursday": "TH", "friday": "FR", "saturday": "SA"}
	rfcDays   = map[string]string{"SU": "sunday", "MO": "monday", "TU": "tuesday", "WE": "wednesday", "TH": "thursday", "FR": "friday", "SA": "saturday"}
	indexes   = map[string]int{"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
	indexName = map[int]string{1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
)

// recurrenceFromGraph maps a patternedRecurrence; zone is the master's
// originalStartTimeZone, used when the range names none.
func recurrenceFromGraph(g *gRecurrence, zone string) (*model.Recurrence, error) {
	tzName := g.Range.RecurrenceTimeZone
	if tzName == "" {
		tzName = zone
	}
	loc, ok := parseZone(tzName)
	if !ok {
		return nil, fmt.Errorf("%w: recurrence time zone %q", model.ErrRecurrence, truncate(tzName, 64))
	}
	r := &model.Recurrence{Interval: g.Pattern.Interval, TimeZone: loc.String()}
	if fd, ok := graphDays[strings.ToLower(g.Pattern.FirstDayOfWeek)]; ok {
		r.WeekStart = fd
	}
	days := func(withIndex bool) error {
		for _, d := range g.Pattern.DaysOfWeek {
			rd, ok := graphDays[strings.ToLower(d)]
			if !ok {
				return fmt.Errorf("%w: day %q", model.ErrRecurrence, truncate(d, 16))
			}
			r.ByDay = append(r.ByDay, rd)
		}
		if len(r.ByDay) == 0 {
			return fmt.Errorf("%w: pattern without daysOfWeek", model.ErrRecurrence)
		}
		if withIndex {
			n, ok := indexes[strings.ToLower(g.Pattern.Index)]
			if g.Pattern.Index == "" {
				n, ok = 1, true
			}
			if !ok {
				return fmt.Errorf("%w: index %q", model.ErrRecurrence, truncate(g.Pattern.Index, 16))
			}
			if len(r.ByDay) == 1 {
				r.ByDay[0] = fmt.Sprint(n) + r.ByDay[0]
			} else {
				r.BySetPos = []int{n}
			}
		}
		return nil
	}
	switch strings.ToLower(g.Pattern.Type) {
	case "daily":
		r.Freq = "DAILY"
	case "weekly":
		r.Freq = "WEEKLY"
		if err := days(false); err != nil {
			return nil, err
		}
	case "absolutemonthly":
		r.Freq, r.ByMonthDay = "MONTHLY", []int{g.Pattern.DayOfMonth}
	case "relativemonthly":
		r.Freq = "MONTHLY"
		if err := days(true); err != nil {
			return nil, err
		}
	case "absoluteyearly":
		r.Freq, r.ByMonth, r.ByMonthDay = "YEARLY", []int{g.Pattern.Month}, []int{g.Pattern.DayOfMonth}
	case "relativeyearly":
		r.Freq, r.ByMonth = "YEARLY", []int{g.Pattern.Month}
		if err := days(true); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: pattern %q", model.ErrRecurrence, truncate(g.Pattern.Type, 32))
	}
	switch g.Range.Type {
	case "numbered":
		r.Count = g.Range.NumberOfOccurrences
	case "endDate":
		d, err := time.ParseInLocation(time.DateOnly, g.Range.EndDate, loc)
		if err != nil {
			return nil, fmt.Errorf("%w: endDate %q", model.ErrRecurrence, truncate(g.Range.EndDate, 16))
		}
		r.Until = d.AddDate(0, 0, 1).Add(-time.Second).UTC() // the whole end date
	case "noEnd", "":
	default:
		return nil, fmt.Errorf("%w: range %q", model.ErrRecurrence, truncate(g.Range.Type, 16))
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// recurrenceToGraph is the patternedRecurrence of a series master (an
// all-day one's range in dates: its first date and UntilDate);
// ErrUnsupported for a rule Graph cannot express, extra dates (RDATE)
// included.
func recurrenceToGraph(e model.Event) (map[string]any, *time.Location, error) {
	unsupported := func(why string) (map[string]any, *time.Location, error) {
		return nil, nil, fmt.Errorf("%w: graph cannot express the recurrence %s: %s", connector.ErrUnsupported, e.Recurrence.RRULE(), why)
	}
	r := e.Recurrence.Normalize()
	if err := r.Validate(); err != nil {
		return unsupported(err.Error())
	}
	if err := r.PatternOnly(); err != nil {
		return unsupported(err.Error())
	}
	loc := time.UTC
	if r.TimeZone != "" {
		l, err := time.LoadLocation(r.TimeZone)
		if err != nil {
			return unsupported("unknown zone")
		}
		loc = l
	}
	ls := e.Start.In(loc)
	if e.AllDay {
		d, err := time.ParseInLocation(time.DateOnly, e.StartDate, loc)
		if err != nil {
			return unsupported("all-day series without a start date")
		}
		ls = d
	}
	pat := map[string]any{"interval": max(r.Interval, 1)}
	fd := "monday"
	if r.WeekStart != "" {
		fd = rfcDays[r.WeekStart]
	}
	pat["firstDayOfWeek"] = fd
	// plainDays are BYDAY without ordinals; ord is the one ordinal (or
	// BYSETPOS) they share.
	var plain []string
	ord, ordinals := 0, 0
	for _, d := range r.ByDay {
		code := d[len(d)-2:]
		if n := strings.TrimSuffix(d, code); n != "" {
			ordinals++
			fmt.Sscan(n, &ord)
		}
		plain = append(plain, rfcDays[code])
	}
	relative := func() (bool, error) {
		switch {
		case len(r.ByDay) == 0:
			return false, nil
		case ordinals == 1 && len(r.ByDay) == 1 && len(r.BySetPos) == 0:
		case ordinals == 0 && len(r.BySetPos) == 1:
			ord = r.BySetPos[0]
		default:
			return false, errors.New("BYDAY needs one ordinal, or days with one BYSETPOS")
		}
		if indexName[ord] == "" {
			return false, errors.New("ordinal other than 1-4 or -1")
		}
		if len(r.ByMonthDay) > 0 {
			return false, errors.New("BYDAY with BYMONTHDAY")
		}
		pat["daysOfWeek"], pat["index"] = plain, indexName[ord]
		return true, nil
	}
	switch r.Freq {
	case "DAILY":
		if len(r.ByDay)+len(r.ByMonthDay)+len(r.ByMonth)+len(r.BySetPos) > 0 {
			return unsupported("DAILY with BY rules")
		}
		pat["type"] = "daily"
	case "WEEKLY":
		if ordinals > 0 || len(r.ByMonthDay)+len(r.ByMonth)+len(r.BySetPos) > 0 {
			return unsupported("WEEKLY with rules other than BYDAY")
		}
		if len(plain) == 0 {
			plain = []string{strings.ToLower(ls.Weekday().String())}
		}
		pat["type"], pat["daysOfWeek"] = "weekly", plain
	case "MONTHLY", "YEARLY":
		kind := "Monthly"
		if r.Freq == "YEARLY" {
			kind = "Yearly"
			switch len(r.ByMonth) {
			case 0:
				pat["month"] = int(ls.Month())
			case 1:
				pat["month"] = r.ByMonth[0]
			default:
				return unsupported("more than one BYMONTH")
			}
		} else if len(r.ByMonth) > 0 {
			return unsupported("MONTHLY with BYMONTH")
		}
		rel, err := relative()
		if err != nil {
			return unsupported(err.Error())
		}
		if rel {
			pat["type"] = "relative" + kind
			break
		}
		if len(r.BySetPos) > 0 || len(r.ByMonthDay) > 1 || (len(r.ByMonthDay) == 1 && r.ByMonthDay[0] < 0) {
			return unsupported("BYSETPOS, several or negative BYMONTHDAY")
		}
		day := ls.Day()
		if len(r.ByMonthDay) == 1 {
			day = r.ByMonthDay[0]
		}
		pat["type"], pat["dayOfMonth"] = "absolute"+kind, day
	default:
		return unsupported("FREQ")
	}
	rng := map[string]any{"startDate": ls.Format(time.DateOnly), "recurrenceTimeZone": loc.String(), "type": "noEnd"}
	switch {
	case r.Count > 0:
		rng["type"], rng["numberOfOccurrences"] = "numbered", r.Count
	case !r.Until.IsZero() && e.AllDay:
		rng["type"], rng["endDate"] = "endDate", r.UntilDate()
	case !r.Until.IsZero():
		rng["type"], rng["endDate"] = "endDate", r.Until.In(loc).Format(time.DateOnly)
	}
	return map[string]any{"pattern": pat, "range": rng}, loc, nil
}

// seriesTimes renders the first occurrence in the series zone, so Graph
// expands the pattern at that wall-clock time across DST; an all-day
// series as midnights of its dates there, as isAllDay requires.
func seriesTimes(e model.Event, loc *time.Location) (dateTimeTZ, dateTimeTZ) {
	const wall = "2006-01-02T15:04:05"
	if e.AllDay {
		return dateTimeTZ{e.StartDate + "T00:00:00", loc.String()}, dateTimeTZ{e.EndDate + "T00:00:00", loc.String()}
	}
	return dateTimeTZ{e.Start.In(loc).Format(wall), loc.String()}, dateTimeTZ{e.End.In(loc).Format(wall), loc.String()}
}

// gInstance is an occurrence or exception as events/{id}/instances lists it.
type gInstance struct {
	ID            string      `json:"id"`
	Type          string      `json:"type"`
	OriginalStart string      `json:"originalStart"`
	Start         *dateTimeTZ `json:"start"`
	End           *dateTimeTZ `json:"end"`
	Subject       *string     `json:"subject"`
	Location      *struct {
		DisplayName string `json:"displayName"`
	} `json:"location"`
}

func originalKey(s string) (string, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", false
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339), true
}

// instances lists a master's instances over the window by original start.
func (c *Connector) instances(ctx context.Context, s connector.Scope, masterID string) (map[string]*gInstance, error) {
	const op = "graph series instances"
	raws, err := c.list(ctx, s, op, withQuery(c.userURL(s, "events", masterID, "instances"),
		"startDateTime", s.WindowStart.UTC().Format(time.RFC3339), "endDateTime", s.WindowEnd.UTC().Format(time.RFC3339),
		"$select", "id,type,originalStart,start,end,subject,location"), true)
	if err != nil {
		return nil, err
	}
	out := map[string]*gInstance{}
	for _, raw := range raws {
		var in gInstance
		if json.Unmarshal(raw, &in) != nil || in.ID == "" {
			return nil, errors.New(op + ": malformed instance")
		}
		k, ok := originalKey(in.OriginalStart)
		if !ok {
			return nil, errors.New(op + ": instance without originalStart")
		}
		out[k] = &in
	}
	return out, nil
}

// seriesItem completes master g into one item: the recurrence, and the
// window's exceptions and cancellations from its instances. A master whose
// pattern cannot be read is returned without Recurrence (the engine skips
// it and says why).
func (c *Connector) seriesItem(ctx context.Context, s connector.Scope, g *gEvent) (*model.Item, error) {
	it, err := g.item(s.User)
	if err != nil {
		return nil, err
	}
	it.Event.Series = "master"
	if g.Recurrence == nil {
		return it, nil
	}
	r, err := recurrenceFromGraph(g.Recurrence, g.OriginalStartTimeZone)
	if err != nil {
		return it, nil
	}
	r = writtenRule(g, *it.Event, r)
	it.Event.Recurrence = r
	expected, err := it.Event.OriginalStarts(s.WindowStart, s.WindowEnd)
	if err != nil {
		it.Event.Recurrence = nil
		return it, nil
	}
	have, err := c.instances(ctx, s, g.ID)
	if err != nil {
		return nil, err
	}
	if it.Event.AllDay {
		have = byDate(have, r)
	}
	dur := it.Event.End.Sub(it.Event.Start)
	var xs []model.Exception
	for _, k := range expected {
		in := have[k]
		if in == nil {
			xs = append(xs, model.Exception{OriginalStart: k, Cancelled: true})
			continue
		}
		if !strings.EqualFold(in.Type, "exception") {
			continue
		}
		x := model.Exception{OriginalStart: k}
		if it.Event.AllDay {
			if in.Start != nil && in.End != nil {
				sd, err1 := in.Start.civilDate(g.OriginalStartTimeZone)
				ed, err2 := in.End.civilDate(g.OriginalStartTimeZone)
				if err1 == nil && err2 == nil && (sd != k || ed != model.ShiftDate(k, it.Event.StartDate, it.Event.EndDate)) {
					x.StartDate, x.EndDate = sd, ed
				}
			}
		} else if in.Start != nil && in.End != nil {
			st, err1 := in.Start.instant()
			en, err2 := in.End.instant()
			if err1 == nil && err2 == nil && (st.Format(time.RFC3339) != k || en.Sub(st) != dur) {
				x.Start, x.End = st, en
			}
		}
		if in.Subject != nil && strings.TrimSpace(*in.Subject) != it.Event.Subject {
			x.Subject = *in.Subject
		}
		if in.Location != nil && strings.TrimSpace(in.Location.DisplayName) != it.Event.Location {
			x.Location = in.Location.DisplayName
		}
		xs = append(xs, x)
	}
	it.Event.Recurrence.Exceptions = xs
	n := it.Event.Normalize()
	it.Event = &n
	return it, nil
}

// seriesChanges turns a delta round's event items into series items:
// masters read whole, occurrences and exceptions folded into theirs.
// rescan is set when an instance may have been cancelled (a removed entry
// that is gone): then every master with an instance in the window is
// read again, since Graph names no master for a cancelled occurrence.
func (c *Connector) seriesMasters(ctx context.Context, s connector.Scope, ids map[string]bool, got map[string]*gEvent, rescan bool) ([]*model.Item, error) {
	if rescan {
		raws, err := c.list(ctx, s, "graph calendar view", withQuery(c.userURL(s, "calendarView"),
			"startDateTime", s.WindowStart.UTC().Format(time.RFC3339), "endDateTime", s.WindowEnd.UTC().Format(time.RFC3339),
			"$select", "id,type,seriesMasterId"), true)
		if err != nil {
			return nil, err
		}
		for _, raw := range raws {
			var v struct {
				ID, Type, SeriesMasterID string
			}
			if json.Unmarshal(raw, &v) == nil && v.SeriesMasterID != "" {
				ids[v.SeriesMasterID] = true
			}
		}
	}
	var out []*model.Item
	for id := range ids {
		g := got[id]
		if g == nil {
			var err error
			g, err = c.getEvent(ctx, s, id)
			if errors.Is(err, connector.ErrNotFound) {
				continue // deleted meanwhile: its own tombstone says so
			}
			if err != nil {
				return nil, err
			}
		}
		it, err := c.seriesItem(ctx, s, g)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// createSeries writes a master with its recurrence, then the window's
// cancellations and exceptions on its instances.
func (c *Connector) createSeries(ctx context.Context, s connector.Scope, key string, it *model.Item) (*model.Item, error) {
	const op = "graph create series"
	rec, loc, err := recurrenceToGraph(*it.Event)
	if err != nil {
		return nil, err
	}
	body, err := eventPatch(*it.Event, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	body["start"], body["end"] = seriesTimes(*it.Event, loc)
	body["recurrence"] = rec
	body["transactionId"] = key
	body["singleValueExtendedProperties"] = []extProp{{ID: KeyPropertyID, Value: key}, ruleProp(*it.Event)}
	resp, err := c.do(ctx, s, request{op: op, method: http.MethodPost, url: c.userURL(s, "events"), body: body, events: true})
	if err != nil {
		return nil, err
	}
	g, err := decodeEvent(op, resp.body)
	if err != nil {
		return nil, err
	}
	return c.writeExceptions(ctx, s, g.ID, key, it.Event)
}

// updateSeries patches the master where it differs and brings the
// window's exceptions to it.Event's.
func (c *Connector) updateSeries(ctx context.Context, s connector.Scope, cur *gEvent, mark string, it *model.Item) (*model.Item, error) {
	const op = "graph update series"
	rec, loc, err := recurrenceToGraph(*it.Event)
	if err != nil {
		return nil, err
	}
	was, err := c.seriesItem(ctx, s, cur)
	if err != nil {
		return nil, err
	}
	body, err := eventPatch(*it.Event, cur)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	delete(body, "start")
	delete(body, "end")
	delete(body, "isAllDay")
	w, n := was.Event, it.Event.Normalize()
	switch {
	case !w.Start.Equal(n.Start) || !w.End.Equal(n.End) || w.StartDate != n.StartDate || w.EndDate != n.EndDate || w.AllDay != n.AllDay ||
		w.Recurrence == nil || !samePattern(*w, rec):
		body["start"], body["end"] = seriesTimes(n, loc)
		body["isAllDay"] = n.AllDay
		body["recurrence"] = rec
		body["singleValueExtendedProperties"] = []extProp{ruleProp(n)}
	case n.Recurrence.RRULE() != w.Recurrence.RRULE():
		// The same pattern spelled otherwise (FREQ=YEARLY for an
		// absoluteYearly): re-setting it would drop the series'
		// exceptions in Outlook; only the spelling is recorded.
		body["singleValueExtendedProperties"] = []extProp{ruleProp(n)}
	}
	if len(body) > 0 {
		if _, err := c.do(ctx, s, request{op: op, method: http.MethodPatch, url: c.userURL(s, "events", cur.ID), body: body, ifMatch: mark, events: true}); err != nil {
			return nil, err
		}
	}
	return c.writeExceptions(ctx, s, cur.ID, cur.key(), it.Event)
}

// writeExceptions cancels (DELETE) and moves or edits (PATCH) the
// instances in the window as e's exceptions say, and restores moved
// instances no longer listed; a cancelled instance cannot be restored in
// Graph (ErrUnsupported). It returns the series as now stored.
func (c *Connector) writeExceptions(ctx context.Context, s connector.Scope, masterID, key string, e *model.Event) (*model.Item, error) {
	const op = "graph write series exceptions"
	g, err := c.getEvent(ctx, s, masterID)
	if err != nil {
		return nil, err
	}
	cur, err := c.seriesItem(ctx, s, g)
	if err != nil {
		return nil, err
	}
	have, err := c.instances(ctx, s, masterID)
	if err != nil {
		return nil, err
	}
	zone := "UTC"
	if e.AllDay {
		r := e.Recurrence
		if cur.Event.Recurrence != nil {
			r = cur.Event.Recurrence
		}
		have = byDate(have, r)
		if r.TimeZone != "" {
			zone = r.TimeZone
		}
	}
	want := map[string]model.Exception{}
	in, _ := e.Normalize().Recurrence.SplitExceptions(s.WindowStart, s.WindowEnd)
	for _, x := range in {
		want[x.OriginalStart] = x
	}
	now := map[string]model.Exception{}
	if cur.Event.Recurrence != nil {
		for _, x := range cur.Event.Recurrence.Exceptions {
			now[x.OriginalStart] = x
		}
	}
	dur := e.End.Sub(e.Start)
	for k, x := range want {
		inst := have[k]
		if x.Cancelled {
			if inst == nil {
				continue // already cancelled, or outside what Graph expands
			}
			if _, err := c.do(ctx, s, request{op: op, method: http.MethodDelete, url: c.userURL(s, "events", inst.ID)}); err != nil && !errors.Is(err, connector.ErrNotFound) {
				return nil, err
			}
			continue
		}
		if inst == nil {
			if now[k].Cancelled {
				return nil, fmt.Errorf("%w: %s: a cancelled occurrence cannot be restored in graph (%s)", connector.ErrUnsupported, op, k)
			}
			continue
		}
		if sameException(x, now[k]) {
			continue
		}
		body := map[string]any{}
		st, en := x.Start, x.End
		if st.IsZero() && !e.AllDay {
			st, _ = time.Parse(time.RFC3339, k)
			en = st.Add(dur)
		}
		sd, ed := x.StartDate, x.EndDate
		if sd == "" {
			sd, ed = k, model.ShiftDate(k, e.StartDate, e.EndDate)
		}
		instanceTimes(body, e.AllDay, st, en, sd, ed, zone)
		subj := e.Subject
		if x.Subject != "" {
			subj = x.Subject
		}
		body["subject"] = subj
		loc := e.Location
		if x.Location != "" {
			loc = x.Location
		}
		body["location"] = map[string]any{"displayName": loc}
		if _, err := c.do(ctx, s, request{op: op, method: http.MethodPatch, url: c.userURL(s, "events", inst.ID), body: body, events: true}); err != nil {
			return nil, err
		}
	}
	// Exceptions dropped from e: back to the rule's time and content.
	for k, x := range now {
		if _, ok := want[k]; ok || x.Cancelled || have[k] == nil {
			continue
		}
		st, _ := time.Parse(time.RFC3339, k)
		body := map[string]any{"subject": e.Subject, "location": map[string]any{"displayName": e.Location}}
		instanceTimes(body, e.AllDay, st, st.Add(dur), k, model.ShiftDate(k, e.StartDate, e.EndDate), zone)
		if _, err := c.do(ctx, s, request{op: op, method: http.MethodPatch, url: c.userURL(s, "events", have[k].ID), body: body, events: true}); err != nil {
			return nil, err
		}
	}
	g, err = c.getEvent(ctx, s, masterID)
	if err != nil {
		return nil, err
	}
	out, err := c.seriesItem(ctx, s, g)
	if err != nil {
		return nil, err
	}
	if out.Key == "" {
		out.Key = key
	}
	return out, nil
}

// byDate re-keys an all-day series' instances by their original date in
// the recurrence zone, where Graph expands them at midnight.
func byDate(have map[string]*gInstance, r *model.Recurrence) map[string]*gInstance {
	loc := time.UTC
	if l, err := time.LoadLocation(r.TimeZone); err == nil {
		loc = l
	}
	out := make(map[string]*gInstance, len(have))
	for k, in := range have {
		t, _ := time.Parse(time.RFC3339, k)
		out[t.In(loc).Format(time.DateOnly)] = in
	}
	return out
}

// instanceTimes is the body part that puts an instance at [st, en), or
// (all-day) on the dates [sd, ed) as midnights in zone.
func instanceTimes(body map[string]any, allDay bool, st, en time.Time, sd, ed, zone string) {
	if allDay {
		body["start"], body["end"] = dateTimeTZ{sd + "T00:00:00", zone}, dateTimeTZ{ed + "T00:00:00", zone}
		body["isAllDay"] = true
		return
	}
	body["start"] = dateTimeTZ{st.UTC().Format("2006-01-02T15:04:05"), "UTC"}
	body["end"] = dateTimeTZ{en.UTC().Format("2006-01-02T15:04:05"), "UTC"}
}

func sameException(a, b model.Exception) bool {
	return a.OriginalStart == b.OriginalStart && a.Cancelled == b.Cancelled && a.Start.Equal(b.Start) && a.End.Equal(b.End) &&
		a.StartDate == b.StartDate && a.EndDate == b.EndDate &&
		a.Subject == b.Subject && a.Location == b.Location && a.Description == b.Description
}

// seriesEventChanges is eventChanges with Options.Series: singles as
// before; every master touched by the round (itself, or through an
// occurrence or exception, or possibly through a cancelled occurrence)
// read whole once.
func (c *Connector) seriesEventChanges(ctx context.Context, s connector.Scope, rd *round, out *connector.Changes) (*connector.Changes, error) {
	masters := map[string]bool{}
	got := map[string]*gEvent{} // masters read already while sorting removals
	rescan := false
	for _, e := range rd.entries {
		switch {
		case e.removed == "deleted":
			g, err := c.getEvent(ctx, s, e.id)
			switch {
			case errors.Is(err, connector.ErrNotFound):
				// A deleted single or master, or a cancelled occurrence
				// (whose master Graph does not name).
				out.Deleted = append(out.Deleted, e.id)
				rescan = true
			case err != nil:
				return nil, err
			case seriesOf(g.Type) == "master":
				masters[g.ID] = true
				got[g.ID] = g
			case g.SeriesMasterID != "":
				masters[g.SeriesMasterID] = true
			default:
				it, err := g.item(s.User)
				if err != nil {
					return nil, err
				}
				if overlapsWindow(it.Event, s) {
					out.Items = append(out.Items, it)
				}
			}
		case e.removed != "":
			// "changed": the item left the view but exists. A series
			// master that did (its range cut before the window by a
			// split) is read, to be reported as departed; anything else
			// only left the window and stays unreported.
			g, err := c.getEvent(ctx, s, e.id)
			switch {
			case errors.Is(err, connector.ErrNotFound):
			case err != nil:
				return nil, err
			case seriesOf(g.Type) == "master":
				masters[g.ID] = true
				got[g.ID] = g
			}
		default:
			var g gEvent
			if err := json.Unmarshal(e.raw, &g); err != nil {
				return nil, errors.New("graph events delta: malformed event")
			}
			switch t := seriesOf(g.Type); {
			case t == "master":
				masters[g.ID] = true
			case t != "":
				if g.SeriesMasterID == "" {
					rescan = true
				} else {
					masters[g.SeriesMasterID] = true
				}
			default:
				it, err := c.eventFromDelta(ctx, s, e.raw)
				if err != nil {
					return nil, err
				}
				if it != nil {
					out.Items = append(out.Items, it)
				}
			}
		}
	}
	items, err := c.seriesMasters(ctx, s, masters, got, rescan)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if !out.Full && !hasOccurrenceIn(it, s) {
			out.Departed = append(out.Departed, it)
			continue
		}
		out.Items = append(out.Items, it)
	}
	return out, nil
}

// hasOccurrenceIn reports whether series it has an occurrence in the
// scope's window, as calendarView lists it; an unreadable rule counts as
// having one (listed, so the engine records what it cannot sync).
func hasOccurrenceIn(it *model.Item, s connector.Scope) bool {
	keys, err := it.Event.OriginalStarts(s.WindowStart, s.WindowEnd)
	return err != nil || len(keys) > 0
}
