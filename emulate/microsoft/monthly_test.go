package microsoft

import (
	"strings"
	"testing"
	"time"
)

// The monthly and yearly patterns expand as the recurrencePattern docs
// describe them, in the recurrence time zone (a New York series keeps its
// wall-clock time across the US switch in March).
func TestMonthlyAndYearlyPatterns(t *testing.T) {
	cases := []struct {
		name    string
		pattern map[string]any
		start   string
		want    string
	}{
		{"absolute monthly", map[string]any{"type": "absoluteMonthly", "interval": 1.0, "dayOfMonth": 31.0}, "2027-01-31",
			"2027-01-31 2027-03-31 2027-05-31"},
		{"relative monthly last friday", map[string]any{"type": "relativeMonthly", "interval": 1.0, "daysOfWeek": []any{"friday"}, "index": "last"}, "2027-01-01",
			"2027-01-29 2027-02-26 2027-03-26 2027-04-30 2027-05-28"},
		{"relative monthly last weekday", map[string]any{"type": "relativeMonthly", "interval": 2.0, "daysOfWeek": []any{"monday", "tuesday", "wednesday", "thursday", "friday"}, "index": "last"}, "2027-01-01",
			"2027-01-29 2027-03-31 2027-05-31 2027-07-30 2027-09-30"},
		{"second tuesday", map[string]any{"type": "relativeMonthly", "interval": 1.0, "daysOfWeek": []any{"tuesday"}, "index": "second"}, "2027-01-01",
			"2027-01-12 2027-02-09 2027-03-09 2027-04-13 2027-05-11"},
		{"absolute yearly", map[string]any{"type": "absoluteYearly", "interval": 1.0, "month": 2.0, "dayOfMonth": 29.0}, "2027-01-01",
			"2028-02-29 2032-02-29"},
		{"relative yearly", map[string]any{"type": "relativeYearly", "interval": 1.0, "month": 11.0, "daysOfWeek": []any{"thursday"}, "index": "fourth"}, "2027-01-01",
			"2027-11-25 2028-11-23 2029-11-22"},
	}
	for _, c := range cases {
		rc, err := parseRecurrence(map[string]any{"pattern": c.pattern,
			"range": map[string]any{"type": "noEnd", "startDate": c.start, "recurrenceTimeZone": "Eastern Standard Time"}}, "UTC")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		ny := rc.loc
		master := time.Date(2027, 1, 1, 9, 30, 0, 0, ny)
		n := len(strings.Fields(c.want))
		var got []string
		rc.each(master, time.Date(2034, 1, 1, 0, 0, 0, 0, time.UTC), func(o time.Time) bool {
			if h, m, _ := o.In(ny).Clock(); h != 9 || m != 30 {
				t.Errorf("%s: %s is not 09:30 in New York", c.name, o)
			}
			got = append(got, o.In(ny).Format(time.DateOnly))
			return len(got) < n
		})
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, strings.Join(got, " "), c.want)
		}
	}
}
