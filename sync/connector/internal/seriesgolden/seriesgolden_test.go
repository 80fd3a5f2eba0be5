package seriesgolden

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The shared file itself, from this package's directory: every series is
// complete, and the model's expansion of each is what the file expects
// (the connectors' tests rely on this reader getting both right).
func TestReadGoldenFile(t *testing.T) {
	gs := Read(t, "../"+Path)
	seen := map[string]bool{}
	for _, g := range gs {
		// An all-day series needs no zone: its occurrences are dates.
		if g.Name == "" || g.Rule == "" || (g.Zone == "" && !g.AllDay) || g.Start == "" || g.End == "" || len(g.Want) == 0 {
			t.Errorf("incomplete series %+v", g)
		}
		if seen[g.Name] {
			t.Errorf("series %q twice", g.Name)
		}
		seen[g.Name] = true
		if got := g.Occurrences(t, g.Item(t)); !Same(got, g.Want) {
			t.Errorf("%s:\n got %v\nwant %v", g.Name, got, g.Want)
		}
	}
}

// fatalTB records the first Fatalf and stops the goroutine that called it,
// as testing.T does, so a test can check that Read refuses a file.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// Malformed or truncated files fail the test instead of yielding series
// that would compare trivially.
func TestReadRefuses(t *testing.T) {
	for _, tc := range []struct {
		file, want string
	}{
		{"testdata/missing.golden", "no such file"},
		{"testdata/before_first.golden", "before the first series"},
		{"testdata/unknown_key.golden", `unknown key "colour"`},
		{"testdata/too_few.golden", "1 series"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			tb := &fatalTB{TB: t}
			done := make(chan []Series)
			go func() {
				defer close(done)
				done <- Read(tb, tc.file)
			}()
			if gs, ok := <-done; ok {
				t.Fatalf("read %d series, want a failure", len(gs))
			}
			if !strings.Contains(tb.msg, tc.want) {
				t.Fatalf("failure %q, want it to say %q", tb.msg, tc.want)
			}
		})
	}
}

func TestRender(t *testing.T) {
	ts := []time.Time{time.Date(2026, 3, 8, 12, 30, 0, 0, time.UTC), time.Date(2026, 3, 9, 11, 30, 0, 0, time.UTC)}
	dates := []string{"2026-03-08", "2026-03-09"}
	for _, tc := range []struct {
		name string
		g    Series
		want []string
	}{
		{"timed, in the series zone across the DST change", Series{Zone: "America/New_York"}, []string{"2026-03-08T08:30:00-04:00", "2026-03-09T07:30:00-04:00"}},
		{"all-day, the dates", Series{Zone: "America/New_York", AllDay: true}, dates},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.g.Render(t, ts, dates); !Same(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSame(t *testing.T) {
	for _, tc := range []struct {
		a, b []string
		want bool
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, true},
		{nil, nil, true},
		{[]string{"a", "b"}, []string{"b", "a"}, false},
		{[]string{"a"}, []string{"a", "a"}, false},
		{[]string{"a\nb"}, []string{"a", "b"}, false},
	} {
		if got := Same(tc.a, tc.b); got != tc.want {
			t.Errorf("Same(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
