package google

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The RFC 5545 subset the emulator expands: RRULE with FREQ
// (DAILY|WEEKLY|MONTHLY|YEARLY), INTERVAL, COUNT, UNTIL, BYDAY (ordinals only
// with MONTHLY), BYMONTHDAY, BYMONTH, WKST; EXDATE (RFC 5545 3.8.5.1:
// occurrences removed, matched by instant, or by date for all-day events)
// and RDATE (3.8.5.2: extra occurrences, outside COUNT; DATE or DATE-TIME
// values, with TZID, UTC or floating in the event's zone), as Google's
// recurring-events guide lists them for the recurrence field
// (https://developers.google.com/calendar/api/concepts/events-calendars#recurring_events).
// Anything else (RDATE;VALUE=PERIOD, EXRULE, BYSETPOS, BYHOUR...) is
// rejected rather than silently expanded wrong.

type weekdayNum struct {
	n   int // 0 = every such weekday; ±1..±5 = ordinal within the month
	day time.Weekday
}

type rrule struct {
	freq       string
	interval   int
	count      int
	until      time.Time
	hasUntil   bool
	byDay      []weekdayNum
	byMonthDay []int
	byMonth    []time.Month
	wkst       time.Weekday
}

type recurrence struct {
	rules   []rrule
	exdates []time.Time // instants (timed) or midnight UTC (all-day)
	rdates  []time.Time // likewise
}

var errRecurrence = errors.New("invalid recurrence")

var weekdays = map[string]time.Weekday{"SU": time.Sunday, "MO": time.Monday, "TU": time.Tuesday, "WE": time.Wednesday, "TH": time.Thursday, "FR": time.Friday, "SA": time.Saturday}

const maxRecurrenceLines = 64

// parseRecurrence parses an event's recurrence lines. loc is the event's time
// zone, used for EXDATE values without TZID or Z.
func parseRecurrence(lines []string, loc *time.Location) (*recurrence, error) {
	if len(lines) > maxRecurrenceLines {
		return nil, fmt.Errorf("%w: too many lines", errRecurrence)
	}
	rec := &recurrence{}
	for _, line := range lines {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%w: line without ':'", errRecurrence)
		}
		prop, params, _ := strings.Cut(name, ";")
		switch strings.ToUpper(prop) {
		case "RRULE":
			r, err := parseRRULE(value)
			if err != nil {
				return nil, err
			}
			rec.rules = append(rec.rules, r)
		case "EXDATE":
			ds, err := parseExdate(params, value, loc)
			if err != nil {
				return nil, err
			}
			rec.exdates = append(rec.exdates, ds...)
		case "RDATE":
			ds, err := parseExdate(params, value, loc)
			if err != nil {
				return nil, err
			}
			rec.rdates = append(rec.rdates, ds...)
		default:
			return nil, fmt.Errorf("%w: unsupported property %q", errRecurrence, prop)
		}
	}
	if len(rec.rules) == 0 {
		return nil, fmt.Errorf("%w: no RRULE", errRecurrence)
	}
	return rec, nil
}

func parseRRULE(v string) (rrule, error) {
	r := rrule{interval: 1, wkst: time.Monday}
	if len(v) > 1024 {
		return r, fmt.Errorf("%w: rule too long", errRecurrence)
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(part, "=")
		if !ok || val == "" {
			return r, fmt.Errorf("%w: bad part %q", errRecurrence, part)
		}
		k = strings.ToUpper(k)
		if seen[k] {
			return r, fmt.Errorf("%w: duplicate %s", errRecurrence, k)
		}
		seen[k] = true
		switch k {
		case "FREQ":
			switch val = strings.ToUpper(val); val {
			case "DAILY", "WEEKLY", "MONTHLY", "YEARLY":
				r.freq = val
			default:
				return r, fmt.Errorf("%w: unsupported FREQ %q", errRecurrence, val)
			}
		case "INTERVAL":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 1000 {
				return r, fmt.Errorf("%w: bad INTERVAL", errRecurrence)
			}
			r.interval = n
		case "COUNT":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 100000 {
				return r, fmt.Errorf("%w: bad COUNT", errRecurrence)
			}
			r.count = n
		case "UNTIL":
			t, err := parseICalTime(val, time.UTC)
			if err != nil {
				return r, err
			}
			r.until, r.hasUntil = t, true
		case "BYDAY":
			for _, d := range strings.Split(val, ",") {
				wn, err := parseWeekdayNum(d)
				if err != nil {
					return r, err
				}
				r.byDay = append(r.byDay, wn)
			}
		case "BYMONTHDAY":
			for _, d := range strings.Split(val, ",") {
				n, err := strconv.Atoi(d)
				if err != nil || n == 0 || n < -31 || n > 31 {
					return r, fmt.Errorf("%w: bad BYMONTHDAY", errRecurrence)
				}
				r.byMonthDay = append(r.byMonthDay, n)
			}
		case "BYMONTH":
			for _, d := range strings.Split(val, ",") {
				n, err := strconv.Atoi(d)
				if err != nil || n < 1 || n > 12 {
					return r, fmt.Errorf("%w: bad BYMONTH", errRecurrence)
				}
				r.byMonth = append(r.byMonth, time.Month(n))
			}
		case "WKST":
			d, ok := weekdays[strings.ToUpper(val)]
			if !ok {
				return r, fmt.Errorf("%w: bad WKST", errRecurrence)
			}
			r.wkst = d
		default:
			return r, fmt.Errorf("%w: unsupported rule part %s", errRecurrence, k)
		}
	}
	if r.freq == "" {
		return r, fmt.Errorf("%w: FREQ is required", errRecurrence)
	}
	if r.count > 0 && r.hasUntil {
		return r, fmt.Errorf("%w: COUNT and UNTIL are exclusive", errRecurrence)
	}
	for _, wn := range r.byDay {
		if wn.n != 0 && r.freq != "MONTHLY" {
			return r, fmt.Errorf("%w: ordinal BYDAY is supported with FREQ=MONTHLY only", errRecurrence)
		}
	}
	return r, nil
}

func parseWeekdayNum(s string) (weekdayNum, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) < 2 {
		return weekdayNum{}, fmt.Errorf("%w: bad BYDAY", errRecurrence)
	}
	d, ok := weekdays[s[len(s)-2:]]
	if !ok {
		return weekdayNum{}, fmt.Errorf("%w: bad BYDAY", errRecurrence)
	}
	wn := weekdayNum{day: d}
	if num := s[:len(s)-2]; num != "" {
		n, err := strconv.Atoi(num)
		if err != nil || n == 0 || n < -5 || n > 5 {
			return weekdayNum{}, fmt.Errorf("%w: bad BYDAY ordinal", errRecurrence)
		}
		wn.n = n
	}
	return wn, nil
}

// parseICalTime reads DATE (YYYYMMDD), floating DATE-TIME (in loc) or UTC
// DATE-TIME (trailing Z).
func parseICalTime(v string, loc *time.Location) (time.Time, error) {
	var t time.Time
	var err error
	switch {
	case len(v) == 8:
		t, err = time.ParseInLocation("20060102", v, time.UTC)
	case len(v) == 16 && v[15] == 'Z':
		t, err = time.ParseInLocation("20060102T150405Z", v, time.UTC)
	case len(v) == 15:
		t, err = time.ParseInLocation("20060102T150405", v, loc)
	default:
		err = errRecurrence
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: bad date %q", errRecurrence, v)
	}
	return t, nil
}

func parseExdate(params, value string, loc *time.Location) ([]time.Time, error) {
	for _, p := range strings.Split(params, ";") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		switch strings.ToUpper(k) {
		case "TZID":
			l, err := time.LoadLocation(v)
			if err != nil || v == "" || v == "Local" {
				return nil, fmt.Errorf("%w: unknown TZID", errRecurrence)
			}
			loc = l
		case "VALUE":
			if u := strings.ToUpper(v); u != "DATE" && u != "DATE-TIME" {
				return nil, fmt.Errorf("%w: bad VALUE", errRecurrence)
			}
		default:
			return nil, fmt.Errorf("%w: unsupported EXDATE parameter", errRecurrence)
		}
	}
	var out []time.Time
	for _, v := range strings.Split(value, ",") {
		t, err := parseICalTime(strings.TrimSpace(v), loc)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// expand returns occurrence starts of the recurrence anchored at dtstart
// (whose Location is the event's zone), in order, stopping after horizon or
// max occurrences. allDay compares EXDATEs by date.
func (rec *recurrence) expand(dtstart time.Time, horizon time.Time, max int, allDay bool) []time.Time {
	seen := map[int64]bool{}
	var all []time.Time
	for _, r := range rec.rules {
		for _, t := range r.expand(dtstart, horizon, max) {
			if !seen[t.UnixNano()] {
				seen[t.UnixNano()] = true
				all = append(all, t)
			}
		}
	}
	for _, t := range rec.rdates {
		if allDay {
			t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, dtstart.Location())
		} else {
			t = t.In(dtstart.Location())
		}
		if !t.After(horizon) && !seen[t.UnixNano()] {
			seen[t.UnixNano()] = true
			all = append(all, t)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Before(all[j]) })
	out := all[:0]
	for _, t := range all {
		if !rec.excluded(t, allDay) {
			out = append(out, t)
		}
	}
	if len(out) > max {
		out = out[:max]
	}
	return out
}

func (rec *recurrence) excluded(t time.Time, allDay bool) bool {
	for _, x := range rec.exdates {
		if allDay {
			if x.UTC().Format("20060102") == t.Format("20060102") {
				return true
			}
		} else if x.Equal(t) {
			return true
		}
	}
	return false
}

// maxPeriods bounds the work for rules that match rarely or never
// (BYMONTHDAY=31;BYMONTH=2).
const maxPeriods = 50000

func (r rrule) expand(dtstart, horizon time.Time, max int) []time.Time {
	loc := dtstart.Location()
	y, mo, d := dtstart.Date()
	hh, mm, ss := dtstart.Clock()
	var out []time.Time
	n := 0 // occurrences counted for COUNT (before EXDATE, per RFC 5545)
	emit := func(t time.Time) bool {
		if t.Before(dtstart) {
			return true
		}
		if r.hasUntil && t.After(r.until) {
			return false
		}
		if t.After(horizon) {
			return false
		}
		n++
		out = append(out, t)
		return (r.count == 0 || n < r.count) && len(out) < max
	}
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, hh, mm, ss, 0, loc) }
	for p := 0; p < maxPeriods; p++ {
		var cands []time.Time
		var ps time.Time // start of this period
		switch r.freq {
		case "DAILY":
			t := at(y, mo, d+p*r.interval)
			ps = t
			if r.matchDay(t) && r.matchMonth(t) && r.matchMonthDay(t) {
				cands = append(cands, t)
			}
		case "WEEKLY":
			off := (int(dtstart.Weekday()) - int(r.wkst) + 7) % 7
			ws := at(y, mo, d-off+7*p*r.interval)
			ps = ws
			days := r.byDay
			if len(days) == 0 {
				days = []weekdayNum{{day: dtstart.Weekday()}}
			}
			for i := 0; i < 7; i++ {
				t := at(ws.Year(), ws.Month(), ws.Day()+i)
				for _, wd := range days {
					if t.Weekday() == wd.day && r.matchMonth(t) {
						cands = append(cands, t)
					}
				}
			}
		case "MONTHLY":
			first := at(y, mo+time.Month(p*r.interval), 1)
			ps = first
			cands = r.monthCandidates(first, d)
		case "YEARLY":
			yy := y + p*r.interval
			ps = at(yy, 1, 1)
			if len(r.byMonth) == 0 && len(r.byDay) == 0 && len(r.byMonthDay) == 0 {
				t := at(yy, mo, d)
				if t.Day() == d { // 29 Feb only in leap years
					cands = append(cands, t)
				}
			} else {
				months := r.byMonth
				if len(months) == 0 {
					months = []time.Month{mo}
				}
				for _, m := range months {
					cands = append(cands, r.monthCandidates(at(yy, m, 1), d)...)
				}
			}
		}
		sort.Slice(cands, func(i, j int) bool { return cands[i].Before(cands[j]) })
		for _, t := range cands {
			if !emit(t) {
				return out
			}
		}
		// Once a period starts past the horizon or UNTIL nothing later can match.
		if ps.After(horizon) || (r.hasUntil && ps.After(r.until)) {
			return out
		}
	}
	return out
}

func (r rrule) monthCandidates(first time.Time, dtDay int) []time.Time {
	var out []time.Time
	loc := first.Location()
	hh, mm, ss := first.Clock()
	dim := time.Date(first.Year(), first.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	mk := func(day int) time.Time { return time.Date(first.Year(), first.Month(), day, hh, mm, ss, 0, loc) }
	switch {
	case len(r.byMonthDay) > 0:
		for _, md := range r.byMonthDay {
			day := md
			if md < 0 {
				day = dim + md + 1
			}
			if day >= 1 && day <= dim {
				t := mk(day)
				if r.matchDay(t) {
					out = append(out, t)
				}
			}
		}
	case len(r.byDay) > 0:
		for day := 1; day <= dim; day++ {
			t := mk(day)
			for _, wd := range r.byDay {
				if t.Weekday() != wd.day {
					continue
				}
				switch {
				case wd.n == 0:
					out = append(out, t)
				case wd.n > 0 && (day-1)/7+1 == wd.n:
					out = append(out, t)
				case wd.n < 0 && (dim-day)/7+1 == -wd.n:
					out = append(out, t)
				}
			}
		}
	default:
		if dtDay <= dim {
			out = append(out, mk(dtDay))
		}
	}
	return out
}

func (r rrule) matchDay(t time.Time) bool {
	if len(r.byDay) == 0 || r.freq == "MONTHLY" || r.freq == "YEARLY" {
		return r.freq != "DAILY" || len(r.byDay) == 0 || r.hasWeekday(t.Weekday())
	}
	return r.hasWeekday(t.Weekday())
}

func (r rrule) hasWeekday(d time.Weekday) bool {
	for _, wd := range r.byDay {
		if wd.day == d {
			return true
		}
	}
	return false
}

func (r rrule) matchMonth(t time.Time) bool {
	if len(r.byMonth) == 0 {
		return true
	}
	for _, m := range r.byMonth {
		if t.Month() == m {
			return true
		}
	}
	return false
}

func (r rrule) matchMonthDay(t time.Time) bool {
	if len(r.byMonthDay) == 0 {
		return true
	}
	dim := time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	for _, md := range r.byMonthDay {
		if md == t.Day() || (md < 0 && dim+md+1 == t.Day()) {
			return true
		}
	}
	return false
}
