package model

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"
)

// goldenSeries is one series of testdata/series_2026.golden: its rule,
// zone and first occurrence, and the occurrences it has in 2026 —
// RFC 3339 in the series zone (wall clock and offset, so the instant) or
// dates for all-day series. The connectors of Graph, Google, Salesforce and EWS
// read the same file for their round trips (year-long golden round trips:
// the weeks when US and EU daylight saving differ are in it).
type goldenSeries struct {
	Name, Rule, Zone string
	Start, End       string // local "2006-01-02T15:04" (timed) or dates (all-day, end exclusive)
	AllDay           bool
	Want             []string
}

func readGolden(t *testing.T, path string) []goldenSeries {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []goldenSeries
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "== "):
			out = append(out, goldenSeries{Name: strings.TrimPrefix(line, "== ")})
		case len(out) == 0:
			t.Fatalf("%s: %q before the first series", path, line)
		default:
			g := &out[len(out)-1]
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimSpace(v)
			switch {
			case line[0] >= '0' && line[0] <= '9':
				g.Want = append(g.Want, line)
			case k == "rule":
				g.Rule = v
			case k == "zone":
				g.Zone = v
			case k == "start":
				g.Start = v
			case k == "end":
				g.End = v
			case k == "allday":
				g.AllDay = v == "true"
			default:
				t.Fatalf("%s: unknown key %q", path, k)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// event is the golden series as a model master.
func (g goldenSeries) event(t *testing.T) *Event {
	t.Helper()
	r, err := ParseRRULE(g.Rule, g.Zone)
	if err != nil {
		t.Fatalf("%s: %v", g.Name, err)
	}
	if g.AllDay {
		return &Event{Subject: g.Name, AllDay: true, StartDate: g.Start, EndDate: g.End, Series: "master", Recurrence: r}
	}
	loc := mustLoc(t, g.Zone)
	st, err1 := time.ParseInLocation("2006-01-02T15:04", g.Start, loc)
	en, err2 := time.ParseInLocation("2006-01-02T15:04", g.End, loc)
	if err1 != nil || err2 != nil {
		t.Fatalf("%s: start/end", g.Name)
	}
	return &Event{Subject: g.Name, Start: st.UTC(), End: en.UTC(), Series: "master", Recurrence: r}
}

// format renders occurrences as the golden file spells them.
func (g goldenSeries) format(t *testing.T, occ []Occurrence) []string {
	t.Helper()
	var out []string
	for _, o := range occ {
		if g.AllDay {
			out = append(out, o.StartDate)
			continue
		}
		out = append(out, o.Start.In(mustLoc(t, g.Zone)).Format(time.RFC3339))
	}
	return out
}

// The model's own expansion of every golden series over 2026, and its
// hash and expansion unchanged by a round trip through the RRULE text.
func TestRecurrenceGoldenFile(t *testing.T) {
	gs := readGolden(t, "testdata/series_2026.golden")
	if len(gs) < 14 {
		t.Fatalf("%d golden series", len(gs))
	}
	for _, g := range gs {
		ev := g.event(t)
		occ, err := ev.Occurrences(year2026[0], year2026[1])
		if err != nil {
			t.Fatal(err)
		}
		if got := g.format(t, occ); strings.Join(got, "\n") != strings.Join(g.Want, "\n") {
			t.Errorf("%s: %d occurrences, want %d:\n got %v\nwant %v", g.Name, len(got), len(g.Want), got, g.Want)
		}
	}
}
