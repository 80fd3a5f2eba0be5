package ews

import (
	"strings"
	"time"
	_ "time/tzdata" // zone conversions must not depend on the host's zoneinfo
)

// windowsZones maps the Windows time-zone ids Exchange uses (StartTimeZone
// and EndTimeZone's Id) to IANA names: the common ones of CLDR's
// windowsZones.xml "001" territory (the same table as the Graph
// connector's). Ids not listed are tried as IANA names; see parseZone.
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

// parseZone resolves a time-zone id: UTC spellings, a Windows id from the
// table, or an IANA name. ok is false when it cannot be resolved.
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
