package salesforce

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseSOQL(t *testing.T) {
	ok := []struct {
		q     string
		check func(*Query) bool
	}{
		{"SELECT Id, Email FROM Contact", func(q *Query) bool {
			return len(q.Fields) == 2 && q.Object == "Contact" && q.Where == nil && q.Limit == -1
		}},
		{"select id from contact where Email = 'a\\'b@x' limit 5", func(q *Query) bool { return q.Where.Values[0].S == "a'b@x" && q.Limit == 5 }},
		{"SELECT Id FROM Contact WHERE Id IN ('003000000000001', '003000000000002AAA')", func(q *Query) bool { return q.Where.Op == "IN" && len(q.Where.Values) == 2 }},
		{"SELECT Id FROM Event WHERE LastModifiedDate > 2026-03-02T09:00:00Z AND IsDeleted = false ORDER BY LastModifiedDate DESC, Id", func(q *Query) bool {
			return q.Where.Logic == "AND" && q.Where.Kids[0].Values[0].Kind == VDateTime && len(q.OrderBy) == 2 && q.OrderBy[0].Desc && !q.OrderBy[1].Desc
		}},
		{"SELECT Id FROM Event WHERE SystemModstamp >= 2026-03-02T09:00:00.000+0000", func(q *Query) bool { return q.Where.Values[0].T.Equal(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)) }},
		{"SELECT Id FROM Contact WHERE (Email = null OR NOT Phone != null) AND LastName LIKE 'Sm%'", func(q *Query) bool { return q.Where.Logic == "AND" && q.Where.Kids[0].Logic == "OR" }},
		{"SELECT Id FROM Contact WHERE Id NOT IN ('003000000000001') ORDER BY Name ASC NULLS LAST", func(q *Query) bool { return q.Where.Op == "NOT IN" && !q.OrderBy[0].NullsFirst }},
		{"SELECT Id FROM Event WHERE ActivityDate = 2026-03-05 AND DurationInMinutes > -1", func(q *Query) bool {
			return q.Where.Kids[0].Values[0].Kind == VDate && q.Where.Kids[1].Values[0].N == -1
		}},
	}
	for _, tc := range ok {
		q, err := ParseSOQL(tc.q)
		if err != nil {
			t.Errorf("%q: %v", tc.q, err)
			continue
		}
		if !tc.check(q) {
			t.Errorf("%q parsed as %+v", tc.q, q)
		}
	}
	bad := []string{
		"", "SELECT", "SELECT FROM Contact", "SELECT Id Contact", "SELECT Id FROM", "SELECT Id, FROM Contact",
		"SELECT Id FROM Contact WHERE", "SELECT Id FROM Contact WHERE Email = ", "SELECT Id FROM Contact WHERE Email = 'x",
		"SELECT Id FROM Contact WHERE Email == 'x'", "SELECT Id FROM Contact LIMIT x", "SELECT Id FROM Contact LIMIT -1",
		"SELECT COUNT() FROM Contact", "SELECT Id FROM Contact WHERE Id IN ()", "SELECT Id FROM Contact WHERE Id IN ('a'",
		"SELECT Id FROM Contact ORDER Id", "SELECT Id FROM Contact trailing", "SELECT Id FROM Contact WHERE (Email = 'a'",
		"SELECT Id FROM Contact WHERE CreatedDate > 2026-13-45T00:00:00Z", "SELECT Id FROM Contact WHERE CreatedDate = TODAYS",
		"SELECT Id FROM Contact WHERE Email = 'bad\\q'", "SELECT Id FROM Contact; DELETE", "SELECT Id FROM Contact WHERE " + strings.Repeat("(", 200) + "Id = null" + strings.Repeat(")", 200),
	}
	for _, q := range bad {
		_, err := ParseSOQL(q)
		if err == nil {
			t.Errorf("%q parsed", q)
			continue
		}
		if se, ok := err.(*SOQLError); !ok || se.Code != "MALFORMED_QUERY" {
			t.Errorf("%q: %v, want MALFORMED_QUERY", q, err)
		}
	}
}

func FuzzParseSOQL(f *testing.F) {
	for _, s := range []string{
		"SELECT Id, Email FROM Contact WHERE Email = 'a@b' AND LastModifiedDate > 2026-01-01T00:00:00Z ORDER BY Name DESC LIMIT 10",
		"SELECT Id FROM Contact WHERE Id IN ('003000000000001AAA') OR NOT (Phone != null)",
		"select id from event where ActivityDate >= 2026-03-05 nulls", "SELECT Id FROM Lead WHERE Name LIKE '\\%x_'",
		"'", "(((", "SELECT Id FROM Contact WHERE Id = -", "SELECT a FROM b WHERE c IN (1,2,3.5e10)",
		"SELECT Id FROM Event WHERE StartDateTime = LAST_N_DAYS:30 AND ActivityDate < NEXT_N_WEEKS:2 LIMIT 5 OFFSET 1",
		"SELECT Id FROM Event WHERE CreatedDate > :x\n AND Id IN (TODAY, N_YEARS_AGO:99999)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseSOQL(s)
		if err != nil {
			se, ok := err.(*SOQLError)
			if !ok {
				t.Fatalf("error of type %T", err)
			}
			if m := se.Message(s); m == "" || strings.Contains(m, "position") {
				t.Fatalf("message %q", m)
			}
			return
		}
		if q.Object == "" || len(q.Fields) == 0 {
			t.Fatalf("accepted %q without object or fields", s)
		}
		// Executing whatever parsed must not panic either.
		srv := New(Options{})
		srv.mu.Lock()
		_, _ = srv.runQueryLocked(q, false, "v62.0")
		srv.mu.Unlock()
	})
}

func seedContacts(t *testing.T, e *env, n int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		id, err := e.srv.Seed(alice, "Contact", map[string]any{"FirstName": fmt.Sprintf("F%03d", i), "LastName": fmt.Sprintf("L%03d", i%7), "Email": fmt.Sprintf("c%03d@corp.example", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		e.clk.Advance(time.Second)
	}
	return ids
}

func (e *env) query(t *testing.T, q string, hdr ...string) resp {
	t.Helper()
	return e.do(t, "GET", v+"/query?q="+url.QueryEscape(q), nil, hdr...)
}

func TestQuery(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	ids := seedContacts(t, e, 10)
	e.do(t, "DELETE", v+"/sobjects/Contact/"+ids[9], nil)

	names := func(r resp) []string {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("query: %d %s", r.status, r.body)
		}
		var out []string
		for _, rec := range r.json(t)["records"].([]any) {
			m := rec.(map[string]any)
			out = append(out, fmt.Sprint(m["FirstName"]))
		}
		return out
	}
	tests := []struct{ q, want string }{
		{"SELECT FirstName FROM Contact WHERE Id IN ('" + ids[1] + "', '" + ids[3][:15] + "')", "[F001 F003]"},
		{"SELECT FirstName FROM Contact WHERE Email = 'C004@CORP.example'", "[F004]"},
		{"SELECT FirstName FROM Contact WHERE LastModifiedDate > 2026-03-02T09:00:06Z AND LastName != 'L000'", "[F008]"},
		{"SELECT FirstName FROM Contact ORDER BY FirstName DESC LIMIT 3", "[F008 F007 F006]"},
		{"SELECT FirstName FROM Contact WHERE LastName = 'L001' OR FirstName LIKE 'f00_' ORDER BY Email", "[F000 F001 F002 F003 F004 F005 F006 F007 F008]"},
		{"SELECT FirstName FROM Contact WHERE Id = '" + ids[9] + "'", "[]"},
		{"SELECT FirstName FROM Contact WHERE FirstName LIKE '\xff\u00e9%'", "[]"},
		{"SELECT FirstName FROM Contact WHERE Phone = null AND NOT (FirstName IN ('F000','F001'))  LIMIT 2", "[F002 F003]"},
	}
	for _, tc := range tests {
		if got := fmt.Sprint(names(e.query(t, tc.q))); got != tc.want {
			t.Errorf("%s\n got %s want %s", tc.q, got, tc.want)
		}
	}
	r := e.query(t, "SELECT Id, Email FROM Contact WHERE Id = '"+ids[2]+"'")
	m := r.json(t)
	rec := m["records"].([]any)[0].(map[string]any)
	if m["totalSize"] != float64(1) || m["done"] != true || rec["Id"] != ids[2] || rec["attributes"].(map[string]any)["type"] != "Contact" {
		t.Fatalf("shape: %s", r.body)
	}
	if !strings.HasPrefix(string(r.body), `{"totalSize":1,"done":true,"records":[{"attributes":`) || !strings.Contains(string(r.body), `},"Id":"`+ids[2]+`","Email":`) {
		t.Errorf("field order not kept: %s", r.body)
	}
	// queryAll sees the deleted record
	r = e.do(t, "GET", v+"/queryAll?q="+url.QueryEscape("SELECT Id, IsDeleted FROM Contact WHERE Id = '"+ids[9]+"'"), nil)
	if r.json(t)["totalSize"] != float64(1) {
		t.Fatalf("queryAll: %s", r.body)
	}

	errs := []struct{ q, code string }{
		{"SELEKT Id FROM Contact", "MALFORMED_QUERY"},
		{"SELECT Nope FROM Contact", "INVALID_FIELD"},
		{"SELECT Account.Name FROM Contact", "INVALID_FIELD"},
		{"SELECT Id FROM Contact WHERE Shoe = 'x'", "INVALID_FIELD"},
		{"SELECT Id FROM Contact ORDER BY Nope", "INVALID_FIELD"},
		{"SELECT Id FROM Shoe__c", "INVALID_TYPE"},
		{"SELECT Id FROM Contact WHERE LastModifiedDate > '2026-01-01T00:00:00Z'", "INVALID_FIELD"},
		{"SELECT Id FROM Contact WHERE Email = 5", "INVALID_FIELD"},
		{"SELECT Id FROM Contact WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR"},
	}
	for _, tc := range errs {
		r := e.query(t, tc.q)
		if r.status != 400 || r.errCode(t) != tc.code {
			t.Errorf("%s: %d %s, want %s", tc.q, r.status, r.body, tc.code)
		}
	}
	if r := e.do(t, "GET", v+"/query", nil); r.status != 400 || r.errCode(t) != "MALFORMED_QUERY" {
		t.Errorf("missing q: %d %s", r.status, r.body)
	}
}

func TestQueryPaging(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	for i := 0; i < 450; i++ {
		if _, err := e.srv.Seed("", "Account", map[string]any{"Name": fmt.Sprintf("A%04d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// default batch is 2000: one page
	if m := e.query(t, "SELECT Id FROM Account").json(t); m["done"] != true || len(m["records"].([]any)) != 450 {
		t.Fatalf("default batch: done=%v n=%d", m["done"], len(m["records"].([]any)))
	}
	seen := map[string]bool{}
	r := e.query(t, "SELECT Id, Name FROM Account ORDER BY Name", "Sforce-Query-Options", "batchSize=200")
	var sizes []int
	for {
		m := r.json(t)
		if m["totalSize"] != float64(450) {
			t.Fatalf("totalSize = %v", m["totalSize"])
		}
		recs := m["records"].([]any)
		sizes = append(sizes, len(recs))
		for _, rec := range recs {
			seen[rec.(map[string]any)["Name"].(string)] = true
		}
		if m["done"] == true {
			if _, ok := m["nextRecordsUrl"]; ok {
				t.Fatal("last page has nextRecordsUrl")
			}
			break
		}
		next := m["nextRecordsUrl"].(string)
		if !strings.HasPrefix(next, v+"/query/01g") {
			t.Fatalf("nextRecordsUrl = %s", next)
		}
		r = e.do(t, "GET", next, nil)
	}
	if fmt.Sprint(sizes) != "[200 200 50]" || len(seen) != 450 {
		t.Fatalf("pages %v, distinct %d", sizes, len(seen))
	}
	// batchSize below 200 is raised to 200; cursors expire after 15 idle minutes
	m := e.query(t, "SELECT Id FROM Account", "Sforce-Query-Options", "batchSize=10").json(t)
	if len(m["records"].([]any)) != 200 {
		t.Fatalf("batchSize=10 gave %d rows", len(m["records"].([]any)))
	}
	e.clk.Advance(16 * time.Minute)
	e.login(t)
	if r := e.do(t, "GET", m["nextRecordsUrl"].(string), nil); r.status != 400 || r.errCode(t) != "INVALID_QUERY_LOCATOR" {
		t.Fatalf("expired locator: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", v+"/query/01gbogus-200", nil); r.status != 400 || r.errCode(t) != "INVALID_QUERY_LOCATOR" {
		t.Fatalf("bogus locator: %d %s", r.status, r.body)
	}
}

func BenchmarkParseSOQL(b *testing.B) {
	q := "SELECT Id, FirstName, LastName, Email, LastModifiedDate FROM Contact WHERE LastModifiedDate > 2026-03-02T09:00:00Z AND Email = 'a@b.example' ORDER BY LastModifiedDate DESC LIMIT 200"
	for b.Loop() {
		if _, err := ParseSOQL(q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQuery1000(b *testing.B) {
	srv := New(Options{})
	for i := 0; i < 1000; i++ {
		if _, err := srv.Seed("", "Contact", map[string]any{"LastName": fmt.Sprintf("L%d", i), "Email": fmt.Sprintf("c%d@x", i)}); err != nil {
			b.Fatal(err)
		}
	}
	q, err := ParseSOQL("SELECT Id, Email FROM Contact WHERE Email = 'c500@x' OR LastName LIKE 'L9%' ORDER BY Email")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		srv.mu.Lock()
		rows, err := srv.runQueryLocked(q, false, "v62.0")
		srv.mu.Unlock()
		if err != nil || len(rows) != 112 {
			b.Fatalf("%v %d", err, len(rows))
		}
	}
}
