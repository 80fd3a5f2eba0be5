package salesforce

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// day is a calendar date for the expectations below, written out by hand
// from the ranges in "Date Formats and Date Literals in WHERE" for the
// emulator's clock, Monday 2 March 2026 09:00 UTC (weeks start on Sunday).
func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// seedDays creates one event starting at 00:00:00 and one at 23:59:59 UTC
// (the boundaries of each day) for every day of [from, to), named by their
// start; it returns every start.
func seedDays(t *testing.T, e *env, from, to time.Time) []time.Time {
	t.Helper()
	var starts []time.Time
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		for _, st := range []time.Time{d, d.Add(24*time.Hour - time.Second)} {
			if _, err := e.srv.Seed(alice, "Event", map[string]any{"Subject": st.Format(time.RFC3339),
				"StartDateTime": st.Format(time.RFC3339), "EndDateTime": st.Add(time.Second).Format(time.RFC3339)}); err != nil {
				t.Fatal(err)
			}
			starts = append(starts, st)
		}
	}
	return starts
}

// subjects runs a query over Event and returns the sorted Subjects.
func (e *env) subjects(t *testing.T, q string) []string {
	t.Helper()
	r := e.query(t, q)
	if r.status != 200 {
		t.Fatalf("%s: %d %s", q, r.status, r.body)
	}
	var out []string
	for _, rec := range r.json(t)["records"].([]any) {
		out = append(out, rec.(map[string]any)["Subject"].(string))
	}
	sort.Strings(out)
	return out
}

func expect(starts []time.Time, keep func(time.Time) bool) []string {
	var out []string
	for _, s := range starts {
		if keep(s) {
			out = append(out, s.Format(time.RFC3339))
		}
	}
	sort.Strings(out)
	return out
}

func TestSOQLDateLiterals(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	starts := seedDays(t, e, day(2025, 9, 25), day(2026, 7, 5))
	in := func(lo, hi time.Time) func(time.Time) bool {
		return func(s time.Time) bool { return !s.Before(lo) && s.Before(hi) }
	}
	ranges := []struct {
		lit    string
		lo, hi time.Time
	}{
		{"TODAY", day(2026, 3, 2), day(2026, 3, 3)},
		{"YESTERDAY", day(2026, 3, 1), day(2026, 3, 2)},
		{"TOMORROW", day(2026, 3, 3), day(2026, 3, 4)},
		{"THIS_WEEK", day(2026, 3, 1), day(2026, 3, 8)},
		{"LAST_WEEK", day(2026, 2, 22), day(2026, 3, 1)},
		{"NEXT_WEEK", day(2026, 3, 8), day(2026, 3, 15)},
		{"THIS_MONTH", day(2026, 3, 1), day(2026, 4, 1)},
		{"LAST_MONTH", day(2026, 2, 1), day(2026, 3, 1)},
		{"NEXT_MONTH", day(2026, 4, 1), day(2026, 5, 1)},
		{"LAST_90_DAYS", day(2025, 12, 2), day(2026, 3, 3)}, // today included: 91 days
		{"NEXT_90_DAYS", day(2026, 3, 3), day(2026, 6, 1)},
		{"LAST_N_DAYS:2", day(2026, 2, 28), day(2026, 3, 3)}, // "LAST_N_DAYS:1 includes yesterday and today"
		{"last_n_days:0", day(2026, 3, 2), day(2026, 3, 3)},
		{"NEXT_N_DAYS:2", day(2026, 3, 3), day(2026, 3, 5)},
		{"N_DAYS_AGO:3", day(2026, 2, 27), day(2026, 2, 28)},
		{"LAST_N_WEEKS:2", day(2026, 2, 15), day(2026, 3, 1)},
		{"NEXT_N_WEEKS:1", day(2026, 3, 8), day(2026, 3, 15)},
		{"N_WEEKS_AGO:2", day(2026, 2, 15), day(2026, 2, 22)},
		{"LAST_N_MONTHS:2", day(2026, 1, 1), day(2026, 3, 1)},
		{"NEXT_N_MONTHS:2", day(2026, 4, 1), day(2026, 6, 1)},
		{"N_MONTHS_AGO:5", day(2025, 10, 1), day(2025, 11, 1)},
		{"THIS_QUARTER", day(2026, 1, 1), day(2026, 4, 1)},
		{"LAST_QUARTER", day(2025, 10, 1), day(2026, 1, 1)},
		{"NEXT_QUARTER", day(2026, 4, 1), day(2026, 7, 1)},
		{"NEXT_N_QUARTERS:1", day(2026, 4, 1), day(2026, 7, 1)},
		{"LAST_N_QUARTERS:1", day(2025, 10, 1), day(2026, 1, 1)},
		{"N_QUARTERS_AGO:1", day(2025, 10, 1), day(2026, 1, 1)},
		{"THIS_FISCAL_QUARTER", day(2026, 1, 1), day(2026, 4, 1)},
		{"THIS_YEAR", day(2026, 1, 1), day(2027, 1, 1)},
		{"LAST_YEAR", day(2025, 1, 1), day(2026, 1, 1)},
		{"LAST_N_YEARS:1", day(2025, 1, 1), day(2026, 1, 1)},
		{"N_YEARS_AGO:1", day(2025, 1, 1), day(2026, 1, 1)},
		{"THIS_FISCAL_YEAR", day(2026, 1, 1), day(2027, 1, 1)},
		{"LAST_N_FISCAL_YEARS:1", day(2025, 1, 1), day(2026, 1, 1)},
	}
	for _, tc := range ranges {
		got := e.subjects(t, "SELECT Subject FROM Event WHERE StartDateTime = "+tc.lit)
		if want := expect(starts, in(tc.lo, tc.hi)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("= %s: got %d events %v..., want %d (%s to %s)", tc.lit, len(got), head(got), len(want), tc.lo.Format(time.DateOnly), tc.hi.Format(time.DateOnly))
		}
	}

	// The other operators compare with the range's ends.
	lo, hi := day(2026, 3, 1), day(2026, 3, 8) // THIS_WEEK
	ops := map[string]func(time.Time) bool{
		">":  func(s time.Time) bool { return !s.Before(hi) },
		">=": func(s time.Time) bool { return !s.Before(lo) },
		"<":  func(s time.Time) bool { return s.Before(lo) },
		"<=": func(s time.Time) bool { return s.Before(hi) },
		"!=": func(s time.Time) bool { return s.Before(lo) || !s.Before(hi) },
	}
	for op, keep := range ops {
		got := e.subjects(t, "SELECT Subject FROM Event WHERE StartDateTime "+op+" THIS_WEEK")
		if want := expect(starts, keep); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s THIS_WEEK: got %d events, want %d", op, len(got), len(want))
		}
	}
	// A sync window: a date field, IN, and literals combined with AND.
	got := e.subjects(t, "SELECT Subject FROM Event WHERE ActivityDate >= LAST_N_DAYS:1 AND ActivityDate < NEXT_N_DAYS:1")
	if want := expect(starts, in(day(2026, 3, 1), day(2026, 3, 3))); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("date-field window: got %v want %v", got, want)
	}
	got = e.subjects(t, "SELECT Subject FROM Event WHERE ActivityDate IN (YESTERDAY, TOMORROW)")
	if want := expect(starts, func(s time.Time) bool {
		return in(day(2026, 3, 1), day(2026, 3, 2))(s) || in(day(2026, 3, 3), day(2026, 3, 4))(s)
	}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("IN (YESTERDAY, TOMORROW): got %v want %v", got, want)
	}

	// Ranges follow the clock.
	e.clk.Advance(24 * time.Hour)
	e.login(t)
	got = e.subjects(t, "SELECT Subject FROM Event WHERE StartDateTime = TODAY")
	if want := expect(starts, in(day(2026, 3, 3), day(2026, 3, 4))); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("TODAY a day later: %v", got)
	}
}

func head(s []string) []string {
	if len(s) > 3 {
		return s[:3]
	}
	return s
}

// Date literals count days in the org's time zone.
func TestSOQLDateLiteralsTimeZone(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	e := newEnv(t, Options{TimeZone: la})
	e.login(t)
	// 09:00 UTC on 2 March is 01:00 PST the same day: TODAY is
	// [08:00Z on 2 March, 08:00Z on 3 March).
	for _, st := range []string{"2026-03-02T07:59:59Z", "2026-03-02T08:00:00Z", "2026-03-03T07:59:59Z", "2026-03-03T08:00:00Z"} {
		if _, err := e.srv.Seed(alice, "Event", map[string]any{"Subject": st, "StartDateTime": st, "EndDateTime": st}); err != nil {
			t.Fatal(err)
		}
	}
	got := e.subjects(t, "SELECT Subject FROM Event WHERE StartDateTime = TODAY")
	if fmt.Sprint(got) != "[2026-03-02T08:00:00Z 2026-03-03T07:59:59Z]" {
		t.Fatalf("TODAY in Los Angeles: %v", got)
	}
}

// sfError decodes a Salesforce error array with exactly one element.
func sfError(t *testing.T, r resp) apiError {
	t.Helper()
	var errs []apiError
	if err := json.Unmarshal(r.body, &errs); err != nil || len(errs) != 1 {
		t.Fatalf("want a one-element error array, got %d %s", r.status, r.body)
	}
	var raw []map[string]any
	_ = json.Unmarshal(r.body, &raw)
	for k := range raw[0] {
		if k != "message" && k != "errorCode" && k != "fields" {
			t.Fatalf("unexpected member %q in %s", k, r.body)
		}
	}
	return errs[0]
}

// Every rejected query answers Salesforce's error array; a syntax error is
// MALFORMED_QUERY with the query line, a caret and "ERROR at Row:r:Column:c".
func TestSOQLErrorShape(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	cases := []struct {
		q, code, token, says string
	}{
		{"SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS", "MALFORMED_QUERY", "LAST_N_DAYS", "LAST_N_DAYS:7"},
		{"SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS:x", "MALFORMED_QUERY", "x", "whole number"},
		{"SELECT Id FROM Contact WHERE CreatedDate = TODAY:3", "MALFORMED_QUERY", "TODAY:3", "takes no number"},
		{"SELECT Id FROM Contact WHERE CreatedDate = LAST_FORTNIGHT", "MALFORMED_QUERY", "LAST_FORTNIGHT", "unexpected token: 'LAST_FORTNIGHT'"},
		{"SELECT Id FROM Contact WHERE CreatedDate > :since", "MALFORMED_QUERY", ":since", "Bind variables only allowed in Apex code"},
		{"SELECT COUNT() FROM Contact", "MALFORMED_QUERY", "()", "not supported"},
		{"SELECT Id, (SELECT Id FROM Contacts) FROM Account", "MALFORMED_QUERY", "(SELECT", "subqueries are not supported"},
		{"SELECT LastName FROM Contact GROUP BY LastName", "MALFORMED_QUERY", "GROUP", "GROUP BY is not supported"},
		{"SELECT Id FROM Contact WHERE", "MALFORMED_QUERY", "", "unexpected token: <EOF>"},
		{"SELECT Id FROM Contact WHERE Email = 'x", "MALFORMED_QUERY", "'x", "unexpected token: <EOF>"},
		{"SELECT Id FROM Contact LIMIT 1 OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "2001", "Maximum SOQL offset allowed is 2000"},
		{"SELECT Id FROM Contact WHERE Name = 'a' €", "MALFORMED_QUERY", "€", "unexpected token: '€'"},
	}
	for _, tc := range cases {
		r := e.query(t, tc.q)
		se := sfError(t, r)
		if r.status != 400 || se.ErrorCode != tc.code || !strings.Contains(se.Message, tc.says) {
			t.Errorf("%s: %d %q %q", tc.q, r.status, se.ErrorCode, se.Message)
			continue
		}
		// The located form: "\n<query>\n<caret>\nERROR at Row:1:Column:<c>\n<reason>".
		col := len([]rune(tc.q)) + 1 // <EOF>
		if tc.token != "" {
			col = len([]rune(tc.q[:strings.Index(tc.q, tc.token)])) + 1
		}
		want := "\n" + tc.q + "\n" + strings.Repeat(" ", col-1) + "^\n" + fmt.Sprintf("ERROR at Row:1:Column:%d\n", col)
		if !strings.HasPrefix(se.Message, want) {
			t.Errorf("%s: message %q, want prefix %q", tc.q, se.Message, want)
		}
		if strings.Contains(se.Message, "position") {
			t.Errorf("%s: internal wording in %q", tc.q, se.Message)
		}
	}
	// Rows count lines.
	r := e.query(t, "SELECT Id\nFROM Contact\nWHERE Email = ")
	if se := sfError(t, r); se.ErrorCode != "MALFORMED_QUERY" || !strings.Contains(se.Message, "\nWHERE Email = \n              ^\nERROR at Row:3:Column:15\n") {
		t.Errorf("multi-line query: %q", se.Message)
	}
	// A date literal against a field that is not a date is Salesforce's
	// INVALID_FIELD, not a syntax error.
	r = e.query(t, "SELECT Id FROM Contact WHERE Email = TODAY")
	if se := sfError(t, r); se.ErrorCode != "INVALID_FIELD" || !strings.Contains(se.Message, "'Email' must be of type string") {
		t.Errorf("Email = TODAY: %+v", se)
	}
}

func TestSOQLOffset(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	seedContacts(t, e, 6)
	got := e.query(t, "SELECT FirstName FROM Contact ORDER BY FirstName LIMIT 2 OFFSET 3").json(t)
	var names []string
	for _, rec := range got["records"].([]any) {
		names = append(names, rec.(map[string]any)["FirstName"].(string))
	}
	if fmt.Sprint(names) != "[F003 F004]" || got["totalSize"] != float64(2) {
		t.Fatalf("LIMIT 2 OFFSET 3: %v", got)
	}
}
