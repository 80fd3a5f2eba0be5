package ews

import (
	"context"
	"encoding/xml"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/internal/mailfmt"
	"github.com/syncgate/syncgate/sync/model"
)

// Event series: a series is one item, its RecurringMaster with the
// Recurrence (EWS pattern and range ↔ model.Recurrence, expanded in the
// master's StartTimeZone) and the exceptions and cancelled occurrences
// whose original start lies in the scope's window: ModifiedOccurrences,
// each read with GetItem on its OccurrenceItemId, and DeletedOccurrences.
// Occurrences and exceptions are never items of their own. Occurrences are
// always addressed by OccurrenceItemId (the master's ItemId and the
// 1-based InstanceIndex, which the rule gives), so that the gateway checks
// them against the master's id it relayed.

// RulePropertyName names the String property (in KeyPropertySetID, the
// property the Graph connector writes too) on a series master syncgate
// wrote, holding the RRULE it was written from. Several RRULE spellings give
// one EWS pattern (FREQ=YEARLY and FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=15 from
// 15 March are one AbsoluteYearlyRecurrence); a master whose pattern still
// is what that rule gives reads back as the rule as written, so a series
// written from another end keeps its hash. A pattern changed in Outlook no
// longer matches and reads as EWS spells it.
const RulePropertyName = "SyncgateRule"

var ruleURI = extendedFieldURI{PropertySetID: KeyPropertySetID, PropertyName: RulePropertyName, PropertyType: "String"}

// ruleText is the rule property's value: the RRULE, after "TZID=<IANA
// zone>;" when the series has a zone, since a Windows zone id names one of
// several IANA zones (India Standard Time is Asia/Calcutta and
// Asia/Kolkata).
func ruleText(r *model.Recurrence) string {
	n := r.Normalize()
	if n.TimeZone == "" {
		return n.RRULE()
	}
	return "TZID=" + n.TimeZone + ";" + n.RRULE()
}

// writtenRule returns the rule as syncgate wrote it when it still gives
// the pattern EWS holds (r, read from it), else r.
func (c *Connector) writtenRule(cal *rCalendarItem, e model.Event, r *model.Recurrence) *model.Recurrence {
	text := cal.extended(RulePropertyName)
	if text == "" {
		return r
	}
	zone := r.TimeZone
	if rest, ok := strings.CutPrefix(text, "TZID="); ok {
		zone, text, _ = strings.Cut(rest, ";")
	}
	w, err := model.ParseRRULE(text, zone)
	if err != nil {
		return r
	}
	ea, eb := e, e
	ea.Recurrence, eb.Recurrence = r, w
	if !c.samePattern(ea, eb) {
		return r
	}
	return w
}

// samePattern reports whether a and b are written as the same EWS
// recurrence in the same zone.
func (c *Connector) samePattern(a, b model.Event) bool {
	ra, za, _, errA := c.recurrenceToEWS(a)
	rb, zb, _, errB := c.recurrenceToEWS(b)
	if errA != nil || errB != nil || za != zb {
		return false
	}
	xa, err1 := xml.Marshal(ra)
	xb, err2 := xml.Marshal(rb)
	return err1 == nil && err2 == nil && string(xa) == string(xb)
}

// SupportsSeries implements connector.SeriesCapable.
func (c *Connector) SupportsSeries() bool { return true }

var _ connector.SeriesCapable = (*Connector)(nil)

var (
	ewsDays   = map[string]string{"Sunday": "SU", "Monday": "MO", "Tuesday": "TU", "Wednesday": "WE", "Thursday": "TH", "Friday": "FR", "Saturday": "SA"}
	rfcDays   = map[string]string{"SU": "Sunday", "MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday", "FR": "Friday", "SA": "Saturday"}
	daySets   = map[string][]string{"Day": {"MO", "TU", "WE", "TH", "FR", "SA", "SU"}, "Weekday": {"MO", "TU", "WE", "TH", "FR"}, "WeekendDay": {"SA", "SU"}}
	ewsIndex  = map[string]int{"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}
	indexName = map[int]string{1: "First", 2: "Second", 3: "Third", 4: "Fourth", -1: "Last"}
)

// minDays is the fewest days month m (0: any month) ever has.
func minDays(m int) int {
	if m < 1 || m > 12 || m == 2 {
		return 28 // every month, or February
	}
	return time.Date(2001, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// lastDayOf is the RRULE for "day d, or the month's last day when it is
// shorter", which is how Exchange reads a DayOfMonth beyond a month's end.
func lastDayOf(d int) (byMonthDay []int, bySetPos []int) {
	for i := 28; i <= d; i++ {
		byMonthDay = append(byMonthDay, i)
	}
	return byMonthDay, []int{-1}
}

// clampedDay recognises lastDayOf(d) in a rule: d, or 0.
func clampedDay(r model.Recurrence) int {
	if len(r.BySetPos) != 1 || r.BySetPos[0] != -1 || len(r.ByDay) > 0 || len(r.ByMonthDay) < 2 || r.ByMonthDay[0] != 28 {
		return 0
	}
	for i, d := range r.ByMonthDay {
		if d != 28+i {
			return 0
		}
	}
	return r.ByMonthDay[len(r.ByMonthDay)-1]
}

// recurrenceFromEWS maps a master's Recurrence; zone is its StartTimeZone.
func recurrenceFromEWS(rec *rRecurrence, zone string, allDay bool) (*model.Recurrence, error) {
	if rec == nil || len(rec.Parts) != 2 {
		return nil, fmt.Errorf("%w: recurrence without one pattern and one range", model.ErrRecurrence)
	}
	pat, rng := rec.Parts[0], rec.Parts[1]
	loc, ok := parseZone(zone)
	if zone == "" {
		loc, ok = time.UTC, true
	}
	if !ok {
		return nil, fmt.Errorf("%w: time zone %q", model.ErrRecurrence, truncate(zone, 64))
	}
	r := &model.Recurrence{TimeZone: loc.String()}
	if v := strings.TrimSpace(pat.Interval); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%w: Interval %q", model.ErrRecurrence, truncate(v, 16))
		}
		r.Interval = n
	}
	days := func() ([]string, error) {
		var out []string
		for _, f := range strings.Fields(pat.DaysOfWeek) {
			if set, ok := daySets[f]; ok {
				out = append(out, set...)
				continue
			}
			d, ok := ewsDays[f]
			if !ok {
				return nil, fmt.Errorf("%w: day %q", model.ErrRecurrence, truncate(f, 16))
			}
			out = append(out, d)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: pattern without DaysOfWeek", model.ErrRecurrence)
		}
		return out, nil
	}
	relative := func() error {
		ds, err := days()
		if err != nil {
			return err
		}
		n, ok := ewsIndex[strings.TrimSpace(pat.DayOfWeekIndex)]
		if !ok {
			return fmt.Errorf("%w: DayOfWeekIndex %q", model.ErrRecurrence, truncate(pat.DayOfWeekIndex, 16))
		}
		if len(ds) == 1 {
			r.ByDay = []string{strconv.Itoa(n) + ds[0]}
		} else {
			r.ByDay, r.BySetPos = ds, []int{n}
		}
		return nil
	}
	month := func() (int, error) {
		for i := 1; i <= 12; i++ {
			if time.Month(i).String() == strings.TrimSpace(pat.Month) {
				return i, nil
			}
		}
		return 0, fmt.Errorf("%w: Month %q", model.ErrRecurrence, truncate(pat.Month, 16))
	}
	absolute := func(m int) error {
		d, err := strconv.Atoi(strings.TrimSpace(pat.DayOfMonth))
		if err != nil || d < 1 || d > 31 {
			return fmt.Errorf("%w: DayOfMonth %q", model.ErrRecurrence, truncate(pat.DayOfMonth, 16))
		}
		if d <= minDays(m) {
			r.ByMonthDay = []int{d}
		} else {
			r.ByMonthDay, r.BySetPos = lastDayOf(d)
		}
		return nil
	}
	var err error
	switch pat.XMLName.Local {
	case "DailyRecurrence":
		r.Freq = "DAILY"
	case "WeeklyRecurrence":
		r.Freq = "WEEKLY"
		if r.ByDay, err = days(); err != nil {
			return nil, err
		}
		// Exchange's weeks start on Sunday unless the pattern says otherwise.
		r.WeekStart = "SU"
		if f := strings.TrimSpace(pat.FirstDayOfWeek); f != "" {
			if r.WeekStart = ewsDays[f]; r.WeekStart == "" {
				return nil, fmt.Errorf("%w: FirstDayOfWeek %q", model.ErrRecurrence, truncate(f, 16))
			}
		}
	case "AbsoluteMonthlyRecurrence":
		r.Freq = "MONTHLY"
		err = absolute(0)
	case "RelativeMonthlyRecurrence":
		r.Freq = "MONTHLY"
		err = relative()
	case "AbsoluteYearlyRecurrence", "RelativeYearlyRecurrence":
		r.Freq = "YEARLY"
		m, merr := month()
		if merr != nil {
			return nil, merr
		}
		r.ByMonth = []int{m}
		if pat.XMLName.Local == "AbsoluteYearlyRecurrence" {
			err = absolute(m)
		} else {
			err = relative()
		}
	default:
		return nil, fmt.Errorf("%w: pattern %q", model.ErrRecurrence, truncate(pat.XMLName.Local, 40))
	}
	if err != nil {
		return nil, err
	}
	switch rng.XMLName.Local {
	case "NoEndRecurrence":
	case "NumberedRecurrence":
		n, err := strconv.Atoi(strings.TrimSpace(rng.NumberOfOccurrences))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%w: NumberOfOccurrences %q", model.ErrRecurrence, truncate(rng.NumberOfOccurrences, 16))
		}
		r.Count = n
	case "EndDateRecurrence":
		v := strings.TrimSpace(rng.EndDate)
		if len(v) < 10 {
			return nil, fmt.Errorf("%w: EndDate %q", model.ErrRecurrence, truncate(v, 16))
		}
		d, err := time.ParseInLocation(time.DateOnly, v[:10], loc)
		if err != nil {
			return nil, fmt.Errorf("%w: EndDate %q", model.ErrRecurrence, truncate(v, 16))
		}
		if allDay {
			r.Until = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
		} else {
			r.Until = d.AddDate(0, 0, 1).Add(-time.Second).UTC() // the whole end date
		}
	default:
		return nil, fmt.Errorf("%w: range %q", model.ErrRecurrence, truncate(rng.XMLName.Local, 40))
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// windowsZone is the Windows time-zone id of IANA zone name: the
// configured zone when it is that zone, else the table's name for it.
func (c *Connector) windowsZone(name string) (string, bool) {
	if name == "" || name == "UTC" || name == "Etc/UTC" {
		return "UTC", true
	}
	if c.tz.String() == name {
		return c.tzID, true
	}
	var hits []string
	zones := mailfmt.WindowsZones()
	for win, iana := range zones {
		if iana == name {
			hits = append(hits, win)
		}
	}
	if len(hits) == 0 {
		// Another name of a listed zone (Asia/Kolkata for Asia/Calcutta).
		want, err := time.LoadLocation(name)
		if err != nil {
			return "", false
		}
		for win, iana := range zones {
			if l, err := time.LoadLocation(iana); err == nil && sameZone(l, want) {
				hits = append(hits, win)
			}
		}
	}
	if len(hits) == 0 {
		return "", false
	}
	sort.Strings(hits)
	return windowsCase(hits[0]), true
}

// sameZone reports whether a and b have the same offset every day from
// 2010 to 2040, the years a series is written for.
func sameZone(a, b *time.Location) bool {
	for t := time.Date(2010, 1, 1, 12, 0, 0, 0, time.UTC); t.Year() < 2040; t = t.Add(24 * time.Hour) {
		_, oa := t.In(a).Zone()
		_, ob := t.In(b).Zone()
		if oa != ob {
			return false
		}
	}
	return true
}

// windowsCase restores the spelling of a lower-cased Windows zone id.
func windowsCase(s string) string {
	upper := map[string]bool{"us": true, "sa": true, "aus": true, "gtb": true, "fle": true, "se": true, "ne": true, "nw": true, "gmt": true}
	words := strings.Fields(s)
	for i, w := range words {
		switch {
		case upper[w] || strings.HasPrefix(w, "utc"):
			words[i] = strings.ToUpper(w)
		case w == "(mexico)":
			words[i] = "(Mexico)"
		default:
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

// recurrenceToEWS is the Recurrence, StartTimeZone and first start of a
// series master; ErrUnsupported for a rule EWS cannot express exactly.
func (c *Connector) recurrenceToEWS(e model.Event) (*wRecurrence, string, *time.Location, error) {
	unsupported := func(why string) (*wRecurrence, string, *time.Location, error) {
		return nil, "", nil, fmt.Errorf("%w: ews cannot express the recurrence %s: %s", connector.ErrUnsupported, e.Recurrence.RRULE(), why)
	}
	r := e.Recurrence.Normalize()
	if err := r.Validate(); err != nil {
		return unsupported(err.Error())
	}
	if err := r.PatternOnly(); err != nil {
		return unsupported(err.Error())
	}
	// The series zone: timed occurrences keep its wall clock, all-day
	// ones are its midnights.
	zoneID, ok := c.windowsZone(r.TimeZone)
	if !ok {
		return unsupported("time zone without a Windows id")
	}
	loc, ok := parseZone(zoneID)
	if !ok {
		return unsupported("time zone")
	}
	var first time.Time
	if e.AllDay {
		d, err := time.Parse(time.DateOnly, e.StartDate)
		if err != nil {
			return unsupported("all-day series without a start date")
		}
		first = d
	} else {
		first = e.Start.In(loc)
	}
	pat := wPattern{Interval: max(r.Interval, 1)}
	var plain []string
	ord, ordinals := 0, 0
	for _, d := range r.ByDay {
		code := d[len(d)-2:]
		if n := strings.TrimSuffix(d, code); n != "" {
			ordinals++
			ord, _ = strconv.Atoi(n)
		}
		plain = append(plain, code)
	}
	daysOf := func(codes []string) string {
		for name, set := range daySets {
			if len(set) == len(codes) && len(codes) > 1 && !slices.ContainsFunc(codes, func(c string) bool { return !slices.Contains(set, c) }) {
				return name
			}
		}
		out := make([]string, len(codes))
		for i, c := range codes {
			out[i] = rfcDays[c]
		}
		return strings.Join(out, " ")
	}
	// relative fills the pattern of "the n-th of these days".
	relative := func() (bool, string) {
		switch {
		case len(r.ByDay) == 0:
			return false, ""
		case ordinals == 1 && len(r.ByDay) == 1 && len(r.BySetPos) == 0:
		case ordinals == 0 && len(r.BySetPos) == 1:
			ord = r.BySetPos[0]
			if d := daysOf(plain); strings.Contains(d, " ") {
				return false, "BYSETPOS over days other than one day, Day, Weekday or WeekendDay"
			}
		default:
			return false, "BYDAY needs one ordinal, or days with one BYSETPOS"
		}
		if indexName[ord] == "" {
			return false, "ordinal other than 1-4 or -1"
		}
		if len(r.ByMonthDay) > 0 {
			return false, "BYDAY with BYMONTHDAY"
		}
		pat.DaysOfWeek, pat.DayOfWeekIndex = daysOf(plain), indexName[ord]
		return true, ""
	}
	// absolute fills DayOfMonth for month m (0: every month).
	absolute := func(m int) string {
		limit := 28
		if m > 0 {
			limit = minDays(m)
		}
		switch {
		case len(r.ByMonthDay) == 0 && len(r.BySetPos) == 0:
			if first.Day() > limit {
				return "a day of month some months lack (Exchange moves it to their last day)"
			}
			pat.DayOfMonth = first.Day()
		case len(r.ByMonthDay) == 1 && len(r.BySetPos) == 0 && r.ByMonthDay[0] > 0 && r.ByMonthDay[0] <= limit:
			pat.DayOfMonth = r.ByMonthDay[0]
		case clampedDay(r) > limit:
			pat.DayOfMonth = clampedDay(r)
		default:
			return "BYMONTHDAY other than one day every month has, or the month's last day from 29-31"
		}
		return ""
	}
	switch r.Freq {
	case "DAILY":
		if len(r.ByDay)+len(r.ByMonthDay)+len(r.ByMonth)+len(r.BySetPos) > 0 {
			return unsupported("DAILY with BY rules")
		}
		pat.XMLName = xmlT("DailyRecurrence")
	case "WEEKLY":
		if ordinals > 0 || len(r.ByMonthDay)+len(r.ByMonth)+len(r.BySetPos) > 0 {
			return unsupported("WEEKLY with rules other than BYDAY")
		}
		if len(plain) == 0 {
			plain = []string{strings.ToUpper(first.Weekday().String()[:2])}
		}
		ws := "MO"
		if r.WeekStart != "" {
			ws = r.WeekStart
		}
		pat.XMLName, pat.DaysOfWeek, pat.FirstDayOfWeek = xmlT("WeeklyRecurrence"), daysOf(plain), rfcDays[ws]
	case "MONTHLY":
		if len(r.ByMonth) > 0 {
			return unsupported("MONTHLY with BYMONTH")
		}
		rel, why := relative()
		switch {
		case why != "":
			return unsupported(why)
		case rel:
			pat.XMLName = xmlT("RelativeMonthlyRecurrence")
		default:
			if why := absolute(0); why != "" {
				return unsupported(why)
			}
			pat.XMLName = xmlT("AbsoluteMonthlyRecurrence")
		}
	case "YEARLY":
		if r.Interval > 1 {
			return unsupported("yearly with an INTERVAL (EWS yearly patterns have none)")
		}
		m := int(first.Month())
		switch len(r.ByMonth) {
		case 0:
		case 1:
			m = r.ByMonth[0]
		default:
			return unsupported("more than one BYMONTH")
		}
		pat.Interval, pat.Month = 0, time.Month(m).String()
		rel, why := relative()
		switch {
		case why != "":
			return unsupported(why)
		case rel:
			pat.XMLName = xmlT("RelativeYearlyRecurrence")
		default:
			if why := absolute(m); why != "" {
				return unsupported(why)
			}
			pat.XMLName = xmlT("AbsoluteYearlyRecurrence")
		}
	default:
		return unsupported("FREQ")
	}
	rng := wRange{XMLName: xmlT("NoEndRecurrence"), StartDate: first.Format(time.DateOnly)}
	switch {
	case r.Count > 999:
		return unsupported("COUNT above 999")
	case r.Count > 0:
		rng.XMLName, rng.NumberOfOccurrences = xmlT("NumberedRecurrence"), r.Count
	case !r.Until.IsZero() && e.AllDay:
		rng.XMLName, rng.EndDate = xmlT("EndDateRecurrence"), r.UntilDate()
	case !r.Until.IsZero():
		rng.XMLName, rng.EndDate = xmlT("EndDateRecurrence"), r.Until.In(loc).Format(time.DateOnly)
	}
	return &wRecurrence{Pattern: pat, Range: rng}, zoneID, loc, nil
}

func xmlT(local string) xml.Name { return xml.Name{Space: NSTypes, Local: local} }

// originalKey is the Exception key of an occurrence's original start.
func originalKey(v string, allDay bool, zone string) (string, bool) {
	t, err := parseInstant(v)
	if err != nil {
		return "", false
	}
	if allDay {
		return civilDate(t, zone), true
	}
	return t.Truncate(time.Second).Format(time.RFC3339), true
}

// instanceIndex is the 1-based InstanceIndex of the occurrence keyed k, or
// 0 when the rule has no such occurrence.
func instanceIndex(e *model.Event, k string) int {
	var from, to time.Time
	if e.AllDay {
		s, err1 := time.Parse(time.DateOnly, e.StartDate)
		d, err2 := time.Parse(time.DateOnly, k)
		if err1 != nil || err2 != nil {
			return 0
		}
		from, to = s, d.AddDate(0, 0, 1)
	} else {
		t, err := time.Parse(time.RFC3339, k)
		if err != nil {
			return 0
		}
		from, to = e.Start, t.Add(time.Second)
	}
	keys, err := e.OriginalStarts(from, to)
	if err != nil || len(keys) == 0 || keys[len(keys)-1] != k {
		return 0
	}
	return len(keys)
}

// zoneOfItem is the zone an item's all-day midnights are in.
func zoneOfItem(r *rCalendarItem) string {
	if r.StartTimeZone != nil {
		return r.StartTimeZone.ID
	}
	return ""
}

// seriesItem completes the master cal into one item: the recurrence, and
// the window's exceptions (read with GetItem by OccurrenceItemId) and
// cancellations. inWindow reports whether the series has an occurrence in
// the window. A master whose pattern cannot be read is returned without
// Recurrence (the engine skips it and says why).
func (c *Connector) seriesItem(ctx context.Context, s connector.Scope, cal *rCalendarItem) (it *model.Item, inWindow bool, err error) {
	it, err = cal.item()
	if err != nil {
		return nil, false, err
	}
	it.Event.Attendees = cal.attendees(s.User)
	it.Event.Series = "master"
	zone := zoneOfItem(cal)
	rec, rerr := recurrenceFromEWS(cal.Recurrence, zone, it.Event.AllDay)
	if rerr != nil {
		return it, overlapsWindow(it.Event, s), nil
	}
	rec = c.writtenRule(cal, *it.Event, rec)
	ev := it.Event
	ev.Recurrence = rec
	origs, oerr := ev.OriginalStarts(s.WindowStart, s.WindowEnd)
	if oerr != nil {
		ev.Recurrence = nil
		return it, overlapsWindow(it.Event, s), nil
	}
	// Cancelled occurrences.
	var xs []model.Exception
	for _, d := range cal.DeletedOccurrences {
		if k, ok := originalKey(d.Start, ev.AllDay, zone); ok {
			xs = append(xs, model.Exception{OriginalStart: k, Cancelled: true})
		}
	}
	// Moved or edited occurrences: only those in the window are read.
	mods := map[string]rOccurrenceInfo{}
	for _, m := range cal.ModifiedOccurrences {
		if k, ok := originalKey(m.OriginalStart, ev.AllDay, zone); ok {
			mods[k] = m
			xs = append(xs, model.Exception{OriginalStart: k})
		}
	}
	rec.Exceptions = xs
	in, _ := rec.SplitExceptions(s.WindowStart, s.WindowEnd)
	var keep []model.Exception
	want := map[int]string{}
	for _, x := range in {
		if x.Cancelled {
			keep = append(keep, x)
			continue
		}
		if ix := instanceIndex(ev, x.OriginalStart); ix > 0 {
			want[ix] = x.OriginalStart
		}
	}
	masterID, _ := cal.id()
	got, err := c.getOccurrences(ctx, s, masterID, want)
	if err != nil {
		return nil, false, err
	}
	for ix, k := range want {
		o := got[ix]
		if o == nil {
			continue // gone meanwhile
		}
		if ok, _ := originalKey(o.OriginalStart, ev.AllDay, zone); ok != k {
			return nil, false, fmt.Errorf("ews read series: occurrence %d is not the one the rule puts at %s", ix, k)
		}
		keep = append(keep, exceptionOf(ev, k, o, zone))
	}
	rec.Exceptions = keep
	n := ev.Normalize()
	it.Event = &n
	occ, _ := n.Occurrences(s.WindowStart, s.WindowEnd)
	return it, len(occ) > 0 || len(origs) > 0, nil
}

// exceptionOf is what occurrence o (original start k) changes of master e.
func exceptionOf(e *model.Event, k string, o *rCalendarItem, zone string) model.Exception {
	x := model.Exception{OriginalStart: k}
	st, err1 := parseInstant(o.Start)
	en, err2 := parseInstant(o.End)
	if err1 == nil && err2 == nil {
		if e.AllDay {
			oz := zoneOfItem(o)
			if oz == "" {
				oz = zone
			}
			sd, ed := civilDate(st, oz), civilDate(en, oz)
			if sd != k || ed != addDays(k, daysBetween(e.StartDate, e.EndDate)) {
				x.StartDate, x.EndDate = sd, ed
			}
		} else if st.Format(time.RFC3339) != k || en.Sub(st) != e.End.Sub(e.Start) {
			x.Start, x.End = st, en
		}
	}
	if v := strings.TrimSpace(o.Subject); v != e.Subject {
		x.Subject = o.Subject
	}
	if v := strings.TrimSpace(o.Location); v != e.Location {
		x.Location = o.Location
	}
	if v := strings.TrimSpace(bodyText(o.Body)); v != e.Description {
		x.Description = bodyText(o.Body)
	}
	return x
}

func daysBetween(a, b string) int {
	x, err1 := time.Parse(time.DateOnly, a)
	y, err2 := time.Parse(time.DateOnly, b)
	if err1 != nil || err2 != nil {
		return 1
	}
	return int(y.Sub(x).Hours()/24 + 0.5)
}

func addDays(d string, n int) string {
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return d
	}
	return t.AddDate(0, 0, n).Format(time.DateOnly)
}

// getOccurrences reads occurrences of masterID by InstanceIndex with
// GetItem in batches; an occurrence gone since (deleted, out of range) is
// left out.
func (c *Connector) getOccurrences(ctx context.Context, s connector.Scope, masterID string, want map[int]string) (map[int]*rCalendarItem, error) {
	const what = "ews get series exceptions"
	idx := make([]int, 0, len(want))
	for i := range want {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	out := map[int]*rCalendarItem{}
	for len(idx) > 0 {
		n := min(len(idx), c.getBatch)
		batch := idx[:n]
		idx = idx[n:]
		req := getItemReq{ItemShape: readShape(model.Events)}
		for _, i := range batch {
			req.ItemIDs.Occurrences = append(req.ItemIDs.Occurrences, tOccurrenceItemID{RecurringMasterID: masterID, InstanceIndex: i})
		}
		cl := call{op: "GetItem", what: what, body: req, n: len(batch), ids: []string{masterID}}
		msgs, rid, err := c.exec(ctx, ref(s), cl)
		if err != nil {
			return nil, err
		}
		for i := range msgs {
			m := &msgs[i]
			if !ok(m) {
				switch m.ResponseCode {
				case "ErrorCalendarOccurrenceIsDeletedFromRecurrence", "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "ErrorItemNotFound":
					continue
				}
				return nil, msgError(cl, m, rid)
			}
			if m.Items == nil || len(m.Items.CalendarItems) != 1 {
				return nil, fmt.Errorf("%s: malformed response: a message without one calendar item", what)
			}
			out[batch[i]] = &m.Items.CalendarItems[0]
		}
	}
	return out, nil
}

// toItem is a fetched item as Get returns it: a master as its series.
func (c *Connector) toItem(ctx context.Context, s connector.Scope, f *fetched) (*model.Item, error) {
	if s.Kind == model.Events && f.cal != nil && f.cal.CalendarItemType == "RecurringMaster" {
		it, _, err := c.seriesItem(ctx, s, f.cal)
		return it, err
	}
	return f.item(s)
}

// calendarItem turns a fetched calendar item into the scope's item:
// a master becomes its series (listed is false when the series has no
// occurrence in the window); occurrences and exceptions are never items of
// their own (nil); other items are listed when they overlap the window.
func (c *Connector) calendarItem(ctx context.Context, s connector.Scope, f *fetched) (it *model.Item, listed bool, err error) {
	if f.cal == nil {
		it, err = f.item(s)
		return it, err == nil, err
	}
	switch f.cal.CalendarItemType {
	case "RecurringMaster":
		return c.seriesItem(ctx, s, f.cal)
	case "Occurrence", "Exception":
		return nil, false, nil
	}
	it, err = f.item(s)
	if err != nil {
		return nil, false, err
	}
	return it, overlapsWindow(it.Event, s), nil
}

// seriesTimes renders a master's first occurrence: a timed one as its
// instants, an all-day one as midnights of the zone its recurrence uses.
func seriesTimes(e model.Event, loc *time.Location) (start, end string, err error) {
	if !e.AllDay {
		if e.Start.IsZero() || e.End.Before(e.Start) {
			return "", "", fmt.Errorf("%w: series without a start, or ending before it starts", connector.ErrUnsupported)
		}
		return e.Start.UTC().Format(ewsTime), e.End.UTC().Format(ewsTime), nil
	}
	sd, err1 := time.Parse(time.DateOnly, e.StartDate)
	ed, err2 := time.Parse(time.DateOnly, e.EndDate)
	if err1 != nil || err2 != nil || !ed.After(sd) {
		return "", "", fmt.Errorf("%w: all-day series without valid dates", connector.ErrUnsupported)
	}
	mid := func(d time.Time) string {
		return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc).UTC().Format(ewsTime)
	}
	return mid(sd), mid(ed), nil
}

// createSeries writes a master with its recurrence, then the window's
// exceptions and cancellations on its occurrences.
func (c *Connector) createSeries(ctx context.Context, s connector.Scope, key string, e model.Event) (*model.Item, error) {
	const what = "ews create series"
	if e.Recurrence == nil {
		return nil, fmt.Errorf("%w: %s: a series master without a recurrence", connector.ErrUnsupported, what)
	}
	rec, zoneID, loc, err := c.recurrenceToEWS(e)
	if err != nil {
		return nil, err
	}
	single := e
	single.Series, single.Recurrence = "", nil
	w, err := c.newCalendarItem(single, key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if w.Start, w.End, err = seriesTimes(e, loc); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	w.Recurrence = rec
	w.ExtendedProperty = append(w.ExtendedProperty, wExtendedProperty{URI: ruleURI, Value: ruleText(e.Recurrence)})
	w.StartTimeZone, w.EndTimeZone = &wTimeZone{ID: zoneID}, &wTimeZone{ID: zoneID}
	req := createItemReq{SavedItemFolderID: folderRef{Folder: distinguishedFolderID{ID: "calendar"}}, SendMeetingInvitations: "SendToNone"}
	req.Items.CalendarItem = w
	id, err := c.createItem(ctx, s, what, req)
	if err != nil {
		return nil, err
	}
	return c.writeExceptions(ctx, s, id, key, e)
}

// updateSeries brings master cur (read, its ChangeKey checked) to e: the
// content where it differs, the rule and times when they differ (which
// drops the master's exceptions in Exchange), then the window's exceptions.
func (c *Connector) updateSeries(ctx context.Context, s connector.Scope, id, marker string, cur *rCalendarItem, e model.Event) (*model.Item, error) {
	const what = "ews update series"
	if cur.CalendarItemType != "RecurringMaster" {
		return nil, fmt.Errorf("%w: %s: the item is not a series master", connector.ErrUnsupported, what)
	}
	if e.Recurrence == nil {
		return nil, fmt.Errorf("%w: %s: a series master without a recurrence", connector.ErrUnsupported, what)
	}
	rec, zoneID, loc, err := c.recurrenceToEWS(e)
	if err != nil {
		return nil, err
	}
	was, _, err := c.seriesItem(ctx, s, cur)
	if err != nil {
		return nil, err
	}
	n := e.Normalize()
	// Content first, compared with the times held equal.
	content := n
	content.Series, content.Recurrence = "", nil
	content.AllDay, content.Start, content.End, content.StartDate, content.EndDate = was.Event.AllDay, was.Event.Start, was.Event.End, was.Event.StartDate, was.Event.EndDate
	ups, err := c.eventUpdates(content, cur)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	w := was.Event
	setRule := setItemField{Extended: &ruleURI, Calendar: &wCalendarItem{ExtendedProperty: []wExtendedProperty{{URI: ruleURI, Value: ruleText(n.Recurrence)}}}}
	switch {
	case w.Recurrence == nil || !c.samePattern(*w, n) ||
		n.AllDay != w.AllDay || !n.Start.Equal(w.Start) || !n.End.Equal(w.End) || n.StartDate != w.StartDate || n.EndDate != w.EndDate:
		start, end, err := seriesTimes(n, loc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		ups = append(ups,
			setCal("calendar:Start", &wCalendarItem{Start: start}),
			setCal("calendar:End", &wCalendarItem{End: end}),
			setCal("calendar:IsAllDayEvent", &wCalendarItem{IsAllDayEvent: fmt.Sprint(n.AllDay)}),
			setCal("calendar:Recurrence", &wCalendarItem{Recurrence: rec}),
			setCal("calendar:StartTimeZone", &wCalendarItem{StartTimeZone: &wTimeZone{ID: zoneID}}),
			setCal("calendar:EndTimeZone", &wCalendarItem{EndTimeZone: &wTimeZone{ID: zoneID}}),
			setRule)
	case ruleText(n.Recurrence) != ruleText(w.Recurrence):
		// The same pattern spelled otherwise (FREQ=YEARLY for an
		// AbsoluteYearlyRecurrence): setting it again would drop the
		// series' exceptions; only the spelling is recorded.
		ups = append(ups, setRule)
	}
	if len(ups) > 0 {
		req := updateItemReq{ConflictResolution: "NeverOverwrite", SendMeetingInvitationsOrCancellations: "SendToNone"}
		req.ItemChanges.Change = itemChange{ItemID: &tItemID{ID: id, ChangeKey: marker}, Updates: updates{List: ups}}
		cl := call{op: "UpdateItem", what: what, body: req, n: 1, ids: []string{id}}
		msgs, rid, err := c.exec(ctx, ref(s), cl)
		if err != nil {
			return nil, err
		}
		if m := &msgs[0]; !ok(m) {
			return nil, msgError(cl, m, rid)
		}
	}
	return c.writeExceptions(ctx, s, id, cur.keyOf(), e)
}

// writeExceptions cancels (DeleteItem) and moves or edits (UpdateItem)
// the occurrences whose original start is in the window as e's exceptions
// say, by OccurrenceItemId, and puts edited occurrences no longer listed
// back to the rule's time and the master's content. What is already so is
// not written again, so a re-run after an interruption converges. A
// cancelled occurrence cannot be restored in EWS (ErrUnsupported). It
// returns the series as now stored.
func (c *Connector) writeExceptions(ctx context.Context, s connector.Scope, masterID, key string, e model.Event) (*model.Item, error) {
	const what = "ews write series exceptions"
	cur, err := c.getOne(ctx, s, what, masterID)
	if err != nil {
		return nil, err
	}
	if cur.cal == nil {
		return nil, fmt.Errorf("%s: the master is not a calendar item", what)
	}
	was, _, err := c.seriesItem(ctx, s, cur.cal)
	if err != nil {
		return nil, err
	}
	n := e.Normalize()
	want := map[string]model.Exception{}
	in, _ := n.Recurrence.SplitExceptions(s.WindowStart, s.WindowEnd)
	for _, x := range in {
		want[x.OriginalStart] = x
	}
	now := map[string]model.Exception{}
	if was.Event.Recurrence != nil {
		for _, x := range was.Event.Recurrence.Exceptions {
			now[x.OriginalStart] = x
		}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x := want[k]
		have, had := now[k]
		ix := instanceIndex(&n, k)
		switch {
		case ix == 0:
			return nil, fmt.Errorf("%w: %s: %s is no occurrence of the rule", connector.ErrUnsupported, what, k)
		case x.Cancelled && had && have.Cancelled:
			continue
		case x.Cancelled:
			if err := c.deleteOccurrence(ctx, s, masterID, ix); err != nil {
				return nil, err
			}
			continue
		case had && have.Cancelled:
			return nil, fmt.Errorf("%w: %s: a cancelled occurrence cannot be restored in ews (%s)", connector.ErrUnsupported, what, k)
		case had && sameException(x, have):
			continue
		}
		if err := c.updateOccurrence(ctx, s, masterID, ix, n, x); err != nil {
			return nil, err
		}
	}
	// Edited occurrences no longer listed: back to the rule.
	for k, x := range now {
		if _, ok := want[k]; ok || x.Cancelled {
			continue
		}
		if ix := instanceIndex(&n, k); ix > 0 {
			if err := c.updateOccurrence(ctx, s, masterID, ix, n, model.Exception{OriginalStart: k}); err != nil {
				return nil, err
			}
		}
	}
	out, err := c.getOne(ctx, s, what, masterID)
	if err != nil {
		return nil, err
	}
	it, _, err := c.calendarItem(ctx, s, out)
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, fmt.Errorf("%s: the master is not a series master", what)
	}
	if it.Key == "" {
		it.Key = key
	}
	return it, nil
}

func sameException(a, b model.Exception) bool {
	return a.OriginalStart == b.OriginalStart && a.Cancelled == b.Cancelled && a.Start.Equal(b.Start) && a.End.Equal(b.End) &&
		a.StartDate == b.StartDate && a.EndDate == b.EndDate && a.Subject == b.Subject && a.Location == b.Location && a.Description == b.Description
}

// deleteOccurrence cancels occurrence ix of masterID; one already
// cancelled is done.
func (c *Connector) deleteOccurrence(ctx context.Context, s connector.Scope, masterID string, ix int) error {
	const what = "ews cancel series occurrence"
	req := deleteItemReq{DeleteType: c.deleteType, SendMeetingCancellations: "SendToNone",
		ItemIDs: itemIDs{Occurrences: []tOccurrenceItemID{{RecurringMasterID: masterID, InstanceIndex: ix}}}}
	cl := call{op: "DeleteItem", what: what, body: req, n: 1, ids: []string{masterID}}
	msgs, rid, err := c.exec(ctx, ref(s), cl)
	if err != nil {
		return err
	}
	if m := &msgs[0]; !ok(m) && m.ResponseCode != "ErrorCalendarOccurrenceIsDeletedFromRecurrence" {
		return msgError(cl, m, rid)
	}
	return nil
}

// updateOccurrence makes occurrence ix of master e what x says: its times
// (the rule's when x does not move it), subject, location and body.
func (c *Connector) updateOccurrence(ctx context.Context, s connector.Scope, masterID string, ix int, e model.Event, x model.Exception) error {
	const what = "ews write series occurrence"
	occ := model.Event{AllDay: e.AllDay, Subject: e.Subject, Location: e.Location, Description: e.Description}
	if e.AllDay {
		occ.StartDate, occ.EndDate = x.OriginalStart, addDays(x.OriginalStart, daysBetween(e.StartDate, e.EndDate))
		if x.StartDate != "" {
			occ.StartDate, occ.EndDate = x.StartDate, x.EndDate
		}
	} else {
		st, err := time.Parse(time.RFC3339, x.OriginalStart)
		if err != nil {
			return fmt.Errorf("%s: bad original start", what)
		}
		occ.Start, occ.End = st, st.Add(e.End.Sub(e.Start))
		if !x.Start.IsZero() {
			occ.Start, occ.End = x.Start, x.End
		}
	}
	if x.Subject != "" {
		occ.Subject = x.Subject
	}
	if x.Location != "" {
		occ.Location = x.Location
	}
	if x.Description != "" {
		occ.Description = x.Description
	}
	_, _, loc, err := c.recurrenceToEWS(e)
	if err != nil {
		return err
	}
	start, end, err := seriesTimes(occ, loc)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	ups := []any{
		setCal("item:Subject", &wCalendarItem{Subject: strp(occ.Subject)}),
		setCal("item:Body", &wCalendarItem{Body: &wBody{BodyType: "Text", Text: occ.Description}}),
		setCal("calendar:Start", &wCalendarItem{Start: start}),
		setCal("calendar:End", &wCalendarItem{End: end}),
	}
	if occ.Location != "" {
		ups = append(ups, setCal("calendar:Location", &wCalendarItem{Location: strp(occ.Location)}))
	} else {
		ups = append(ups, deleteField("calendar:Location"))
	}
	req := updateItemReq{ConflictResolution: "AutoResolve", SendMeetingInvitationsOrCancellations: "SendToNone"}
	req.ItemChanges.Change = itemChange{Occurrence: &tOccurrenceItemID{RecurringMasterID: masterID, InstanceIndex: ix}, Updates: updates{List: ups}}
	cl := call{op: "UpdateItem", what: what, body: req, n: 1, ids: []string{masterID}}
	msgs, rid, err := c.exec(ctx, ref(s), cl)
	if err != nil {
		return err
	}
	if m := &msgs[0]; !ok(m) {
		return msgError(cl, m, rid)
	}
	return nil
}
