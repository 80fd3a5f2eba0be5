package seriesgolden

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/model"
)

// Path is the golden file relative to a connector package's directory
// (sync/connector/<name>), the working directory of its tests.
const Path = "../../model/testdata/series_2026.golden"

// minSeries guards against a truncated or misread file passing as a
// short, trivially matching one.
const minSeries = 14

// Start and End bound the golden year (the UTC year 2026, End exclusive):
// the window every expected occurrence in the file falls in. Tests only
// read them.
var (
	Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	End   = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Series is one series of the golden file: its rule, zone and first
// occurrence, and the occurrences it has in the golden year — RFC 3339 in
// the series zone (wall clock and offset, so the instant), or dates for an
// all-day series.
type Series struct {
	Name, Rule, Zone string
	Start, End       string // local "2006-01-02T15:04" (timed) or dates (all-day, end exclusive)
	AllDay           bool
	Want             []string
}

// Read parses the golden file at path; a malformed file, or one with fewer
// series than the file is known to hold, fails the test.
func Read(t testing.TB, path string) []Series {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("golden: %v", err)
	}
	defer f.Close()
	var out []Series
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "== "):
			out = append(out, Series{Name: strings.TrimPrefix(line, "== ")})
		case len(out) == 0:
			t.Fatalf("golden %s: %q before the first series", path, line)
		case line[0] >= '0' && line[0] <= '9':
			out[len(out)-1].Want = append(out[len(out)-1].Want, line)
		default:
			g := &out[len(out)-1]
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimSpace(v)
			switch k {
			case "rule":
				g.Rule = v
			case "zone":
				g.Zone = v
			case "start":
				g.Start = v
			case "end":
				g.End = v
			case "allday":
				g.AllDay = v == "true"
			default:
				t.Fatalf("golden %s: unknown key %q", path, k)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("golden %s: %v", path, err)
	}
	if len(out) < minSeries {
		t.Fatalf("golden %s: %d series, want at least %d", path, len(out), minSeries)
	}
	return out
}

// Item is the series as a model master, the item a connector is given to
// write.
func (g Series) Item(t testing.TB) *model.Item {
	t.Helper()
	r, err := model.ParseRRULE(g.Rule, g.Zone)
	if err != nil {
		t.Fatalf("golden %q: rule: %v", g.Name, err)
	}
	if g.AllDay {
		return &model.Item{Event: &model.Event{Subject: g.Name, AllDay: true, StartDate: g.Start, EndDate: g.End, Series: "master", Recurrence: r}}
	}
	loc := g.location(t)
	st, err := time.ParseInLocation("2006-01-02T15:04", g.Start, loc)
	if err != nil {
		t.Fatalf("golden %q: start: %v", g.Name, err)
	}
	en, err := time.ParseInLocation("2006-01-02T15:04", g.End, loc)
	if err != nil {
		t.Fatalf("golden %q: end: %v", g.Name, err)
	}
	return &model.Item{Event: &model.Event{Subject: g.Name, Start: st.UTC(), End: en.UTC(), Series: "master", Recurrence: r}}
}

// Render spells occurrences as the golden file does: for an all-day series
// the dates, otherwise the instants in the series zone.
func (g Series) Render(t testing.TB, ts []time.Time, dates []string) []string {
	t.Helper()
	if g.AllDay {
		return dates
	}
	loc := g.location(t)
	var out []string
	for _, s := range ts {
		out = append(out, s.In(loc).Format(time.RFC3339))
	}
	return out
}

// Occurrences is the model's expansion of it over the golden year,
// rendered as the file spells it.
func (g Series) Occurrences(t testing.TB, it *model.Item) []string {
	t.Helper()
	occ, err := it.Event.Occurrences(Start, End)
	if err != nil {
		t.Fatalf("golden %q: occurrences: %v", g.Name, err)
	}
	var ts []time.Time
	var ds []string
	for _, o := range occ {
		ts, ds = append(ts, o.Start), append(ds, o.StartDate)
	}
	return g.Render(t, ts, ds)
}

func (g Series) location(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(g.Zone)
	if err != nil {
		t.Fatalf("golden %q: zone: %v", g.Name, err)
	}
	return loc
}

// Same reports whether two renderings list the same occurrences in the
// same order.
func Same(a, b []string) bool { return slices.Equal(a, b) }
