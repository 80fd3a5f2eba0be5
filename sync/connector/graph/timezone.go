package graph

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // zone conversions must not depend on the host's zoneinfo

	"github.com/syncgate/syncgate/sync/connector/internal/mailfmt"
)

// parseZone resolves a mailbox time-zone name (UTC spellings, a Windows
// name, an IANA name); ok is false for a custom or unknown zone.
func parseZone(name string) (*time.Location, bool) { return mailfmt.Zone(name) }

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
