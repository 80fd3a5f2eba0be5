package microsoft

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones of dateTimeTimeZone values must not depend on the host
)

// windowsZones maps the Windows time-zone names Graph also accepts to IANA
// names; only common ones, the rest must be given as IANA names or UTC.
var windowsZones = map[string]string{
	"pacific standard time":        "America/Los_Angeles",
	"mountain standard time":       "America/Denver",
	"central standard time":        "America/Chicago",
	"eastern standard time":        "America/New_York",
	"gmt standard time":            "Europe/London",
	"w. europe standard time":      "Europe/Berlin",
	"romance standard time":        "Europe/Paris",
	"central europe standard time": "Europe/Budapest",
	"tokyo standard time":          "Asia/Tokyo",
	"india standard time":          "Asia/Kolkata",
	"aus eastern standard time":    "Australia/Sydney",
	"greenwich standard time":      "Atlantic/Reykjavik",
	"coordinated universal time":   "UTC",
}

// loadZone resolves a Graph time-zone name (UTC, a Windows name from the
// table, or an IANA name).
func loadZone(name string) (*time.Location, error) {
	n := strings.TrimSpace(name)
	if n == "" || strings.EqualFold(n, "UTC") || strings.EqualFold(n, "tzone://Microsoft/Utc") {
		return time.UTC, nil
	}
	if iana, ok := windowsZones[strings.ToLower(n)]; ok {
		n = iana
	}
	if len(n) > 64 || strings.ContainsAny(n, "\\\x00") {
		return nil, fmt.Errorf("invalid time zone '%s'", truncate(name, 64))
	}
	loc, err := time.LoadLocation(n)
	if err != nil {
		return nil, fmt.Errorf("invalid time zone '%s'", truncate(name, 64))
	}
	return loc, nil
}

// parseDateTimeTimeZone parses a Graph dateTimeTimeZone object
// {"dateTime":"2026-11-21T10:00:00.0000000","timeZone":"UTC"}.
func parseDateTimeTimeZone(v any) (time.Time, string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return time.Time{}, "", fmt.Errorf("expected a dateTimeTimeZone object")
	}
	dt, _ := m["dateTime"].(string)
	tz, _ := m["timeZone"].(string)
	if tzv, present := m["timeZone"]; present && tzv != nil {
		if _, isStr := tzv.(string); !isStr {
			return time.Time{}, "", fmt.Errorf("timeZone must be a string")
		}
	}
	if dt == "" {
		return time.Time{}, "", fmt.Errorf("dateTime is required")
	}
	loc, err := loadZone(tz)
	if err != nil {
		return time.Time{}, "", err
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		var t time.Time
		if layout == time.RFC3339Nano {
			t, err = time.Parse(layout, dt)
		} else {
			t, err = time.ParseInLocation(layout, dt, loc)
		}
		if err == nil {
			if t.Year() < 1601 || t.Year() > 4500 {
				return time.Time{}, "", fmt.Errorf("dateTime '%s' is out of range", truncate(dt, 40))
			}
			if tz == "" {
				tz = "UTC"
			}
			return t, tz, nil
		}
	}
	return time.Time{}, "", fmt.Errorf("cannot parse dateTime '%s'", truncate(dt, 40))
}

// formatDateTime renders an instant as Graph does by default: UTC, seven
// fractional digits.
func formatDateTime(t time.Time) map[string]any {
	return map[string]any{"dateTime": t.UTC().Format("2006-01-02T15:04:05.0000000"), "timeZone": "UTC"}
}

// recurrence is a parsed patternedRecurrence: daily, weekly, and (see
// monthly.go) absoluteMonthly, relativeMonthly, absoluteYearly and
// relativeYearly.
type recurrence struct {
	typ      string // daily | weekly | absoluteMonthly | relativeMonthly | absoluteYearly | relativeYearly
	interval int
	days     [7]bool
	// Monthly and yearly patterns.
	dayOfMonth int
	month      int
	index      int // 1..4, -1 = last
	firstDay   time.Weekday
	rangeType  string // endDate | noEnd | numbered
	startDate  time.Time
	endDate    time.Time
	count      int
	loc        *time.Location
}

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// maxExpansion bounds the occurrences one series can produce per query.
const maxExpansion = 20000

func parseRecurrence(v any, eventTZ string) (*recurrence, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("recurrence must be an object")
	}
	pat, ok1 := m["pattern"].(map[string]any)
	rng, ok2 := m["range"].(map[string]any)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("recurrence needs a pattern and a range")
	}
	rc := &recurrence{interval: 1, firstDay: time.Sunday}
	typ, _ := pat["type"].(string)
	rc.typ = typ
	switch typ {
	case "daily", "weekly":
	case "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly":
		if err := rc.parseMonthly(pat); err != nil {
			return nil, err
		}
	case "":
		return nil, fmt.Errorf("recurrence pattern type is required")
	default:
		return nil, fmt.Errorf("recurrence pattern type '%s' is not emulated", truncate(typ, 32))
	}
	if iv, present := pat["interval"]; present {
		f, ok := iv.(float64)
		if !ok || f != float64(int(f)) || f < 1 || f > 999 {
			return nil, fmt.Errorf("recurrence interval must be an integer from 1 to 999")
		}
		rc.interval = int(f)
	}
	if fd, ok := pat["firstDayOfWeek"].(string); ok && fd != "" {
		d, known := weekdays[strings.ToLower(fd)]
		if !known {
			return nil, fmt.Errorf("unknown firstDayOfWeek '%s'", truncate(fd, 16))
		}
		rc.firstDay = d
	}
	if typ == "weekly" {
		list, _ := pat["daysOfWeek"].([]any)
		for _, x := range list {
			sname, _ := x.(string)
			d, known := weekdays[strings.ToLower(sname)]
			if !known {
				return nil, fmt.Errorf("unknown day of week '%s'", truncate(sname, 16))
			}
			rc.days[d] = true
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("a weekly pattern needs daysOfWeek")
		}
	}
	tz, _ := rng["recurrenceTimeZone"].(string)
	if tz == "" {
		tz = eventTZ
	}
	loc, err := loadZone(tz)
	if err != nil {
		return nil, err
	}
	rc.loc = loc
	sd, _ := rng["startDate"].(string)
	if rc.startDate, err = time.Parse("2006-01-02", sd); err != nil {
		return nil, fmt.Errorf("recurrence range startDate must be a date (yyyy-MM-dd)")
	}
	rc.rangeType, _ = rng["type"].(string)
	switch rc.rangeType {
	case "endDate":
		ed, _ := rng["endDate"].(string)
		if rc.endDate, err = time.Parse("2006-01-02", ed); err != nil {
			return nil, fmt.Errorf("recurrence range endDate must be a date (yyyy-MM-dd)")
		}
		if rc.endDate.Before(rc.startDate) {
			return nil, fmt.Errorf("recurrence range endDate is before startDate")
		}
	case "numbered":
		f, ok := rng["numberOfOccurrences"].(float64)
		if !ok || f != float64(int(f)) || f < 1 || f > 999 {
			return nil, fmt.Errorf("numberOfOccurrences must be an integer from 1 to 999")
		}
		rc.count = int(f)
	case "noEnd":
	default:
		return nil, fmt.Errorf("recurrence range type must be endDate, noEnd or numbered")
	}
	return rc, nil
}

// each calls fn with the start of every occurrence, in order, whose start
// is before until, stopping early when fn returns false. masterStart gives
// the time of day (in the recurrence time zone).
func (rc *recurrence) each(masterStart, until time.Time, fn func(time.Time) bool) {
	ls := masterStart.In(rc.loc)
	h, mi, sec := ls.Clock()
	n := 0
	emit := func(d time.Time) bool {
		if rc.rangeType == "endDate" && d.After(rc.endDate) {
			return false
		}
		if rc.rangeType == "numbered" && n >= rc.count {
			return false
		}
		t := time.Date(d.Year(), d.Month(), d.Day(), h, mi, sec, 0, rc.loc)
		if !t.Before(until) {
			return false
		}
		n++
		return fn(t)
	}
	switch rc.typ {
	case "daily":
		for i := 0; i < maxExpansion; i++ {
			if !emit(rc.startDate.AddDate(0, 0, i*rc.interval)) {
				return
			}
		}
	case "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly":
		rc.eachMonthly(emit)
	case "weekly":
		back := (int(rc.startDate.Weekday()) - int(rc.firstDay) + 7) % 7
		weekStart := rc.startDate.AddDate(0, 0, -back)
		steps := 0
		for w := 0; steps < maxExpansion; w++ {
			ws := weekStart.AddDate(0, 0, 7*rc.interval*w)
			for k := 0; k < 7; k++ {
				steps++
				d := ws.AddDate(0, 0, k)
				if !rc.days[d.Weekday()] || d.Before(rc.startDate) {
					continue
				}
				if !emit(d) {
					return
				}
			}
		}
	}
}

// overlaps reports whether [s,e) meets the window [ws,we); a zero-length
// event counts when its start is inside the window.
func overlaps(s, e, ws, we time.Time) bool {
	if !e.After(s) {
		return !s.Before(ws) && s.Before(we)
	}
	return s.Before(we) && e.After(ws)
}
