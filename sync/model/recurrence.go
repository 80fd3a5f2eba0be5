package model

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Recurrence is a series master's rule, normalised from every end's own
// spelling (Salesforce Recurrence2PatternText, Graph patternedRecurrence,
// Google RRULE lines, EWS Recurrence) to an RFC 5545 RRULE subset: FREQ
// DAILY|WEEKLY|MONTHLY|YEARLY, INTERVAL, BYDAY (with ordinals for MONTHLY
// and YEARLY), BYMONTHDAY, BYMONTH, BYSETPOS, COUNT, UNTIL and WKST.
//
// The series' first occurrence is the master Event's Start/End (timed) or
// StartDate/EndDate (all-day); the rule is expanded in TimeZone (IANA), so
// the wall-clock time stays put across daylight saving changes in that
// zone whatever other zones do. The first start counts as an occurrence
// only when it matches the rule (every end here writes it so that it does).
//
// Exceptions are the series' moved or edited occurrences and its
// cancelled ones, keyed by the occurrence's original start. They belong to
// the master: the engine syncs a series as one item, and cancelling an
// occurrence is a change of the master, never a delete.
type Recurrence struct {
	Freq       string    `json:"freq"`
	Interval   int       `json:"interval,omitempty"`     // 0 or 1 = every period
	ByDay      []string  `json:"by_day,omitempty"`       // "MO", "2TU", "-1FR"
	ByMonthDay []int     `json:"by_month_day,omitempty"` // 1..31, -31..-1
	ByMonth    []int     `json:"by_month,omitempty"`     // 1..12
	BySetPos   []int     `json:"by_set_pos,omitempty"`
	Count      int       `json:"count,omitempty"`
	Until      time.Time `json:"until,omitzero"` // inclusive instant (timed) or end of day UTC (all-day)
	WeekStart  string    `json:"wkst,omitempty"` // "" = MO
	TimeZone   string    `json:"tz,omitempty"`   // IANA; "" = UTC

	// RDates are extra occurrences beyond the rule (RFC 5545 RDATE, which
	// only Google spells), keyed like Exception.OriginalStart. A pattern
	// of Graph, Salesforce or EWS cannot hold them: see PatternOnly.
	RDates []string `json:"rdates,omitempty"`

	Exceptions []Exception `json:"exceptions,omitempty"`
}

// PatternOnly reports (ErrRecurrence) whether the series needs more than
// a rule and its exceptions — extra dates (RDATE) — which the patterns of
// Graph, Salesforce and EWS cannot express. A connector writing to such a
// side refuses the series with connector.ErrUnsupported rather than
// flattening the extra dates into single events.
func (r *Recurrence) PatternOnly() error {
	if r != nil && len(r.RDates) > 0 {
		return fmt.Errorf("%w: %d extra dates (RDATE) beyond the rule", ErrRecurrence, len(r.RDates))
	}
	return nil
}

// Exception is one occurrence that differs from the rule: cancelled, or
// moved/edited (the fields set override the master's).
type Exception struct {
	// OriginalStart is the occurrence's start as the rule gives it: an
	// RFC 3339 UTC instant for timed series, YYYY-MM-DD for all-day ones.
	OriginalStart string `json:"orig"`
	Cancelled     bool   `json:"cancelled,omitempty"`
	// Moved or edited occurrence (ignored when Cancelled).
	Start       time.Time `json:"start,omitzero"`
	End         time.Time `json:"end,omitzero"`
	StartDate   string    `json:"start_date,omitempty"`
	EndDate     string    `json:"end_date,omitempty"`
	Subject     string    `json:"subject,omitempty"`
	Location    string    `json:"location,omitempty"`
	Description string    `json:"description,omitempty"`
}

// Occurrence is one expanded instance of a series.
type Occurrence struct {
	OriginalStart string // the Exception key of this occurrence
	Start, End    time.Time
	StartDate     string // all-day
	EndDate       string
	Subject       string
	Location      string
	Description   string
	Exception     bool // moved or edited
}

// ErrRecurrence is returned for a rule outside the supported subset.
var ErrRecurrence = errors.New("unsupported or invalid recurrence")

var wdNames = [7]string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}

func parseWeekday(s string) (time.Weekday, bool) {
	for i, n := range wdNames {
		if n == s {
			return time.Weekday(i), true
		}
	}
	return 0, false
}

// parseByDay splits "-1FR" into (-1, Friday).
func parseByDay(s string) (int, time.Weekday, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) < 2 {
		return 0, 0, fmt.Errorf("%w: BYDAY %q", ErrRecurrence, s)
	}
	wd, ok := parseWeekday(s[len(s)-2:])
	if !ok {
		return 0, 0, fmt.Errorf("%w: BYDAY %q", ErrRecurrence, s)
	}
	n := 0
	if p := s[:len(s)-2]; p != "" {
		v, err := strconv.Atoi(p)
		if err != nil || v == 0 || v < -53 || v > 53 {
			return 0, 0, fmt.Errorf("%w: BYDAY %q", ErrRecurrence, s)
		}
		n = v
	}
	return n, wd, nil
}

// Validate reports whether the rule is inside the supported subset.
func (r *Recurrence) Validate() error {
	switch r.Freq {
	case "DAILY", "WEEKLY", "MONTHLY", "YEARLY":
	default:
		return fmt.Errorf("%w: FREQ %q", ErrRecurrence, r.Freq)
	}
	if r.Interval < 0 || r.Count < 0 {
		return fmt.Errorf("%w: negative INTERVAL or COUNT", ErrRecurrence)
	}
	if r.Count > 0 && !r.Until.IsZero() {
		return fmt.Errorf("%w: both COUNT and UNTIL", ErrRecurrence)
	}
	for _, d := range r.ByDay {
		n, _, err := parseByDay(d)
		if err != nil {
			return err
		}
		if n != 0 && (r.Freq == "DAILY" || r.Freq == "WEEKLY") {
			return fmt.Errorf("%w: BYDAY ordinal with FREQ=%s", ErrRecurrence, r.Freq)
		}
	}
	for _, d := range r.ByMonthDay {
		if d == 0 || d < -31 || d > 31 {
			return fmt.Errorf("%w: BYMONTHDAY %d", ErrRecurrence, d)
		}
	}
	for _, m := range r.ByMonth {
		if m < 1 || m > 12 {
			return fmt.Errorf("%w: BYMONTH %d", ErrRecurrence, m)
		}
	}
	for _, p := range r.BySetPos {
		if p == 0 || p < -366 || p > 366 {
			return fmt.Errorf("%w: BYSETPOS %d", ErrRecurrence, p)
		}
	}
	if r.WeekStart != "" {
		if _, ok := parseWeekday(r.WeekStart); !ok {
			return fmt.Errorf("%w: WKST %q", ErrRecurrence, r.WeekStart)
		}
	}
	if _, err := r.location(); err != nil {
		return err
	}
	return nil
}

func (r *Recurrence) location() (*time.Location, error) {
	if r.TimeZone == "" || r.TimeZone == "UTC" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(r.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("%w: time zone %q", ErrRecurrence, r.TimeZone)
	}
	return loc, nil
}

// Normalize returns the canonical spelling: upper case, INTERVAL 1 and
// WKST MO dropped (WKST also where it cannot change the result), lists
// sorted and without duplicates, UNTIL in UTC to the second, exceptions
// sorted by original start and cancelled ones without content.
func (r Recurrence) Normalize() Recurrence {
	r.Freq = strings.ToUpper(strings.TrimSpace(r.Freq))
	if r.Interval == 1 {
		r.Interval = 0
	}
	r.WeekStart = strings.ToUpper(strings.TrimSpace(r.WeekStart))
	if r.WeekStart == "MO" || r.Freq != "WEEKLY" || r.Interval <= 1 || len(r.ByDay) < 2 {
		r.WeekStart = ""
	}
	if len(r.ByDay) > 0 {
		type bd struct {
			n  int
			wd time.Weekday
		}
		var ds []bd
		seen := map[string]bool{}
		for _, s := range r.ByDay {
			n, wd, err := parseByDay(s)
			if err != nil {
				ds = append(ds, bd{99, 0}) // kept visible, sorted last
				continue
			}
			k := strconv.Itoa(n) + wdNames[wd]
			if !seen[k] {
				seen[k] = true
				ds = append(ds, bd{n, wd})
			}
		}
		sort.Slice(ds, func(i, j int) bool {
			if ds[i].n != ds[j].n {
				return ds[i].n < ds[j].n
			}
			return (ds[i].wd+6)%7 < (ds[j].wd+6)%7 // Monday first
		})
		r.ByDay = nil
		for _, d := range ds {
			if d.n == 99 {
				r.ByDay = append(r.ByDay, "?")
				continue
			}
			s := wdNames[d.wd]
			if d.n != 0 {
				s = strconv.Itoa(d.n) + s
			}
			r.ByDay = append(r.ByDay, s)
		}
	}
	r.ByMonthDay = sortedInts(r.ByMonthDay)
	r.ByMonth = sortedInts(r.ByMonth)
	r.BySetPos = sortedInts(r.BySetPos)
	if !r.Until.IsZero() {
		r.Until = r.Until.UTC().Truncate(time.Second)
	}
	if r.TimeZone == "UTC" || r.TimeZone == "Etc/UTC" {
		r.TimeZone = ""
	}
	r.RDates = normalizeKeys(r.RDates)
	if len(r.Exceptions) > 0 {
		xs := make([]Exception, 0, len(r.Exceptions))
		for _, x := range r.Exceptions {
			x.Subject = strings.TrimSpace(strings.ReplaceAll(x.Subject, "\r\n", "\n"))
			x.Location = strings.TrimSpace(strings.ReplaceAll(x.Location, "\r\n", "\n"))
			x.Description = strings.TrimSpace(strings.ReplaceAll(x.Description, "\r\n", "\n"))
			if x.Cancelled {
				x = Exception{OriginalStart: x.OriginalStart, Cancelled: true}
			}
			if !x.Start.IsZero() {
				x.Start = x.Start.UTC().Truncate(time.Second)
			}
			if !x.End.IsZero() {
				x.End = x.End.UTC().Truncate(time.Second)
			}
			if !x.Cancelled && x.Start.IsZero() && x.StartDate == "" && x.Subject == "" && x.Location == "" && x.Description == "" {
				continue // overrides nothing
			}
			xs = append(xs, x)
		}
		sort.SliceStable(xs, func(i, j int) bool { return xs[i].OriginalStart < xs[j].OriginalStart })
		r.Exceptions = xs
		if len(xs) == 0 {
			r.Exceptions = nil
		}
	} else {
		r.Exceptions = nil
	}
	return r
}

// normalizeKeys is the canonical list of occurrence keys: instants as
// RFC 3339 UTC to the second, dates as YYYY-MM-DD, sorted, no duplicates.
func normalizeKeys(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	out := make([]string, 0, len(v))
	for _, k := range v {
		k = strings.TrimSpace(k)
		if t, err := time.Parse(time.RFC3339, k); err == nil {
			k = t.UTC().Truncate(time.Second).Format(time.RFC3339)
		}
		out = append(out, k)
	}
	sort.Strings(out)
	w := 0
	for i, x := range out {
		if i == 0 || x != out[w-1] {
			out[w] = x
			w++
		}
	}
	return out[:w]
}

func sortedInts(v []int) []int {
	if len(v) == 0 {
		return nil
	}
	out := append([]int(nil), v...)
	sort.Ints(out)
	w := 0
	for i, x := range out {
		if i == 0 || x != out[w-1] {
			out[w] = x
			w++
		}
	}
	return out[:w]
}

// Clone returns a deep copy.
func (r *Recurrence) Clone() *Recurrence {
	if r == nil {
		return nil
	}
	c := *r
	c.ByDay = append([]string(nil), r.ByDay...)
	c.ByMonthDay = append([]int(nil), r.ByMonthDay...)
	c.ByMonth = append([]int(nil), r.ByMonth...)
	c.BySetPos = append([]int(nil), r.BySetPos...)
	c.RDates = append([]string(nil), r.RDates...)
	c.Exceptions = append([]Exception(nil), r.Exceptions...)
	return &c
}

// RRULE renders the rule (not the exceptions, not the zone) as an RFC 5545
// RRULE value, without the "RRULE:" prefix; UNTIL in UTC ("Z").
func (r *Recurrence) RRULE() string { return r.rrule(false) }

// RRULEDate is RRULE for an all-day series: UNTIL as a DATE (YYYYMMDD, the
// last day in the rule's zone), since RFC 5545 wants UNTIL of the same
// value type as a DATE DTSTART and Google refuses a DATE-TIME there.
func (r *Recurrence) RRULEDate() string { return r.rrule(true) }

func (r *Recurrence) rrule(dateUntil bool) string {
	n := r.Normalize()
	parts := []string{"FREQ=" + n.Freq}
	if n.Interval > 1 {
		parts = append(parts, "INTERVAL="+strconv.Itoa(n.Interval))
	}
	if len(n.ByMonth) > 0 {
		parts = append(parts, "BYMONTH="+joinInts(n.ByMonth))
	}
	if len(n.ByMonthDay) > 0 {
		parts = append(parts, "BYMONTHDAY="+joinInts(n.ByMonthDay))
	}
	if len(n.ByDay) > 0 {
		parts = append(parts, "BYDAY="+strings.Join(n.ByDay, ","))
	}
	if len(n.BySetPos) > 0 {
		parts = append(parts, "BYSETPOS="+joinInts(n.BySetPos))
	}
	if n.Count > 0 {
		parts = append(parts, "COUNT="+strconv.Itoa(n.Count))
	}
	switch {
	case n.Until.IsZero():
	case dateUntil:
		loc, err := n.location()
		if err != nil {
			loc = time.UTC
		}
		parts = append(parts, "UNTIL="+n.untilDate(loc).t().Format("20060102"))
	default:
		parts = append(parts, "UNTIL="+n.Until.Format("20060102T150405Z"))
	}
	if n.WeekStart != "" {
		parts = append(parts, "WKST="+n.WeekStart)
	}
	return strings.Join(parts, ";")
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// ParseRRULE parses an RRULE value (with or without the "RRULE:" prefix)
// in the supported subset; tz is the series' IANA zone, used for an UNTIL
// without "Z" (a local date-time) or a date-only UNTIL (end of that day).
func ParseRRULE(s, tz string) (*Recurrence, error) {
	s = strings.TrimSpace(s)
	if len(s) > 6 && strings.EqualFold(s[:6], "RRULE:") {
		s = s[6:]
	}
	if s == "" || len(s) > 1024 {
		return nil, fmt.Errorf("%w: empty or too long", ErrRecurrence)
	}
	r := &Recurrence{TimeZone: tz}
	loc, err := r.location()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		k = strings.ToUpper(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if !ok || v == "" || seen[k] {
			return nil, fmt.Errorf("%w: part %q", ErrRecurrence, part)
		}
		seen[k] = true
		switch k {
		case "FREQ":
			r.Freq = strings.ToUpper(v)
		case "INTERVAL":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				return nil, fmt.Errorf("%w: INTERVAL %q", ErrRecurrence, v)
			}
			r.Interval = n
		case "COUNT":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100000 {
				return nil, fmt.Errorf("%w: COUNT %q", ErrRecurrence, v)
			}
			r.Count = n
		case "UNTIL":
			t, err := parseUntil(v, loc)
			if err != nil {
				return nil, err
			}
			r.Until = t
		case "BYDAY":
			for _, d := range strings.Split(v, ",") {
				if _, _, err := parseByDay(d); err != nil {
					return nil, err
				}
				r.ByDay = append(r.ByDay, strings.ToUpper(strings.TrimSpace(d)))
			}
		case "BYMONTHDAY", "BYMONTH", "BYSETPOS":
			for _, d := range strings.Split(v, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(d))
				if err != nil {
					return nil, fmt.Errorf("%w: %s %q", ErrRecurrence, k, d)
				}
				switch k {
				case "BYMONTHDAY":
					r.ByMonthDay = append(r.ByMonthDay, n)
				case "BYMONTH":
					r.ByMonth = append(r.ByMonth, n)
				default:
					r.BySetPos = append(r.BySetPos, n)
				}
			}
		case "WKST":
			r.WeekStart = strings.ToUpper(v)
		default:
			return nil, fmt.Errorf("%w: %s", ErrRecurrence, k)
		}
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

func parseUntil(v string, loc *time.Location) (time.Time, error) {
	switch {
	case len(v) == 16 && v[15] == 'Z':
		if t, err := time.Parse("20060102T150405Z", v); err == nil {
			return t, nil
		}
	case len(v) == 15:
		if t, err := time.ParseInLocation("20060102T150405", v, loc); err == nil {
			return t.UTC(), nil
		}
	case len(v) == 8:
		if t, err := time.ParseInLocation("20060102", v, loc); err == nil {
			return t.AddDate(0, 0, 1).Add(-time.Second).UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: UNTIL %q", ErrRecurrence, v)
}

// UntilDate is an all-day series' last day as YYYY-MM-DD (see
// untilDate), "" without UNTIL: what sides that bound a series by an end
// date (Graph's range endDate) write.
func (r *Recurrence) UntilDate() string {
	if r == nil || r.Until.IsZero() {
		return ""
	}
	loc, err := r.location()
	if err != nil {
		loc = time.UTC
	}
	return r.untilDate(loc).String()
}

// untilDate is an all-day series' last day: UNTIL's date in the rule's
// zone, since a DATE UNTIL is parsed as the end of that day there — or,
// for UNTIL at midnight UTC exactly (the canonical all-day UNTIL that
// Event.Normalize writes, and a "Z" UNTIL), its UTC date, whatever zone
// the series names.
func (r *Recurrence) untilDate(loc *time.Location) civil {
	u := r.Until.UTC()
	if h, m, s := u.Clock(); h == 0 && m == 0 && s == 0 {
		return civilOf(u)
	}
	return civilOf(r.Until.In(loc))
}

// maxPeriods bounds an expansion (e.g. a daily series over 270 years).
const maxPeriods = 100000

type civil struct {
	y int
	m time.Month
	d int
}

func civilOf(t time.Time) civil     { y, m, d := t.Date(); return civil{y, m, d} }
func (c civil) t() time.Time        { return time.Date(c.y, c.m, c.d, 0, 0, 0, 0, time.UTC) }
func (c civil) add(n int) civil     { return civilOf(c.t().AddDate(0, 0, n)) }
func (c civil) String() string      { return c.t().Format(time.DateOnly) }
func (c civil) before(o civil) bool { return c.t().Before(o.t()) }

// Occurrences expands the master ev's series and returns the occurrences
// that overlap [from, to) (all-day: whose dates overlap the window's UTC
// dates), moved and edited exceptions applied and cancelled ones left
// out. An event without Recurrence yields nothing.
func (ev *Event) Occurrences(from, to time.Time) ([]Occurrence, error) {
	all, err := ev.expand(from, to, true)
	return all, err
}

// OriginalStarts returns the rule's occurrence keys (Exception.OriginalStart)
// whose original start lies in [from, to), ignoring exceptions: what a
// mailbox is expected to hold, to compare with what it does hold.
func (ev *Event) OriginalStarts(from, to time.Time) ([]string, error) {
	occ, err := ev.expand(from, to, false)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(occ))
	for i, o := range occ {
		out[i] = o.OriginalStart
	}
	return out, nil
}

func (ev *Event) expand(from, to time.Time, apply bool) ([]Occurrence, error) {
	if ev.Recurrence == nil {
		return nil, nil
	}
	r := ev.Recurrence.Normalize()
	if err := r.Validate(); err != nil {
		return nil, err
	}
	loc, _ := r.location()
	var first civil
	var dur time.Duration
	var days int
	var hh, mm, ss int
	if ev.AllDay {
		s, err := time.Parse(time.DateOnly, ev.StartDate)
		if err != nil {
			return nil, fmt.Errorf("%w: all-day series without a start date", ErrRecurrence)
		}
		days = 1
		if e, err := time.Parse(time.DateOnly, ev.EndDate); err == nil && e.After(s) {
			days = int(e.Sub(s).Hours()/24 + 0.5)
		}
		first = civilOf(s)
	} else {
		if ev.Start.IsZero() {
			return nil, fmt.Errorf("%w: series without a start", ErrRecurrence)
		}
		ls := ev.Start.In(loc)
		first = civilOf(ls)
		hh, mm, ss = ls.Clock()
		dur = ev.End.Sub(ev.Start)
		if dur < 0 {
			dur = 0
		}
	}
	startOf := func(c civil) time.Time { return time.Date(c.y, c.m, c.d, hh, mm, ss, 0, loc).UTC() }
	keyOf := func(c civil) string {
		if ev.AllDay {
			return c.String()
		}
		return startOf(c).Format(time.RFC3339)
	}
	exc := map[string]Exception{}
	if apply {
		for _, x := range r.Exceptions {
			exc[x.OriginalStart] = x
		}
	}
	interval := max(r.Interval, 1)
	wkst := time.Monday
	if r.WeekStart != "" {
		wkst, _ = parseWeekday(r.WeekStart)
	}
	type bd struct {
		n  int
		wd time.Weekday
	}
	var byDay []bd
	for _, s := range r.ByDay {
		n, wd, _ := parseByDay(s)
		byDay = append(byDay, bd{n, wd})
	}
	in := func(v []int, x int) bool {
		for _, y := range v {
			if y == x {
				return true
			}
		}
		return false
	}
	// matches reports whether day c of the period matches the BY rules.
	matches := func(c civil) bool {
		if len(r.ByMonth) > 0 && !in(r.ByMonth, int(c.m)) {
			return false
		}
		if r.Freq == "YEARLY" && len(r.ByMonth) == 0 && len(r.ByMonthDay) == 0 && len(byDay) == 0 && c.m != first.m {
			return false
		}
		dim := time.Date(c.y, c.m+1, 0, 0, 0, 0, 0, time.UTC).Day()
		if len(r.ByMonthDay) > 0 {
			ok := false
			for _, d := range r.ByMonthDay {
				if d == c.d || (d < 0 && dim+1+d == c.d) {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		}
		if len(byDay) > 0 {
			wd := c.t().Weekday()
			ok := false
			for _, b := range byDay {
				if b.wd != wd {
					continue
				}
				if b.n == 0 {
					ok = true
					break
				}
				// Ordinal within the month (MONTHLY, or YEARLY with
				// BYMONTH) or within the year (YEARLY without BYMONTH).
				var idx, total int
				if r.Freq == "YEARLY" && len(r.ByMonth) == 0 {
					yd := c.t().YearDay()
					diy := time.Date(c.y, 12, 31, 0, 0, 0, 0, time.UTC).YearDay()
					idx, total = (yd-1)/7+1, (diy-yd)/7+(yd-1)/7+1
				} else {
					idx, total = (c.d-1)/7+1, (dim-c.d)/7+(c.d-1)/7+1
				}
				if b.n == idx || (b.n < 0 && total+1+b.n == idx) {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		}
		switch r.Freq {
		case "WEEKLY":
			if len(byDay) == 0 && c.t().Weekday() != first.t().Weekday() {
				return false
			}
		case "MONTHLY", "YEARLY":
			if len(byDay) == 0 && len(r.ByMonthDay) == 0 && c.d != first.d {
				return false
			}
		}
		return true
	}
	// Periods.
	var pstart civil
	switch r.Freq {
	case "DAILY":
		pstart = first
	case "WEEKLY":
		back := (int(first.t().Weekday()) - int(wkst) + 7) % 7
		pstart = first.add(-back)
	case "MONTHLY":
		pstart = civil{first.y, first.m, 1}
	case "YEARLY":
		pstart = civil{first.y, 1, 1}
	}
	// The window's UTC dates: every date [from, to) touches, so a window
	// ending just after a midnight still holds that day.
	fromC, toC := civilOf(from.UTC()), civilOf(to.UTC())
	if !to.UTC().Equal(toC.t()) {
		toC = toC.add(1)
	}
	untilC := r.untilDate(loc)
	var out []Occurrence
	ruled := map[string]bool{}
	// emit adds the occurrence keyed k (start st, or date c when all-day)
	// with its exception applied, when it overlaps the window.
	emit := func(k string, st time.Time, c civil) {
		o := Occurrence{OriginalStart: k, Subject: ev.Subject, Location: ev.Location, Description: ev.Description}
		if ev.AllDay {
			o.StartDate, o.EndDate = c.String(), c.add(days).String()
		} else {
			o.Start = st
			o.End = o.Start.Add(dur)
		}
		if x, ok := exc[o.OriginalStart]; ok {
			if x.Cancelled {
				return
			}
			o.Exception = true
			if !x.Start.IsZero() {
				o.Start, o.End = x.Start, x.End
			}
			if x.StartDate != "" {
				o.StartDate, o.EndDate = x.StartDate, x.EndDate
			}
			if x.Subject != "" {
				o.Subject = x.Subject
			}
			if x.Location != "" {
				o.Location = x.Location
			}
			if x.Description != "" {
				o.Description = x.Description
			}
		}
		var overlaps bool
		if ev.AllDay {
			s, _ := time.Parse(time.DateOnly, o.StartDate)
			e, _ := time.Parse(time.DateOnly, o.EndDate)
			overlaps = civilOf(s).before(toC) && fromC.before(civilOf(e))
		} else {
			overlaps = o.Start.Before(to) && (o.End.After(from) || (o.End.Equal(o.Start) && !o.Start.Before(from)))
		}
		if overlaps {
			out = append(out, o)
		}
	}
	count := 0
	for p := 0; p < maxPeriods; p++ {
		var ps, pe civil // [ps, pe)
		switch r.Freq {
		case "DAILY":
			ps = pstart.add(p * interval)
			pe = ps.add(1)
		case "WEEKLY":
			ps = pstart.add(7 * p * interval)
			pe = ps.add(7)
		case "MONTHLY":
			ps = civilOf(time.Date(pstart.y, pstart.m+time.Month(p*interval), 1, 0, 0, 0, 0, time.UTC))
			pe = civilOf(time.Date(ps.y, ps.m+1, 1, 0, 0, 0, 0, time.UTC))
		case "YEARLY":
			ps = civil{pstart.y + p*interval, 1, 1}
			pe = civil{ps.y + 1, 1, 1}
		}
		// Stop once the period starts after the window (no COUNT to
		// honour beyond it) or after UNTIL.
		if !ev.AllDay && startOf(ps).Sub(to) > 48*time.Hour+dur && r.Count == 0 {
			break
		}
		if ev.AllDay && toC.add(days+2).before(ps) && r.Count == 0 {
			break
		}
		if !r.Until.IsZero() && startOf(ps).After(r.Until.Add(48*time.Hour)) {
			break
		}
		var set []civil
		for c := ps; c.before(pe); c = c.add(1) {
			if matches(c) {
				set = append(set, c)
			}
		}
		if len(r.BySetPos) > 0 {
			var sel []civil
			for _, pos := range r.BySetPos {
				i := pos - 1
				if pos < 0 {
					i = len(set) + pos
				}
				if i >= 0 && i < len(set) {
					sel = append(sel, set[i])
				}
			}
			sort.Slice(sel, func(i, j int) bool { return sel[i].before(sel[j]) })
			set = sel
		}
		done := false
		for _, c := range set {
			if c.before(first) {
				continue
			}
			if !r.Until.IsZero() {
				if ev.AllDay {
					if untilC.before(c) {
						done = true
						break
					}
				} else if startOf(c).After(r.Until) {
					done = true
					break
				}
			}
			count++
			if r.Count > 0 && count > r.Count {
				done = true
				break
			}
			k := keyOf(c)
			ruled[k] = true
			if ev.AllDay {
				emit(k, time.Time{}, c)
			} else {
				emit(k, startOf(c), c)
			}
		}
		if done {
			break
		}
	}
	// Extra dates (RDATE) are occurrences of their own, outside COUNT
	// (RFC 5545 3.8.5.2); one that the rule already gives is not doubled.
	for _, k := range r.RDates {
		if ruled[k] {
			continue
		}
		if ev.AllDay {
			d, err := time.Parse(time.DateOnly, k)
			if err != nil {
				return nil, fmt.Errorf("%w: RDATE %q of an all-day series", ErrRecurrence, k)
			}
			emit(k, time.Time{}, civilOf(d))
			continue
		}
		t, err := time.Parse(time.RFC3339, k)
		if err != nil {
			return nil, fmt.Errorf("%w: RDATE %q of a timed series", ErrRecurrence, k)
		}
		emit(k, t.UTC(), civilOf(t.UTC()))
	}
	sort.SliceStable(out, func(i, j int) bool {
		if ev.AllDay {
			return out[i].StartDate < out[j].StartDate
		}
		return out[i].Start.Before(out[j].Start)
	})
	return out, nil
}

// Bounded reports whether the series ends (COUNT or UNTIL).
func (r *Recurrence) Bounded() bool { return r != nil && (r.Count > 0 || !r.Until.IsZero()) }

// SplitExceptions splits the exceptions by whether their original start
// lies in [from, to) (all-day keys: their date against the window's UTC
// dates). A zero window keeps everything in.
func (r *Recurrence) SplitExceptions(from, to time.Time) (in, out []Exception) {
	if r == nil {
		return nil, nil
	}
	if to.IsZero() {
		return append([]Exception(nil), r.Exceptions...), nil
	}
	for _, x := range r.Exceptions {
		var inside bool
		if t, err := time.Parse(time.RFC3339, x.OriginalStart); err == nil {
			inside = !t.Before(from) && t.Before(to)
		} else if d, err := time.Parse(time.DateOnly, x.OriginalStart); err == nil {
			fd := time.Date(from.UTC().Year(), from.UTC().Month(), from.UTC().Day(), 0, 0, 0, 0, time.UTC)
			inside = !d.Before(fd) && d.Before(to.UTC())
		}
		if inside {
			in = append(in, x)
		} else {
			out = append(out, x)
		}
	}
	return in, out
}

// ShiftDate is all-day date k (YYYY-MM-DD) moved by the length of the
// all-day span [start, end): the end date of the occurrence that starts
// on k. It is "" when a date does not parse. Whole days, so a daylight
// saving change inside the span does not move it.
func ShiftDate(k, start, end string) string {
	d, err1 := time.Parse(time.DateOnly, k)
	sd, err2 := time.Parse(time.DateOnly, start)
	ed, err3 := time.Parse(time.DateOnly, end)
	if err1 != nil || err2 != nil || err3 != nil {
		return ""
	}
	return d.AddDate(0, 0, int(ed.Sub(sd).Hours()/24+0.5)).Format(time.DateOnly)
}
