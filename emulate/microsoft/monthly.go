package microsoft

import (
	"fmt"
	"strings"
	"time"
)

// Monthly and yearly patterns as the recurrencePattern resource documents
// them: absoluteMonthly (interval, dayOfMonth), relativeMonthly (interval,
// daysOfWeek, index), absoluteYearly (interval, dayOfMonth, month),
// relativeYearly (interval, daysOfWeek, index, month). index is first,
// second, third, fourth or last (default first) and picks among the days
// of the month that are one of daysOfWeek. A dayOfMonth the month does not
// have yields no occurrence that month (the emulator's choice: the
// documentation does not say).

var indexes = map[string]int{"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}

func (rc *recurrence) parseMonthly(pat map[string]any) error {
	intField := func(name string, lo, hi int) (int, error) {
		f, ok := pat[name].(float64)
		if !ok || f != float64(int(f)) || int(f) < lo || int(f) > hi {
			return 0, fmt.Errorf("a %s pattern needs %s from %d to %d", rc.typ, name, lo, hi)
		}
		return int(f), nil
	}
	var err error
	if strings.HasSuffix(rc.typ, "Yearly") {
		if rc.month, err = intField("month", 1, 12); err != nil {
			return err
		}
	}
	if strings.HasPrefix(rc.typ, "absolute") {
		rc.dayOfMonth, err = intField("dayOfMonth", 1, 31)
		return err
	}
	list, _ := pat["daysOfWeek"].([]any)
	for _, x := range list {
		name, _ := x.(string)
		d, known := weekdays[strings.ToLower(name)]
		if !known {
			return fmt.Errorf("unknown day of week '%s'", truncate(name, 16))
		}
		rc.days[d] = true
	}
	if len(list) == 0 {
		return fmt.Errorf("a %s pattern needs daysOfWeek", rc.typ)
	}
	rc.index = 1
	if ix, ok := pat["index"].(string); ok && ix != "" {
		n, known := indexes[strings.ToLower(ix)]
		if !known {
			return fmt.Errorf("unknown index '%s'", truncate(ix, 16))
		}
		rc.index = n
	}
	return nil
}

// eachMonthly emits the pattern's dates in order from the range's start
// until emit says stop.
func (rc *recurrence) eachMonthly(emit func(time.Time) bool) {
	step := rc.interval
	first := time.Date(rc.startDate.Year(), rc.startDate.Month(), 1, 0, 0, 0, 0, time.UTC)
	if strings.HasSuffix(rc.typ, "Yearly") {
		step = 12 * rc.interval
		first = time.Date(rc.startDate.Year(), time.Month(rc.month), 1, 0, 0, 0, 0, time.UTC)
		if first.Before(time.Date(rc.startDate.Year(), rc.startDate.Month(), 1, 0, 0, 0, 0, time.UTC)) {
			first = first.AddDate(1, 0, 0)
		}
	}
	for i := 0; i < maxExpansion; i++ {
		m := first.AddDate(0, i*step, 0)
		dim := m.AddDate(0, 1, -1).Day()
		var d time.Time
		if strings.HasPrefix(rc.typ, "absolute") {
			if rc.dayOfMonth > dim {
				continue
			}
			d = m.AddDate(0, 0, rc.dayOfMonth-1)
		} else {
			var match []time.Time
			for k := 0; k < dim; k++ {
				if x := m.AddDate(0, 0, k); rc.days[x.Weekday()] {
					match = append(match, x)
				}
			}
			switch {
			case rc.index == -1:
				d = match[len(match)-1]
			case rc.index <= len(match):
				d = match[rc.index-1]
			default:
				continue
			}
		}
		if d.Before(rc.startDate) {
			continue
		}
		if !emit(d) {
			return
		}
	}
}
