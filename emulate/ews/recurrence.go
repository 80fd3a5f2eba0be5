package ews

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // series expand in Windows zones mapped to IANA ones
)

// Recurring appointments as Exchange 2016/2019 keeps them: a
// RecurringMaster carries one pattern and one range; its occurrences are
// expanded from the range's StartDate in the master's StartTimeZone, at
// the wall-clock time of the master's Start, so they stay put across
// daylight saving changes of that zone. An occurrence is addressed by
// OccurrenceItemId (RecurringMasterId + 1-based InstanceIndex) or by the
// ItemId a CalendarView or the master's FirstOccurrence/ModifiedOccurrences
// reports; an updated occurrence becomes an Exception (an item of its own,
// listed in the master's ModifiedOccurrences, never in the folder); a
// deleted one is listed in DeletedOccurrences. Either changes the master
// (new ChangeKey, reported by SyncFolderItems as an Update). Changing the
// master's Recurrence, Start, End or time zone drops its exceptions, as
// Exchange does.
//
//   - Recurrence patterns and ranges:
//     https://learn.microsoft.com/exchange/client-developer/exchange-web-services/recurrence-patterns-and-ews
//   - DayOfMonth beyond a month's end means the month's last day:
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/absolutemonthlyrecurrence
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/dayofmonth
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/recurrence-recurrencetype
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/weeklyrecurrence
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/relativemonthlyrecurrence
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/absoluteyearlyrecurrence
//   - OccurrenceItemId, RecurringMasterItemId, InstanceIndex:
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/occurrenceitemid
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/recurringmasteritemid
//     https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-access-a-recurring-series-by-using-ews
//   - FirstOccurrence, LastOccurrence, ModifiedOccurrences, DeletedOccurrences:
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/modifiedoccurrences
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/deletedoccurrences
//     https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-update-a-recurring-series-by-using-ews
//   - CalendarView (StartDate, EndDate, MaxEntriesReturned) expands series:
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/calendarview
//     https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-get-appointments-and-meetings-by-using-ews-in-exchange
//   - Error codes (ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange,
//     ErrorCalendarOccurrenceIsDeletedFromRecurrence, ErrorItemNotFound):
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode
//     https://learn.microsoft.com/exchange/client-developer/exchange-web-services/handling-deletion-related-errors-in-ews-in-exchange

// maxExpand bounds one expansion (periods looked at), as a daily series
// without end would otherwise never stop.
const maxExpand = 20000

var (
	errOutOfRange = &ewsError{code: "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", msg: "Occurrence index is out of recurrence range."}
	errOccDeleted = &ewsError{code: "ErrorCalendarOccurrenceIsDeletedFromRecurrence", msg: "Occurrence with this index was previously deleted from the recurrence."}
	errBadRecur   = &ewsError{code: "ErrorCalendarInvalidRecurrence", msg: "The recurrence pattern is invalid."}
)

// seriesState is what a RecurringMaster knows of its occurrences.
type seriesState struct {
	exceptions map[int]*item // by InstanceIndex
	deleted    map[int]bool
	sig        string // recurrence, start, end and zone the state is for
}

// windowsZones maps the Windows time-zone ids Exchange uses (the common
// ones of CLDR windowsZones.xml) to IANA zones; an id not listed is tried
// as an IANA name.
var windowsZones = map[string]string{
	"utc": "UTC", "coordinated universal time": "UTC", "gmt standard time": "Europe/London", "greenwich standard time": "Atlantic/Reykjavik",
	"w. europe standard time": "Europe/Berlin", "central europe standard time": "Europe/Budapest", "romance standard time": "Europe/Paris",
	"central european standard time": "Europe/Warsaw", "gtb standard time": "Europe/Bucharest", "fle standard time": "Europe/Kiev",
	"e. europe standard time": "Europe/Chisinau", "russian standard time": "Europe/Moscow", "israel standard time": "Asia/Jerusalem",
	"eastern standard time": "America/New_York", "central standard time": "America/Chicago", "mountain standard time": "America/Denver",
	"us mountain standard time": "America/Phoenix", "pacific standard time": "America/Los_Angeles", "alaskan standard time": "America/Anchorage",
	"hawaiian standard time": "Pacific/Honolulu", "atlantic standard time": "America/Halifax", "e. south america standard time": "America/Sao_Paulo",
	"india standard time": "Asia/Calcutta", "china standard time": "Asia/Shanghai", "tokyo standard time": "Asia/Tokyo",
	"singapore standard time": "Asia/Singapore", "aus eastern standard time": "Australia/Sydney", "new zealand standard time": "Pacific/Auckland",
	"arabian standard time": "Asia/Dubai", "south africa standard time": "Africa/Johannesburg",
}

func zoneOf(id string) *time.Location {
	if id == "" {
		return time.UTC
	}
	if v, ok := windowsZones[strings.ToLower(id)]; ok {
		id = v
	}
	loc, err := time.LoadLocation(id)
	if err != nil {
		return time.UTC
	}
	return loc
}

func knownZone(id string) bool {
	if _, ok := windowsZones[strings.ToLower(id)]; ok {
		return true
	}
	_, err := time.LoadLocation(id)
	return err == nil && id != "" && id != "Local"
}

// rule is a parsed Recurrence.
type rule struct {
	kind       string // Daily, Weekly, AbsoluteMonthly, RelativeMonthly, AbsoluteYearly, RelativeYearly
	interval   int
	days       []time.Weekday // Weekly, Relative*: the day set
	index      int            // Relative*: 1..4, -1 = Last
	dayOfMonth int
	month      time.Month
	firstDay   time.Weekday
	start      time.Time // range StartDate (UTC midnight of the date)
	end        time.Time // EndDateRecurrence (date), or zero
	count      int       // NumberedRecurrence, or 0
}

var dayNames = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
var monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
var indexNames = map[string]int{"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}

// parseDays reads a DaysOfWeek list (DayOfWeekType: a day name, Day,
// Weekday or WeekendDay).
func parseDays(s string) ([]time.Weekday, bool) {
	var out []time.Weekday
	for _, f := range strings.Fields(s) {
		switch f {
		case "Day":
			out = append(out, 0, 1, 2, 3, 4, 5, 6)
		case "Weekday":
			out = append(out, 1, 2, 3, 4, 5)
		case "WeekendDay":
			out = append(out, 0, 6)
		default:
			i := slices.Index(dayNames, f)
			if i < 0 {
				return nil, false
			}
			out = append(out, time.Weekday(i))
		}
	}
	return out, len(out) > 0
}

func dateOf(s string) (time.Time, bool) {
	if len(s) < 10 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s[:10])
	return t, err == nil
}

// parseRule reads a stored Recurrence (already checked by checkRecurrence).
func parseRule(n *Node) (*rule, *ewsError) {
	if n == nil || len(n.Kids) != 2 {
		return nil, errBadRecur
	}
	pat, rng := n.Kids[0], n.Kids[1]
	r := &rule{kind: strings.TrimSuffix(pat.Local, "Recurrence"), interval: 1}
	if iv := pat.Child(NSTypes, "Interval"); iv != nil {
		r.interval, _ = strconv.Atoi(iv.Text)
	}
	if r.interval < 1 {
		return nil, errBadRecur
	}
	if d := pat.Child(NSTypes, "DaysOfWeek"); d != nil {
		days, ok := parseDays(d.Text)
		if !ok {
			return nil, &ewsError{code: "ErrorCalendarInvalidDayForWeeklyRecurrence", msg: "Invalid day for weekly recurrence."}
		}
		r.days = days
	}
	if f := pat.Child(NSTypes, "FirstDayOfWeek"); f != nil {
		i := slices.Index(dayNames, f.Text)
		if i < 0 {
			return nil, errBadRecur
		}
		r.firstDay = time.Weekday(i)
	}
	if x := pat.Child(NSTypes, "DayOfWeekIndex"); x != nil {
		v, ok := indexNames[x.Text]
		if !ok {
			return nil, &ewsError{code: "ErrorCalendarInvalidDayForTimeChangePattern", msg: "Invalid DayOfWeekIndex."}
		}
		r.index = v
	}
	if d := pat.Child(NSTypes, "DayOfMonth"); d != nil {
		v, err := strconv.Atoi(d.Text)
		if err != nil || v < 1 || v > 31 {
			return nil, errBadRecur
		}
		r.dayOfMonth = v
	}
	if m := pat.Child(NSTypes, "Month"); m != nil {
		i := slices.Index(monthNames, m.Text)
		if i < 0 {
			return nil, errBadRecur
		}
		r.month = time.Month(i + 1)
	}
	switch r.kind {
	case "Weekly":
		if len(r.days) == 0 {
			return nil, errBadRecur
		}
	case "RelativeMonthly", "RelativeYearly":
		if len(r.days) == 0 || r.index == 0 {
			return nil, errBadRecur
		}
	case "AbsoluteMonthly":
		if r.dayOfMonth == 0 {
			return nil, errBadRecur
		}
	case "AbsoluteYearly":
		if r.dayOfMonth == 0 {
			return nil, errBadRecur
		}
	}
	if strings.HasSuffix(r.kind, "Yearly") && r.month == 0 {
		return nil, errBadRecur
	}
	sd, ok := dateOf(rng.Child(NSTypes, "StartDate").textOrEmpty())
	if !ok {
		return nil, errBadRecur
	}
	r.start = sd
	switch rng.Local {
	case "EndDateRecurrence":
		ed, ok := dateOf(rng.Child(NSTypes, "EndDate").textOrEmpty())
		if !ok || ed.Before(sd) {
			return nil, errBadRecur
		}
		r.end = ed
	case "NumberedRecurrence":
		r.count, _ = strconv.Atoi(rng.Child(NSTypes, "NumberOfOccurrences").textOrEmpty())
		if r.count < 1 {
			return nil, errBadRecur
		}
	}
	return r, nil
}

func daysIn(y int, m time.Month) int { return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day() }

// nthDay is the index-th day of month y/m whose weekday is in days (-1 =
// the last such day), or false.
func nthDay(y int, m time.Month, days []time.Weekday, index int) (time.Time, bool) {
	var hits []time.Time
	for d := 1; d <= daysIn(y, m); d++ {
		t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		if slices.Contains(days, t.Weekday()) {
			hits = append(hits, t)
		}
	}
	switch {
	case index < 0 && len(hits) > 0:
		return hits[len(hits)-1], true
	case index > 0 && index <= len(hits):
		return hits[index-1], true
	}
	return time.Time{}, false
}

// dates calls yield with the rule's dates in order (no count or end
// applied) until yield returns false or maxExpand periods were looked at.
func (r *rule) dates(yield func(time.Time) bool) {
	clampDay := func(y int, m time.Month) time.Time {
		return time.Date(y, m, min(r.dayOfMonth, daysIn(y, m)), 0, 0, 0, 0, time.UTC)
	}
	emit := func(d time.Time) bool { return d.Before(r.start) || yield(d) }
	for p := 0; p < maxExpand; p++ {
		switch r.kind {
		case "Daily":
			if !emit(r.start.AddDate(0, 0, p*r.interval)) {
				return
			}
		case "Weekly":
			back := (int(r.start.Weekday()) - int(r.firstDay) + 7) % 7
			ws := r.start.AddDate(0, 0, -back+7*p*r.interval)
			for i := 0; i < 7; i++ {
				d := ws.AddDate(0, 0, i)
				if slices.Contains(r.days, d.Weekday()) && !emit(d) {
					return
				}
			}
		case "AbsoluteMonthly", "RelativeMonthly":
			first := time.Date(r.start.Year(), r.start.Month()+time.Month(p*r.interval), 1, 0, 0, 0, 0, time.UTC)
			if r.kind == "AbsoluteMonthly" {
				if !emit(clampDay(first.Year(), first.Month())) {
					return
				}
			} else if d, ok := nthDay(first.Year(), first.Month(), r.days, r.index); ok && !emit(d) {
				return
			}
		case "AbsoluteYearly", "RelativeYearly":
			y := r.start.Year() + p*r.interval
			if r.kind == "AbsoluteYearly" {
				if !emit(clampDay(y, r.month)) {
					return
				}
			} else if d, ok := nthDay(y, r.month, r.days, r.index); ok && !emit(d) {
				return
			}
		default:
			return
		}
	}
}

// occ is one expanded occurrence of a master.
type occ struct {
	index      int
	start, end time.Time // as the rule gives them (original)
}

// seriesClock is what expansion needs of the master.
type seriesClock struct {
	r        *rule
	loc      *time.Location
	h, m, s  int
	dur      time.Duration
	allDay   bool
	daysLong int
}

func clockOf(it *item) (*seriesClock, *ewsError) {
	if it.x == nil || it.x.recurrence == nil {
		return nil, errBadRecur
	}
	r, err := parseRule(it.x.recurrence)
	if err != nil {
		return nil, err
	}
	start, e1 := time.Parse(ewsTime, it.props["Start"])
	end, e2 := time.Parse(ewsTime, it.props["End"])
	if e1 != nil || e2 != nil {
		return nil, errBadRecur
	}
	c := &seriesClock{r: r, loc: zoneOf(it.x.startTZ), dur: end.Sub(start), allDay: it.props["IsAllDayEvent"] == "true"}
	ls := start.In(c.loc)
	c.h, c.m, c.s = ls.Clock()
	if c.allDay {
		c.h, c.m, c.s = 0, 0, 0
		c.daysLong = max(int((c.dur+12*time.Hour)/(24*time.Hour)), 1)
	}
	return c, nil
}

func (c *seriesClock) at(d time.Time) occ {
	st := time.Date(d.Year(), d.Month(), d.Day(), c.h, c.m, c.s, 0, c.loc)
	en := st.Add(c.dur)
	if c.allDay {
		en = time.Date(d.Year(), d.Month(), d.Day()+c.daysLong, 0, 0, 0, 0, c.loc)
	}
	return occ{start: st.UTC(), end: en.UTC()}
}

// expand calls yield with each occurrence (count and end applied), index
// 1-based, until yield returns false.
func (c *seriesClock) expand(yield func(occ) bool) {
	n := 0
	c.r.dates(func(d time.Time) bool {
		if !c.r.end.IsZero() && d.After(c.r.end) {
			return false
		}
		n++
		if c.r.count > 0 && n > c.r.count {
			return false
		}
		o := c.at(d)
		o.index = n
		return yield(o)
	})
}

// occurrenceAt returns occurrence index, or false when the series has
// fewer.
func (c *seriesClock) occurrenceAt(index int) (occ, bool) {
	var hit occ
	found := false
	c.expand(func(o occ) bool {
		if o.index == index {
			hit, found = o, true
			return false
		}
		return true
	})
	return hit, found
}

// bounded reports whether the series ends; last is then its last occurrence.
func (c *seriesClock) last() (occ, bool) {
	if c.r.count == 0 && c.r.end.IsZero() {
		return occ{}, false
	}
	var l occ
	c.expand(func(o occ) bool { l = o; return true })
	return l, l.index > 0
}

// seriesSig identifies what a master's occurrences are computed from.
func seriesSig(it *item) string {
	var x xw
	if it.x != nil && it.x.recurrence != nil {
		writeNode(&x, it.x.recurrence)
	}
	tz := ""
	if it.x != nil {
		tz = it.x.startTZ
	}
	return x.b.String() + "|" + it.props["Start"] + "|" + it.props["End"] + "|" + tz + "|" + it.props["IsAllDayEvent"]
}

// settleSeriesLocked keeps a master consistent after a create or update:
// its Start/End move to the first occurrence (as Exchange sets them), and
// a changed pattern, time or zone drops the exceptions and deletions.
func (s *Server) settleSeriesLocked(it *item) *ewsError {
	if it.class != "CalendarItem" || it.x == nil || it.x.recurrence == nil {
		if it.series != nil {
			s.dropExceptionsLocked(it)
			it.series = nil
		}
		return nil
	}
	if it.x.startTZ != "" && !knownZone(it.x.startTZ) {
		return &ewsError{code: "ErrorTimeZone", msg: "The time zone isn't valid."}
	}
	c, err := clockOf(it)
	if err != nil {
		return err
	}
	first, ok := c.occurrenceAt(1)
	if !ok {
		return &ewsError{code: "ErrorCalendarInvalidRecurrence", msg: "The recurrence has no occurrences."}
	}
	it.props["Start"], it.props["End"] = first.start.Format(ewsTime), first.end.Format(ewsTime)
	sig := seriesSig(it)
	if it.series == nil {
		it.series = &seriesState{exceptions: map[int]*item{}, deleted: map[int]bool{}, sig: sig}
	}
	if it.series.sig != sig {
		s.dropExceptionsLocked(it)
		it.series = &seriesState{exceptions: map[int]*item{}, deleted: map[int]bool{}, sig: sig}
	}
	return nil
}

func (s *Server) dropExceptionsLocked(master *item) {
	if master.series == nil {
		return
	}
	for _, ex := range master.series.exceptions {
		delete(s.itemsByID, ex.id)
	}
	master.series.exceptions = map[int]*item{}
	master.series.deleted = map[int]bool{}
}

// occurrenceID is the ItemId of occurrence index of master: the master's
// id and the index, so that it names the same occurrence for as long as the
// master exists.
func occurrenceID(master *item, index int) string {
	raw, _ := base64.StdEncoding.DecodeString(master.id)
	b := append([]byte{0x00, 0x03, 0x26}, binary.BigEndian.AppendUint32(nil, uint32(index))...)
	return base64.StdEncoding.EncodeToString(append(b, raw...))
}

// parseOccurrenceID is the inverse of occurrenceID.
func parseOccurrenceID(id string) (masterID string, index int, ok bool) {
	b, err := base64.StdEncoding.DecodeString(id)
	if err != nil || len(b) < 3+4+8 || b[0] != 0x00 || b[1] != 0x03 || b[2] != 0x26 {
		return "", 0, false
	}
	return base64.StdEncoding.EncodeToString(b[7:]), int(binary.BigEndian.Uint32(b[3:7])), true
}

// target is what an item reference names: a stored item (single, master
// or exception), or a not yet modified occurrence (it nil).
type target struct {
	it     *item
	master *item
	index  int
}

func (t *target) changeKey() string {
	if t.it != nil {
		return t.it.changeKey
	}
	return t.master.changeKey
}

// resolveOccurrence checks index of master: in range, not deleted.
func (s *Server) resolveOccurrence(master *item, index int) (*target, *ewsError) {
	if master.series == nil || master.props["CalendarItemType"] != "RecurringMaster" {
		return nil, errItemNotFound
	}
	if master.series.deleted[index] {
		return nil, errOccDeleted
	}
	if ex := master.series.exceptions[index]; ex != nil {
		return &target{it: ex, master: master, index: index}, nil
	}
	c, err := clockOf(master)
	if err != nil {
		return nil, err
	}
	if _, ok := c.occurrenceAt(index); !ok {
		return nil, errOutOfRange
	}
	return &target{master: master, index: index}, nil
}

// lookupTarget resolves t:ItemId, t:OccurrenceItemId or
// t:RecurringMasterItemId in mb.
func (s *Server) lookupTarget(mb *mailbox, n *Node) (*target, *ewsError) {
	if n == nil || n.Space != NSTypes {
		return nil, schemaErr("expected an item id")
	}
	switch n.Local {
	case "ItemId":
		id, _ := n.AttrValue("Id")
		if !validID(id) {
			return nil, errIDMalformed
		}
		if it := s.itemsByID[id]; it != nil {
			if it.folder.mbox != mb {
				return nil, errItemNotFound
			}
			if it.master != nil {
				return &target{it: it, master: it.master, index: it.instance}, nil
			}
			return &target{it: it}, nil
		}
		mid, index, ok := parseOccurrenceID(id)
		master := s.itemsByID[mid]
		if !ok || master == nil || master.folder.mbox != mb || master.series == nil || master.series.deleted[index] {
			return nil, errItemNotFound
		}
		return s.resolveOccurrence(master, index)
	case "OccurrenceItemId":
		mid, _ := n.AttrValue("RecurringMasterId")
		ix, _ := n.AttrValue("InstanceIndex")
		index, err := strconv.Atoi(ix)
		if err != nil || index < 1 {
			return nil, schemaErr("The 'InstanceIndex' attribute is invalid - The value '%s' is invalid according to its datatype 'int'.", truncate(ix, 20))
		}
		if !validID(mid) {
			return nil, errIDMalformed
		}
		master := s.itemsByID[mid]
		if master == nil || master.folder.mbox != mb {
			return nil, errItemNotFound
		}
		if ck, has := n.AttrValue("ChangeKey"); has && ck != "" && master.series != nil && master.series.exceptions[index] == nil && ck != master.changeKey {
			// An occurrence's ChangeKey is its master's until it is modified.
			return nil, &ewsError{code: "ErrorIrresolvableConflict", msg: "The change key passed in the request does not match the current change key for the item."}
		}
		return s.resolveOccurrence(master, index)
	case "RecurringMasterItemId":
		oid, _ := n.AttrValue("OccurrenceId")
		t, err := s.lookupTarget(mb, &Node{Space: NSTypes, Local: "ItemId", Attr: attrs("Id", oid)})
		if err != nil {
			return nil, err
		}
		if t.master == nil {
			return nil, &ewsError{code: "ErrorItemNotFound", msg: "The specified object was not found in the store."}
		}
		return &target{it: t.master}, nil
	}
	return nil, schemaErr("unexpected item id element '%s'", truncate(n.Local, 40))
}

// occurrenceItem is occurrence index of master as an item of its own (not
// stored): the master's properties at the occurrence's times.
func occurrenceItem(master *item, index int) *item {
	c, err := clockOf(master)
	if err != nil {
		return nil
	}
	o, ok := c.occurrenceAt(index)
	if !ok {
		return nil
	}
	v := cloneItem(master)
	v.id = occurrenceID(master, index)
	v.series, v.master, v.instance = nil, master, index
	v.x.recurrence = nil
	v.props["Start"], v.props["End"] = o.start.Format(ewsTime), o.end.Format(ewsTime)
	v.props["OriginalStart"] = o.start.Format(ewsTime)
	v.props["CalendarItemType"] = "Occurrence"
	v.props["IsRecurring"] = "true"
	return v
}

// render returns the item a target stands for.
func (s *Server) render(t *target) *item {
	if t.it != nil {
		return t.it
	}
	return occurrenceItem(t.master, t.index)
}

// commitException stores ex (an updated occurrence) on its master.
func (s *Server) commitExceptionLocked(ex *item) {
	m := ex.master
	ex.props["CalendarItemType"] = "Exception"
	m.series.exceptions[ex.instance] = ex
	s.itemsByID[ex.id] = ex
	s.touchLocked(ex)
	s.touchLocked(m)
}

// deleteOccurrenceLocked cancels occurrence t.
func (s *Server) deleteOccurrenceLocked(t *target) {
	m := t.master
	if ex := m.series.exceptions[t.index]; ex != nil {
		delete(s.itemsByID, ex.id)
		delete(m.series.exceptions, t.index)
	}
	m.series.deleted[t.index] = true
	s.touchLocked(m)
}

// writeSeriesProp renders the master-only properties FirstOccurrence,
// LastOccurrence, ModifiedOccurrences and DeletedOccurrences, and an
// occurrence's OriginalStart.
func writeSeriesProp(x *xw, it *item, name string) bool {
	switch name {
	case "OriginalStart":
		if v := it.props["OriginalStart"]; v != "" {
			x.elem("t:OriginalStart", v)
		}
		return true
	case "FirstOccurrence", "LastOccurrence", "ModifiedOccurrences", "DeletedOccurrences":
	default:
		return false
	}
	if it.series == nil || it.props["CalendarItemType"] != "RecurringMaster" {
		return true
	}
	c, err := clockOf(it)
	if err != nil {
		return true
	}
	info := func(tag string, index int, o occ) {
		id, st, en := occurrenceID(it, index), o.start, o.end
		ck := it.changeKey
		if ex := it.series.exceptions[index]; ex != nil {
			st, _ = time.Parse(ewsTime, ex.props["Start"])
			en, _ = time.Parse(ewsTime, ex.props["End"])
			ck = ex.changeKey
		}
		x.open(tag)
		x.empty("t:ItemId", "Id", id, "ChangeKey", ck)
		x.elem("t:Start", st.Format(ewsTime))
		x.elem("t:End", en.Format(ewsTime))
		x.elem("t:OriginalStart", o.start.Format(ewsTime))
		x.close(tag)
	}
	switch name {
	case "FirstOccurrence":
		if o, ok := c.occurrenceAt(1); ok {
			info("t:FirstOccurrence", 1, o)
		}
	case "LastOccurrence":
		if o, ok := c.last(); ok {
			info("t:LastOccurrence", o.index, o)
		}
	case "ModifiedOccurrences":
		idx := sortedIndexes(it.series.exceptions)
		if len(idx) == 0 {
			return true
		}
		x.open("t:ModifiedOccurrences")
		for _, i := range idx {
			if o, ok := c.occurrenceAt(i); ok {
				info("t:Occurrence", i, o)
			}
		}
		x.close("t:ModifiedOccurrences")
	case "DeletedOccurrences":
		var idx []int
		for i := range it.series.deleted {
			idx = append(idx, i)
		}
		if len(idx) == 0 {
			return true
		}
		sort.Ints(idx)
		x.open("t:DeletedOccurrences")
		for _, i := range idx {
			if o, ok := c.occurrenceAt(i); ok {
				x.open("t:DeletedOccurrence")
				x.elem("t:Start", o.start.Format(ewsTime))
				x.close("t:DeletedOccurrence")
			}
		}
		x.close("t:DeletedOccurrences")
	}
	return true
}

func sortedIndexes(m map[int]*item) []int {
	out := make([]int, 0, len(m))
	for i := range m {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// calendarView lists what a CalendarView shows of master in [from, to):
// its occurrences and exceptions (by their own times), deleted ones left
// out.
func (s *Server) calendarView(master *item, from, to time.Time) []*item {
	c, err := clockOf(master)
	if err != nil || master.series == nil {
		return nil
	}
	overlaps := func(st, en time.Time) bool {
		return st.Before(to) && en.After(from) || st.Equal(en) && !st.Before(from) && st.Before(to)
	}
	var out []*item
	c.expand(func(o occ) bool {
		if !o.start.Before(to) {
			return false
		}
		if master.series.deleted[o.index] || master.series.exceptions[o.index] != nil {
			return true
		}
		if overlaps(o.start, o.end) {
			if v := occurrenceItem(master, o.index); v != nil {
				out = append(out, v)
			}
		}
		return true
	})
	for _, i := range sortedIndexes(master.series.exceptions) {
		ex := master.series.exceptions[i]
		st, _ := time.Parse(ewsTime, ex.props["Start"])
		en, _ := time.Parse(ewsTime, ex.props["End"])
		if overlaps(st, en) {
			out = append(out, ex)
		}
	}
	return out
}

// checkSeries validates an update of it into next before anything is
// written: an occurrence cannot get a recurrence of its own, and a master's
// pattern must be valid and have an occurrence.
func checkSeries(it, next *item) *ewsError {
	hasRec := next.x != nil && next.x.recurrence != nil
	if it.master != nil {
		if hasRec {
			return &ewsError{code: "ErrorInvalidPropertySet", msg: "Set action is invalid for property."}
		}
		return nil
	}
	if !hasRec {
		return nil
	}
	if next.x.startTZ != "" && !knownZone(next.x.startTZ) {
		return &ewsError{code: "ErrorTimeZone", msg: "The time zone isn't valid."}
	}
	c, err := clockOf(next)
	if err != nil {
		return err
	}
	if _, ok := c.occurrenceAt(1); !ok {
		return &ewsError{code: "ErrorCalendarInvalidRecurrence", msg: "The recurrence has no occurrences."}
	}
	return nil
}

// OccurrenceEdit is what ModifyOccurrence changes; empty fields stay.
type OccurrenceEdit struct {
	Start, End        time.Time
	Subject, Location string
	Body              string
}

// ModifyOccurrence edits occurrence index (1-based) of master as the
// mailbox owner would in Outlook: it becomes an exception and the master
// changes. It returns the exception's ItemId.
func (s *Server) ModifyOccurrence(masterID string, index int, e OccurrenceEdit) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.itemsByID[masterID]
	if m == nil {
		return "", fmt.Errorf("ews: no item %s", truncate(masterID, 20))
	}
	t, err := s.resolveOccurrence(m, index)
	if err != nil {
		return "", fmt.Errorf("ews: occurrence %d: %w", index, err)
	}
	ex := s.render(t)
	next := cloneItem(ex)
	for k, v := range map[string]string{"Subject": e.Subject, "Location": e.Location, "Body": e.Body} {
		if v != "" {
			next.props[k] = v
		}
	}
	if !e.Start.IsZero() {
		next.props["Start"], next.props["End"] = e.Start.UTC().Format(ewsTime), e.End.UTC().Format(ewsTime)
	}
	if err := validateItem(next); err != nil {
		return "", fmt.Errorf("ews: occurrence %d: %w", index, err)
	}
	ex.props = next.props
	if t.it == nil {
		s.commitExceptionLocked(ex)
	} else {
		s.touchLocked(ex)
		s.touchLocked(m)
	}
	return ex.id, nil
}

// DeleteOccurrence cancels occurrence index (1-based) of master, as the
// mailbox owner would in Outlook.
func (s *Server) DeleteOccurrence(masterID string, index int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.itemsByID[masterID]
	if m == nil {
		return fmt.Errorf("ews: no item %s", truncate(masterID, 20))
	}
	t, err := s.resolveOccurrence(m, index)
	if err != nil {
		return fmt.Errorf("ews: occurrence %d: %w", index, err)
	}
	s.deleteOccurrenceLocked(t)
	return nil
}

// SeriesOccurrence is one occurrence as Occurrences reports it.
type SeriesOccurrence struct {
	Index         int
	ItemID        string
	Start, End    time.Time
	OriginalStart time.Time
	Type          string // Occurrence | Exception
	Subject       string
}

// Occurrences expands master over [from, to) as a CalendarView would.
func (s *Server) Occurrences(masterID string, from, to time.Time) ([]SeriesOccurrence, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.itemsByID[masterID]
	if m == nil || m.series == nil {
		return nil, fmt.Errorf("ews: no recurring master %s", truncate(masterID, 20))
	}
	var out []SeriesOccurrence
	for _, it := range s.calendarView(m, from, to) {
		st, _ := time.Parse(ewsTime, it.props["Start"])
		en, _ := time.Parse(ewsTime, it.props["End"])
		os, _ := time.Parse(ewsTime, it.props["OriginalStart"])
		out = append(out, SeriesOccurrence{Index: it.instance, ItemID: it.id, Start: st, End: en, OriginalStart: os, Type: it.props["CalendarItemType"], Subject: it.props["Subject"]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}
