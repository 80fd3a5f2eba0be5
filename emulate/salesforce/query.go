package salesforce

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

type queryLocator struct {
	rows    []orderedJSON
	total   int
	batch   int
	version string
	touched time.Time
}

const (
	defaultBatch    = 2000
	minBatch        = 200
	locatorIdleTTL  = 15 * time.Minute // documented cursor inactivity timeout
	maxOpenLocators = 1000
)

// soqlHTTPError is the REST answer to a rejected query: Salesforce's error
// array with the code and, for an error at a known place, the located
// message Salesforce gives (query line, caret, row and column).
func soqlHTTPError(err error, query string) *opError {
	var se *SOQLError
	if errors.As(err, &se) {
		return newOpError(http.StatusBadRequest, se.Code, se.Message(query))
	}
	return newOpError(http.StatusBadRequest, "MALFORMED_QUERY", "malformed query")
}

// compileQuery resolves names against the schema and type-checks the WHERE
// tree; date literals are bound to ranges around now in loc.
func compileQuery(q *Query, now time.Time, loc *time.Location) (*schema, []string, error) {
	sc, ok := schemaFor(q.Object)
	if !ok {
		return nil, nil, &SOQLError{Code: "INVALID_TYPE", Msg: fmt.Sprintf("sObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.", truncate(q.Object, 80))}
	}
	resolve := func(name string) (*field, error) {
		f, ok := sc.field(name)
		if !ok {
			if strings.Contains(name, ".") {
				return nil, &SOQLError{Code: "INVALID_FIELD", Msg: fmt.Sprintf("Didn't understand relationship '%s' in field path.", truncate(name, 80))}
			}
			return nil, &SOQLError{Code: "INVALID_FIELD", Msg: fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", truncate(name, 80), sc.name)}
		}
		return f, nil
	}
	var fields []string
	for _, n := range q.Fields {
		f, err := resolve(n)
		if err != nil {
			return nil, nil, err
		}
		fields = append(fields, f.name)
	}
	for i := range q.OrderBy {
		f, err := resolve(q.OrderBy[i].Field)
		if err != nil {
			return nil, nil, err
		}
		q.OrderBy[i].Field = f.name
	}
	var check func(c *Cond) error
	check = func(c *Cond) error {
		if c == nil {
			return nil
		}
		for _, k := range c.Kids {
			if err := check(k); err != nil {
				return err
			}
		}
		if c.Logic != "" {
			return nil
		}
		f, err := resolve(c.Field)
		if err != nil {
			return err
		}
		c.Field = f.name
		for i, v := range c.Values {
			if v.Kind == VNull {
				if c.Op != "=" && c.Op != "!=" && c.Op != "IN" && c.Op != "NOT IN" {
					return &SOQLError{Code: "MALFORMED_QUERY", Msg: "null can only be compared with = or !="}
				}
				continue
			}
			if v.Kind == VDateLiteral && (f.typ == tDate || f.typ == tDateTime) {
				bindDateLiteral(&c.Values[i], f.typ, now, loc)
				continue
			}
			want := map[fieldType]ValueKind{tString: VString, tID: VString, tBool: VBool, tInt: VNumber, tDateTime: VDateTime, tDate: VDate}[f.typ]
			if v.Kind != want {
				typ := map[fieldType]string{tString: "string", tID: "id", tBool: "boolean", tInt: "int", tDateTime: "dateTime", tDate: "date"}[f.typ]
				quotes := "should not be enclosed in quotes"
				if want == VString {
					quotes = "should be enclosed in quotes"
				}
				return &SOQLError{Code: "INVALID_FIELD", Msg: fmt.Sprintf("value of filter criterion for field '%s' must be of type %s and %s", f.name, typ, quotes)}
			}
			if f.typ == tID {
				id, ok := normalizeID(v.S)
				if !ok {
					return &SOQLError{Code: "INVALID_QUERY_FILTER_OPERATOR", Msg: fmt.Sprintf("invalid ID field: %s", truncate(v.S, 20))}
				}
				c.Values[i].S = id
			}
			if c.Op == "LIKE" {
				if f.typ != tString {
					return &SOQLError{Code: "INVALID_QUERY_FILTER_OPERATOR", Msg: "invalid operator on " + f.name + " field"}
				}
				c.like = likeRegexp(v.S)
			}
		}
		return nil
	}
	if err := check(q.Where); err != nil {
		return nil, nil, err
	}
	return sc, fields, nil
}

func compareValues(a any, v Value) (int, bool) {
	switch x := a.(type) {
	case string:
		l, r := strings.ToLower(x), strings.ToLower(v.S)
		return strings.Compare(l, r), true
	case bool:
		if x == v.B {
			return 0, true
		}
		if !x {
			return -1, true
		}
		return 1, true
	case int:
		f := float64(x)
		switch {
		case f < v.N:
			return -1, true
		case f > v.N:
			return 1, true
		}
		return 0, true
	case time.Time:
		return x.Compare(v.T), true
	}
	return 0, false
}

func likeRegexp(pat string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?is)^")
	escaped := false
	for _, c := range strings.ToValidUTF8(pat, "\uFFFD") {
		switch {
		case escaped:
			b.WriteString(regexp.QuoteMeta(string(c)))
			escaped = false
		case c == '\\':
			escaped = true
		case c == '%':
			b.WriteString(".*")
		case c == '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil { // unreachable: every literal is quoted
		return regexp.MustCompile("^$.")
	}
	return re
}

func evalCond(c *Cond, r *record) bool {
	if c == nil {
		return true
	}
	switch c.Logic {
	case "AND":
		for _, k := range c.Kids {
			if !evalCond(k, r) {
				return false
			}
		}
		return true
	case "OR":
		for _, k := range c.Kids {
			if evalCond(k, r) {
				return true
			}
		}
		return false
	case "NOT":
		return !evalCond(c.Kids[0], r)
	}
	val := r.fields[c.Field]
	switch c.Op {
	case "IN", "NOT IN":
		in := false
		for _, v := range c.Values {
			if v.Kind == VNull {
				in = in || val == nil
				continue
			}
			if v.Kind == VDateLiteral {
				if t, ok := val.(time.Time); ok && matchDateLiteral("=", t, v) {
					in = true
				}
				continue
			}
			if cmp, ok := compareValues(val, v); ok && cmp == 0 {
				in = true
			}
		}
		return in == (c.Op == "IN")
	case "LIKE":
		s, ok := val.(string)
		if c.like == nil {
			c.like = likeRegexp(c.Values[0].S)
		}
		return ok && c.like.MatchString(s)
	}
	v := c.Values[0]
	if v.Kind == VNull {
		return (val == nil) == (c.Op == "=")
	}
	if v.Kind == VDateLiteral {
		t, ok := val.(time.Time)
		if !ok {
			return c.Op == "!=" // null differs from any value
		}
		return matchDateLiteral(c.Op, t, v)
	}
	cmp, ok := compareValues(val, v)
	if !ok {
		return c.Op == "!=" // null differs from any value
	}
	switch c.Op {
	case "=":
		return cmp == 0
	case "!=":
		return cmp != 0
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">":
		return cmp > 0
	case ">=":
		return cmp >= 0
	}
	return false
}

func lessAny(a, b any) int {
	switch x := a.(type) {
	case string:
		return strings.Compare(strings.ToLower(x), strings.ToLower(b.(string)))
	case int:
		return x - b.(int)
	case bool:
		if x == b.(bool) {
			return 0
		}
		if !x {
			return -1
		}
		return 1
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	return 0
}

// runQuery executes q and returns the rendered rows.
func (s *Server) runQueryLocked(q *Query, all bool, version string) ([]orderedJSON, error) {
	sc, fields, err := compileQuery(q, s.clk.Now(), s.loc)
	if err != nil {
		return nil, err
	}
	st := s.objects[strings.ToLower(sc.name)]
	var recs []*record
	for _, id := range st.order {
		r := st.records[id]
		if (all || !r.deleted()) && evalCond(q.Where, r) {
			recs = append(recs, r)
		}
	}
	sort.SliceStable(recs, func(i, j int) bool {
		for _, o := range q.OrderBy {
			a, b := recs[i].fields[o.Field], recs[j].fields[o.Field]
			if a == nil || b == nil {
				if a == nil && b == nil {
					continue
				}
				return (a == nil) == o.NullsFirst
			}
			c := lessAny(a, b)
			if c == 0 {
				continue
			}
			return (c < 0) != o.Desc
		}
		return false
	})
	recs = recs[min(q.Offset, len(recs)):]
	if q.Limit >= 0 && len(recs) > q.Limit {
		recs = recs[:q.Limit]
	}
	rows := make([]orderedJSON, 0, len(recs))
	for _, r := range recs {
		rows = append(rows, renderRecord(sc, r, fields, version))
	}
	return rows, nil
}

func batchSize(r *http.Request) int {
	opt := r.Header.Get("Sforce-Query-Options")
	for _, part := range strings.Split(opt, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(k, "batchSize") {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return defaultBatch
			}
			return min(max(n, minBatch), defaultBatch)
		}
	}
	return defaultBatch
}

func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request, version string, all bool) {
	qs := r.URL.Query().Get("q")
	if qs == "" {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "A query string has to be specified", ErrorCode: "MALFORMED_QUERY"})
		return
	}
	q, err := ParseSOQL(qs)
	if err != nil {
		writeOpError(w, soqlHTTPError(err, qs))
		return
	}
	s.mu.Lock()
	rows, err := s.runQueryLocked(q, all, version)
	s.mu.Unlock()
	if err != nil {
		writeOpError(w, soqlHTTPError(err, qs))
		return
	}
	s.writePage(w, &queryLocator{rows: rows, total: len(rows), batch: batchSize(r), version: version}, 0, "")
}

func (s *Server) writePage(w http.ResponseWriter, loc *queryLocator, offset int, locID string) {
	end := min(offset+loc.batch, len(loc.rows))
	page := loc.rows[offset:end]
	resp := orderedJSON{{"totalSize", loc.total}, {"done", end >= len(loc.rows)}}
	if end < len(loc.rows) {
		now := s.clk.Now()
		s.mu.Lock()
		if locID == "" {
			for id, l := range s.locators { // drop idle cursors
				if now.Sub(l.touched) > locatorIdleTTL {
					delete(s.locators, id)
				}
			}
			if len(s.locators) >= maxOpenLocators {
				s.mu.Unlock()
				writeErrors(w, http.StatusBadRequest, apiError{Message: "too many open query cursors", ErrorCode: "EXCEEDED_MAX_OPEN_CURSORS"})
				return
			}
			locID = "01g" + strings.ReplaceAll(randomToken(12), "-", "x")
			s.locators[locID] = loc
		}
		loc.touched = now
		s.mu.Unlock()
		resp = append(resp, kv{"nextRecordsUrl", "/services/data/" + loc.version + "/query/" + locID + "-" + strconv.Itoa(end)})
	} else if locID != "" {
		s.mu.Lock()
		delete(s.locators, locID)
		s.mu.Unlock()
	}
	resp = append(resp, kv{"records", page})
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) serveQueryMore(w http.ResponseWriter, cursor, version string) {
	locID, offStr, ok := strings.Cut(cursor, "-")
	off, err := strconv.Atoi(offStr)
	now := s.clk.Now()
	s.mu.Lock()
	loc := s.locators[locID]
	if loc != nil && now.Sub(loc.touched) > locatorIdleTTL {
		delete(s.locators, locID)
		loc = nil
	}
	s.mu.Unlock()
	if !ok || err != nil || loc == nil || off <= 0 || off >= len(loc.rows) || loc.version != version {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "invalid query locator", ErrorCode: "INVALID_QUERY_LOCATOR"})
		return
	}
	s.writePage(w, loc, off, locID)
}
