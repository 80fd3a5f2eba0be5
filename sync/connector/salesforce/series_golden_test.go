package salesforce_test

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/salesforce"
	"github.com/syncgate/syncgate/sync/model"
)

// The golden year of series is shared with the model's test (and the
// Graph and Salesforce connectors'): sync/model/testdata/series_2026.golden.
const goldenPath = "../../model/testdata/series_2026.golden"

var (
	year2026 = connector.Scope{User: alice, Kind: model.Events,
		WindowStart: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), WindowEnd: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
)

type goldenSeries struct {
	name, rule, zone, start, end string
	allDay                       bool
	want                         []string
}

func readGolden(t *testing.T) []goldenSeries {
	t.Helper()
	f, err := os.Open(goldenPath)
	mustOK(t, err)
	defer f.Close()
	var out []goldenSeries
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "== "):
			out = append(out, goldenSeries{name: strings.TrimPrefix(line, "== ")})
		case len(out) == 0:
			t.Fatalf("golden: %q before the first series", line)
		case line[0] >= '0' && line[0] <= '9':
			out[len(out)-1].want = append(out[len(out)-1].want, line)
		default:
			g := &out[len(out)-1]
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimSpace(v)
			switch k {
			case "rule":
				g.rule = v
			case "zone":
				g.zone = v
			case "start":
				g.start = v
			case "end":
				g.end = v
			case "allday":
				g.allDay = v == "true"
			default:
				t.Fatalf("golden: key %q", k)
			}
		}
	}
	mustOK(t, sc.Err())
	if len(out) < 14 {
		t.Fatalf("golden: %d series", len(out))
	}
	return out
}

func (g goldenSeries) item(t *testing.T) *model.Item {
	t.Helper()
	r, err := model.ParseRRULE(g.rule, g.zone)
	mustOK(t, err)
	if g.allDay {
		return &model.Item{Event: &model.Event{Subject: g.name, AllDay: true, StartDate: g.start, EndDate: g.end, Series: "master", Recurrence: r}}
	}
	loc, err := time.LoadLocation(g.zone)
	mustOK(t, err)
	st, err := time.ParseInLocation("2006-01-02T15:04", g.start, loc)
	mustOK(t, err)
	en, err := time.ParseInLocation("2006-01-02T15:04", g.end, loc)
	mustOK(t, err)
	return &model.Item{Event: &model.Event{Subject: g.name, Start: st.UTC(), End: en.UTC(), Series: "master", Recurrence: r}}
}

// starts renders instants (or dates) as the golden file does.
func (g goldenSeries) starts(t *testing.T, ts []time.Time, dates []string) []string {
	t.Helper()
	if g.allDay {
		return dates
	}
	loc, err := time.LoadLocation(g.zone)
	mustOK(t, err)
	var out []string
	for _, s := range ts {
		out = append(out, s.In(loc).Format(time.RFC3339))
	}
	return out
}

func (g goldenSeries) occurrences(t *testing.T, it *model.Item) []string {
	t.Helper()
	occ, err := it.Event.Occurrences(year2026.WindowStart, year2026.WindowEnd)
	mustOK(t, err)
	var ts []time.Time
	var ds []string
	for _, o := range occ {
		ts, ds = append(ts, o.Start), append(ds, o.StartDate)
	}
	return g.starts(t, ts, ds)
}

func sameList(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// emulatorOccurrences is what Salesforce itself holds: the series' live
// occurrence records in the year.
func (e *env) emulatorOccurrences(t *testing.T, g goldenSeries, seriesID string) []string {
	t.Helper()
	var ts []time.Time
	var ds []string
	for _, o := range e.srv.Occurrences(seriesID) {
		st := o["StartDateTime"].(time.Time)
		if g.allDay {
			d := o["ActivityDate"].(time.Time)
			if d.Year() == 2026 {
				ds = append(ds, d.Format(time.DateOnly))
			}
			continue
		}
		if !st.Before(year2026.WindowStart) && st.Before(year2026.WindowEnd) {
			ts = append(ts, st)
		}
	}
	return g.starts(t, ts, ds)
}

// Every golden series written to Salesforce through the connector and
// read back: the same hash, the golden year's occurrences from the model,
// and the same from Salesforce's own occurrence records — so the emulator
// and the model agree, across the weeks US and EU daylight saving differ.
func TestSeriesGoldenYear(t *testing.T) {
	e := newEnv(t, func(o *salesforce.Options) { o.Series = true })
	ctx := context.Background()
	for i, g := range readGolden(t) {
		t.Run(g.name, func(t *testing.T) {
			in := g.item(t)
			got, err := e.conn.Create(ctx, year2026, "golden-"+string(rune('a'+i)), in)
			mustOK(t, err)
			if got.Hash() != in.Hash() {
				t.Fatalf("hash differs:\n got %+v\nwant %+v", got.Event.Recurrence, in.Event.Recurrence)
			}
			read, err := e.conn.Get(ctx, year2026, got.ID)
			mustOK(t, err)
			if read.Hash() != in.Hash() {
				t.Fatalf("Get: hash differs: %+v", read.Event.Recurrence)
			}
			if occ := g.occurrences(t, read); !sameList(occ, g.want) {
				t.Errorf("model occurrences:\n got %v\nwant %v", occ, g.want)
			}
			if em := e.emulatorOccurrences(t, g, got.ID); !sameList(em, g.want) {
				t.Errorf("occurrence records:\n got %v\nwant %v", em, g.want)
			}
		})
	}
}
