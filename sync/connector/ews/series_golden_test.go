package ews

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// The golden year of series is shared with the model's test and the other
// connectors': sync/model/testdata/series_2026.golden.
const goldenPath = "../../model/testdata/series_2026.golden"

var year2026 = connector.Scope{User: alice, Kind: model.Events,
	WindowStart: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), WindowEnd: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}

// goldenUnsupported are the golden series EWS cannot express exactly:
// Exchange puts day 31 on the last day of shorter months, the rule skips
// them.
var goldenUnsupported = map[string]bool{"monthly on the 31st Sydney": true}

type goldenSeries struct {
	name, rule, zone, start, end string
	allDay                       bool
	want                         []string
}

func readGolden(t *testing.T) []goldenSeries {
	t.Helper()
	f, err := os.Open(goldenPath)
	must(t, err)
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
	must(t, sc.Err())
	if len(out) < 14 {
		t.Fatalf("golden: %d series", len(out))
	}
	return out
}

func (g goldenSeries) item(t *testing.T) *model.Item {
	t.Helper()
	r, err := model.ParseRRULE(g.rule, g.zone)
	must(t, err)
	if g.allDay {
		return &model.Item{Event: &model.Event{Subject: g.name, AllDay: true, StartDate: g.start, EndDate: g.end, Series: "master", Recurrence: r}}
	}
	loc, err := time.LoadLocation(g.zone)
	must(t, err)
	st, err := time.ParseInLocation("2006-01-02T15:04", g.start, loc)
	must(t, err)
	en, err := time.ParseInLocation("2006-01-02T15:04", g.end, loc)
	must(t, err)
	return &model.Item{Event: &model.Event{Subject: g.name, Start: st.UTC(), End: en.UTC(), Series: "master", Recurrence: r}}
}

// render writes instants in the series zone (all-day: dates), as the
// golden file does.
func (g goldenSeries) render(t *testing.T, ts []time.Time, dates []string) []string {
	t.Helper()
	if g.allDay {
		return dates
	}
	loc, err := time.LoadLocation(g.zone)
	must(t, err)
	var out []string
	for _, s := range ts {
		out = append(out, s.In(loc).Format(time.RFC3339))
	}
	return out
}

func (g goldenSeries) occurrences(t *testing.T, it *model.Item) []string {
	t.Helper()
	occ, err := it.Event.Occurrences(year2026.WindowStart, year2026.WindowEnd)
	must(t, err)
	var ts []time.Time
	var ds []string
	for _, o := range occ {
		ts, ds = append(ts, o.Start), append(ds, o.StartDate)
	}
	return g.render(t, ts, ds)
}

// emulatorView is Exchange's own expansion over the year (what a
// CalendarView shows).
func (e *env) emulatorView(t *testing.T, g goldenSeries, masterID string) []string {
	t.Helper()
	occ, err := e.s.Occurrences(masterID, year2026.WindowStart, year2026.WindowEnd)
	must(t, err)
	var ts []time.Time
	var ds []string
	for _, o := range occ {
		if g.allDay {
			ds = append(ds, civilDate(o.Start, g.zone))
			continue
		}
		ts = append(ts, o.Start)
	}
	return g.render(t, ts, ds)
}

// Every golden series written through the connector and read back: the
// same hash, the golden year's occurrences from the model and the same
// from Exchange's own expansion, across the weeks US and EU daylight
// saving differ; the one EWS cannot express is refused, nothing written.
func TestSeriesGoldenYear(t *testing.T) {
	e := newEnv(t, Options{})
	for i, g := range readGolden(t) {
		t.Run(g.name, func(t *testing.T) {
			in := g.item(t)
			got, err := e.c.Create(e.ctx, year2026, "golden-"+string(rune('a'+i)), in)
			if goldenUnsupported[g.name] {
				if !errors.Is(err, connector.ErrUnsupported) {
					t.Fatalf("want ErrUnsupported, got %v", err)
				}
				return
			}
			must(t, err)
			if got.Hash() != in.Hash() {
				t.Fatalf("hash differs:\n got %s %+v\nwant %s %+v", got.Event.Recurrence.RRULE(), got.Event.Recurrence, in.Event.Recurrence.RRULE(), in.Event.Recurrence)
			}
			read, err := e.c.Get(e.ctx, year2026, got.ID)
			must(t, err)
			if read.Hash() != in.Hash() {
				t.Fatalf("Get: hash differs: %+v", read.Event.Recurrence)
			}
			if occ := g.occurrences(t, read); strings.Join(occ, "\n") != strings.Join(g.want, "\n") {
				t.Errorf("model occurrences:\n got %v\nwant %v", occ, g.want)
			}
			if em := e.emulatorView(t, g, got.ID); strings.Join(em, "\n") != strings.Join(g.want, "\n") {
				t.Errorf("Exchange's expansion:\n got %v\nwant %v", em, g.want)
			}
		})
	}
	list, err := e.s.Items(alice, "calendar")
	must(t, err)
	if len(list) != len(readGolden(t))-len(goldenUnsupported) {
		t.Fatalf("%d masters in the mailbox", len(list))
	}
}

// The same pattern spelled otherwise (FREQ=YEARLY from 15 March and
// BYMONTH=3;BYMONTHDAY=15) is one AbsoluteYearlyRecurrence: a master reads
// back as the rule it was written from; an update that only respells it
// records the spelling and keeps the series' exceptions.
func TestSeriesRuleSpelling(t *testing.T) {
	e := newEnv(t, Options{})
	yearly := func(rule string, xs ...model.Exception) *model.Item {
		it := series(t, rule, "Asia/Kolkata", "2026-03-15T05:30:00Z", time.Hour, xs...)
		return it
	}
	moved := model.Exception{OriginalStart: "2027-03-15T05:30:00Z", Subject: "Renamed once"}
	in := yearly("FREQ=YEARLY", moved)
	yearS2 := yearS
	yearS2.WindowStart, yearS2.WindowEnd = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)
	got, err := e.c.Create(e.ctx, yearS2, "key-y", in)
	must(t, err)
	if got.Hash() != in.Hash() || got.Event.Recurrence.RRULE() != "FREQ=YEARLY" {
		t.Fatalf("written FREQ=YEARLY reads back as %s", got.Event.Recurrence.RRULE())
	}
	e.gw.reset()
	spelled := yearly("FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=15", moved)
	up, err := e.c.Update(e.ctx, yearS2, got.ID, got.Marker, spelled)
	must(t, err)
	if up.Hash() != spelled.Hash() || countOccurrenceWrites(e.gw.Calls()) != 0 || len(up.Event.Recurrence.Exceptions) != 1 {
		t.Fatalf("respelled: %s, %d occurrence writes, exceptions %+v", up.Event.Recurrence.RRULE(), countOccurrenceWrites(e.gw.Calls()), up.Event.Recurrence.Exceptions)
	}
	// A pattern changed in Outlook no longer matches the stored rule.
	must(t, e.s.EditItem(got.ID, map[string]string{"Subject": "x"}))
	m, err := e.c.Get(e.ctx, yearS2, got.ID)
	must(t, err)
	if m.Event.Recurrence.RRULE() != "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=15" {
		t.Fatalf("rule after a subject edit: %s", m.Event.Recurrence.RRULE())
	}
}
