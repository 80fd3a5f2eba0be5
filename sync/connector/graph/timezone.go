package graph

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // zone conversions must not depend on the host's zoneinfo
)

// windowsZones maps the Windows time-zone names Graph uses (in
// dateTimeTimeZone.timeZone and originalStartTimeZone) to IANA names: the
// common ones of CLDR's windowsZones.xml "001" territory. Names not listed
// are tried as IANA names; see parseZone.
var windowsZones = map[string]string{
	"dateline standard time":          "Etc/GMT+12",
	"utc-11":                          "Etc/GMT+11",
	"hawaiian standard time":          "Pacific/Honolulu",
	"alaskan standard time":           "America/Anchorage",
	"pacific standard time (mexico)":  "America/Tijuana",
	"pacific standard time":           "America/Los_Angeles",
	"us mountain standard time":       "America/Phoenix",
	"mountain standard time (mexico)": "America/Mazatlan",
	"mountain standard time":          "America/Denver",
	"central america standard time":   "America/Guatemala",
	"central standard time":           "America/Chicago",
	"central standard time (mexico)":  "America/Mexico_City",
	"canada central standard time":    "America/Regina",
	"sa pacific standard time":        "America/Bogota",
	"eastern standard time":           "America/New_York",
	"eastern standard time (mexico)":  "America/Cancun",
	"us eastern standard time":        "America/Indianapolis",
	"venezuela standard time":         "America/Caracas",
	"atlantic standard time":          "America/Halifax",
	"sa western standard time":        "America/La_Paz",
	"pacific sa standard time":        "America/Santiago",
	"newfoundland standard time":      "America/St_Johns",
	"e. south america standard time":  "America/Sao_Paulo",
	"argentina standard time":         "America/Buenos_Aires",
	"sa eastern standard time":        "America/Cayenne",
	"utc-02":                          "Etc/GMT+2",
	"azores standard time":            "Atlantic/Azores",
	"cape verde standard time":        "Atlantic/Cape_Verde",
	"utc":                             "UTC",
	"coordinated universal time":      "UTC",
	"gmt standard time":               "Europe/London",
	"greenwich standard time":         "Atlantic/Reykjavik",
	"morocco standard time":           "Africa/Casablanca",
	"w. europe standard time":         "Europe/Berlin",
	"central europe standard time":    "Europe/Budapest",
	"romance standard time":           "Europe/Paris",
	"central european standard time":  "Europe/Warsaw",
	"w. central africa standard time": "Africa/Lagos",
	"gtb standard time":               "Europe/Bucharest",
	"middle east standard time":       "Asia/Beirut",
	"egypt standard time":             "Africa/Cairo",
	"e. europe standard time":         "Europe/Chisinau",
	"south africa standard time":      "Africa/Johannesburg",
	"fle standard time":               "Europe/Kiev",
	"israel standard time":            "Asia/Jerusalem",
	"turkey standard time":            "Europe/Istanbul",
	"arabic standard time":            "Asia/Baghdad",
	"arab standard time":              "Asia/Riyadh",
	"russian standard time":           "Europe/Moscow",
	"e. africa standard time":         "Africa/Nairobi",
	"iran standard time":              "Asia/Tehran",
	"arabian standard time":           "Asia/Dubai",
	"afghanistan standard time":       "Asia/Kabul",
	"pakistan standard time":          "Asia/Karachi",
	"west asia standard time":         "Asia/Tashkent",
	"india standard time":             "Asia/Calcutta",
	"sri lanka standard time":         "Asia/Colombo",
	"nepal standard time":             "Asia/Katmandu",
	"central asia standard time":      "Asia/Almaty",
	"bangladesh standard time":        "Asia/Dhaka",
	"myanmar standard time":           "Asia/Rangoon",
	"se asia standard time":           "Asia/Bangkok",
	"china standard time":             "Asia/Shanghai",
	"singapore standard time":         "Asia/Singapore",
	"taipei standard time":            "Asia/Taipei",
	"w. australia standard time":      "Australia/Perth",
	"tokyo standard time":             "Asia/Tokyo",
	"korea standard time":             "Asia/Seoul",
	"cen. australia standard time":    "Australia/Adelaide",
	"aus central standard time":       "Australia/Darwin",
	"e. australia standard time":      "Australia/Brisbane",
	"aus eastern standard time":       "Australia/Sydney",
	"west pacific standard time":      "Pacific/Port_Moresby",
	"tasmania standard time":          "Australia/Hobart",
	"new zealand standard time":       "Pacific/Auckland",
	"utc+12":                          "Etc/GMT-12",
	"fiji standard time":              "Pacific/Fiji",
	"tonga standard time":             "Pacific/Tongatapu",
	"samoa standard time":             "Pacific/Apia",
	"line islands standard time":      "Pacific/Kiritimati",
}

// parseZone resolves a Graph time-zone name: UTC spellings, a Windows name
// from the table, or an IANA name. ok is false when it cannot be resolved
// (a custom zone, "tzone://Microsoft/Custom", an unknown name).
func parseZone(name string) (*time.Location, bool) {
	n := strings.TrimSpace(name)
	switch {
	case n == "", strings.EqualFold(n, "UTC"), strings.EqualFold(n, "tzone://Microsoft/Utc"), strings.EqualFold(n, "Etc/UTC"):
		return time.UTC, true
	}
	if iana, ok := windowsZones[strings.ToLower(n)]; ok {
		n = iana
	}
	if len(n) > 64 || strings.ContainsAny(n, "\\\x00 ") || strings.HasPrefix(n, "/") || strings.Contains(n, "..") {
		return nil, false
	}
	loc, err := time.LoadLocation(n)
	if err != nil {
		return nil, false
	}
	return loc, true
}

// dateTimeTZ is Graph's dateTimeTimeZone.
type dateTimeTZ struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

var wallLayouts = []string{"2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02T15:04"}

// wall parses the dateTime without its zone (Graph sends local wall time
// with seven fractional digits; an offset, if one is ever present, wins).
func (d dateTimeTZ) wall() (time.Time, bool, error) {
	s := strings.TrimSpace(d.DateTime)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true, nil
	}
	for _, l := range wallLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, false, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("dateTime is not ISO 8601")
}

// instant converts the value to an instant.
func (d dateTimeTZ) instant() (time.Time, error) {
	t, hasOffset, err := d.wall()
	if err != nil {
		return time.Time{}, err
	}
	if hasOffset {
		return t.UTC(), nil
	}
	loc, ok := parseZone(d.TimeZone)
	if !ok {
		return time.Time{}, fmt.Errorf("unknown time zone %q", truncate(d.TimeZone, 64))
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc).UTC(), nil
}

// civilDate is the date an all-day boundary stands for. Exchange stores an
// all-day event as midnight to midnight in the zone it was created in
// (originalStartTimeZone) and Graph may render it in another zone (UTC by
// default, or the Prefer: outlook.timezone zone). Converting the instant
// back to the original zone gives the date the user chose, whatever zone
// it was rendered in. When the original zone is unknown, the rendered wall
// time is rounded to the nearest midnight, which is right for every zone
// within ±12 h of the rendering zone.
func (d dateTimeTZ) civilDate(originalZone string) (string, error) {
	wall, hasOffset, err := d.wall()
	if err != nil {
		return "", err
	}
	if orig, ok := parseZone(originalZone); ok {
		if inst, err := d.instant(); err == nil {
			return inst.In(orig).Format(time.DateOnly), nil
		}
	}
	if hasOffset {
		wall = time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), time.UTC)
	}
	day := time.Date(wall.Year(), wall.Month(), wall.Day(), 0, 0, 0, 0, time.UTC)
	if wall.Sub(day) >= 12*time.Hour {
		day = day.AddDate(0, 0, 1)
	}
	return day.Format(time.DateOnly), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
