package salesforce

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Query is a parsed SOQL statement in the subset the emulator supports:
//
//	SELECT f1, f2 FROM Object [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]
//
// where cond combines comparisons (=, !=, <>, <, <=, >, >=, [NOT] IN (...),
// LIKE) with AND, OR, NOT and parentheses, and values are strings, numbers,
// booleans, null, date and dateTime values, and the documented date literals
// (TODAY, LAST_N_DAYS:n, THIS_WEEK, ...; see dateliteral.go).
type Query struct {
	Fields  []string
	Object  string
	Where   *Cond // nil when there is no WHERE clause
	OrderBy []OrderItem
	Limit   int // -1 when absent
	Offset  int // 0 when absent
}

// OrderItem is one ORDER BY key.
type OrderItem struct {
	Field      string
	Desc       bool
	NullsFirst bool
}

// Cond is a node of the WHERE tree: a comparison when Op is set, otherwise
// And/Or over Kids or Not over Kids[0].
type Cond struct {
	Logic  string // "AND", "OR", "NOT" or "" for a comparison
	Kids   []*Cond
	Field  string
	Op     string // =, !=, <, <=, >, >=, IN, NOT IN, LIKE
	Values []Value

	like *regexp.Regexp // compiled LIKE pattern, set by compileQuery
}

// ValueKind is the kind of a SOQL literal.
type ValueKind int

// Literal kinds.
const (
	VString ValueKind = iota
	VNumber
	VBool
	VNull
	VDateTime
	VDate
	// VDateLiteral is a relative date range such as TODAY or LAST_N_DAYS:30:
	// S holds the upper-case name, N the number of the ":n" forms.
	VDateLiteral
)

// Value is a SOQL literal.
type Value struct {
	Kind ValueKind
	S    string
	N    float64
	B    bool
	T    time.Time

	// lo and hi bound a date literal's range [lo, hi) in the compared
	// field's representation; set when the query is compiled.
	lo, hi time.Time
}

// SOQLError is a query rejected with a Salesforce error code
// (MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE).
type SOQLError struct {
	Code string
	Msg  string

	at int // byte offset of the offending token plus one; 0 when unknown
}

func (e *SOQLError) Error() string { return e.Code + ": " + e.Msg }

func malformed(format string, a ...any) error {
	return &SOQLError{Code: "MALFORMED_QUERY", Msg: fmt.Sprintf(format, a...)}
}

// malformedAt is a MALFORMED_QUERY error located at byte offset pos.
func malformedAt(pos int, format string, a ...any) error {
	return &SOQLError{Code: "MALFORMED_QUERY", Msg: fmt.Sprintf(format, a...), at: pos + 1}
}

// Message renders the error as Salesforce does in the REST error body: for
// an error at a known place, the query line, a caret under the offending
// token, "ERROR at Row:r:Column:c" and the reason; otherwise the reason.
// See https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
// (MALFORMED_QUERY) and the examples in the SOQL and SOSL Reference.
func (e *SOQLError) Message(query string) string {
	if e.at <= 0 || e.at-1 > len(query) {
		return e.Msg
	}
	pos := e.at - 1
	start := strings.LastIndexByte(query[:pos], '\n') + 1
	end := len(query)
	if i := strings.IndexByte(query[pos:], '\n'); i >= 0 {
		end = pos + i
	}
	row := strings.Count(query[:pos], "\n") + 1
	col := utf8.RuneCountInString(query[start:pos]) + 1
	// Show at most 80 bytes either side of the caret.
	from, to := max(start, pos-80), min(end, pos+80)
	line := strings.ToValidUTF8(query[from:to], "\uFFFD")
	caret := strings.Repeat(" ", utf8.RuneCountInString(strings.ToValidUTF8(query[from:pos], "\uFFFD"))) + "^"
	return fmt.Sprintf("\n%s\n%s\nERROR at Row:%d:Column:%d\n%s", line, caret, row, col, e.Msg)
}

type tokKind int

const (
	tkEOF tokKind = iota
	tkIdent
	tkString
	tkLiteral // number or date/datetime, classified by the parser
	tkPunct
)

type token struct {
	kind tokKind
	text string
	pos  int
}

const maxQueryLen = 100000 // Salesforce's documented SOQL statement limit

func lex(q string) ([]token, error) {
	var out []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(q) {
				if q[j] == '\\' {
					if j+1 >= len(q) {
						break
					}
					switch q[j+1] {
					case 'n':
						b.WriteByte('\n')
					case 'r':
						b.WriteByte('\r')
					case 't':
						b.WriteByte('\t')
					case 'b':
						b.WriteByte('\b')
					case 'f':
						b.WriteByte('\f')
					case '"', '\'', '\\', '_', '%':
						if q[j+1] == '_' || q[j+1] == '%' {
							b.WriteByte('\\') // kept escaped for LIKE
						}
						b.WriteByte(q[j+1])
					default:
						return nil, malformedAt(j, "Invalid string literal '%s'. Illegal character sequence '\\%c' in string literal.", truncate(q[i:min(len(q), j+2)], 40), q[j+1])
					}
					j += 2
					continue
				}
				if q[j] == '\'' {
					closed = true
					break
				}
				b.WriteByte(q[j])
				j++
			}
			if !closed {
				return nil, malformedAt(i, "unexpected token: <EOF> (unterminated string literal)")
			}
			out = append(out, token{kind: tkString, text: b.String(), pos: i})
			i = j + 1
		case isIdentStart(c):
			j := i
			for j < len(q) && (isIdentStart(q[j]) || q[j] >= '0' && q[j] <= '9' || q[j] == '.') {
				j++
			}
			// A date literal with a number is one token: LAST_N_DAYS:30.
			if j < len(q) && q[j] == ':' {
				j++
				for j < len(q) && (isIdentStart(q[j]) || q[j] >= '0' && q[j] <= '9' || q[j] == '-' || q[j] == '+') {
					j++
				}
			}
			out = append(out, token{kind: tkIdent, text: q[i:j], pos: i})
			i = j
		case c == ':':
			return nil, malformedAt(i, "Bind variables only allowed in Apex code")
		case c >= '0' && c <= '9' || (c == '-' || c == '+') && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			j := i + 1
			for j < len(q) && (q[j] >= '0' && q[j] <= '9' || isIdentStart(q[j]) || q[j] == ':' || q[j] == '.' || q[j] == '+' || q[j] == '-') {
				j++
			}
			out = append(out, token{kind: tkLiteral, text: q[i:j], pos: i})
			i = j
		case c == '(' || c == ')' || c == ',' || c == '=':
			out = append(out, token{kind: tkPunct, text: string(c), pos: i})
			i++
		case c == '!' || c == '<' || c == '>':
			if i+1 < len(q) && (q[i+1] == '=' || c == '<' && q[i+1] == '>') {
				out = append(out, token{kind: tkPunct, text: q[i : i+2], pos: i})
				i += 2
			} else if c == '!' {
				return nil, malformedAt(i, "unexpected token: '!'")
			} else {
				out = append(out, token{kind: tkPunct, text: string(c), pos: i})
				i++
			}
		default:
			r, _ := utf8.DecodeRuneInString(q[i:])
			return nil, malformedAt(i, "unexpected token: '%s'", strings.ToValidUTF8(string(r), "\uFFFD"))
		}
	}
	out = append(out, token{kind: tkEOF, pos: len(q)})
	return out, nil
}

func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }

type parser struct {
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) isKW(kw string) bool {
	t := p.peek()
	return t.kind == tkIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) expectKW(kw string) error {
	if !p.isKW(kw) {
		return p.unexpected()
	}
	p.next()
	return nil
}

func (p *parser) unexpected() error {
	t := p.peek()
	if t.kind == tkEOF {
		return malformedAt(t.pos, "unexpected token: <EOF>")
	}
	if what := unsupportedClauses[strings.ToLower(t.text)]; t.kind == tkIdent && what != "" {
		return malformedAt(t.pos, "unexpected token: '%s' (%s is not supported by the syncgate Salesforce emulator)", truncate(t.text, 40), what)
	}
	return malformedAt(t.pos, "unexpected token: '%s'", truncate(t.text, 40))
}

var reserved = map[string]bool{"select": true, "from": true, "where": true, "and": true, "or": true, "not": true,
	"in": true, "order": true, "by": true, "limit": true, "asc": true, "desc": true, "nulls": true, "like": true,
	"null": true, "true": true, "false": true, "offset": true, "group": true, "having": true}

// unsupportedClauses are SOQL keywords Salesforce accepts and the emulator
// does not; an error naming them says so instead of a bare "unexpected token".
var unsupportedClauses = map[string]string{"group": "GROUP BY", "having": "HAVING", "with": "WITH",
	"using": "USING SCOPE", "for": "FOR VIEW, FOR REFERENCE and FOR UPDATE", "typeof": "TYPEOF",
	"includes": "INCLUDES", "excludes": "EXCLUDES", "above": "data category filtering", "below": "data category filtering",
	"at": "data category filtering"}

// maxOffset is Salesforce's documented OFFSET limit.
const maxOffset = 2000

func (p *parser) ident() (string, error) {
	t := p.peek()
	if t.kind != tkIdent || reserved[strings.ToLower(t.text)] {
		return "", p.unexpected()
	}
	p.next()
	return t.text, nil
}

// ParseSOQL parses the supported SOQL subset. It checks syntax only; field
// and object names are resolved against the org's schema by the caller.
func ParseSOQL(q string) (*Query, error) {
	if len(q) > maxQueryLen {
		return nil, malformed("Query is too long: a SOQL statement can have at most %d characters", maxQueryLen)
	}
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	out := &Query{Limit: -1}
	if err := p.expectKW("SELECT"); err != nil {
		return nil, err
	}
	for {
		if t := p.peek(); t.kind == tkPunct && t.text == "(" {
			return nil, malformedAt(t.pos, "unexpected token: '(' (relationship subqueries are not supported by the syncgate Salesforce emulator)")
		}
		f, err := p.ident()
		if err != nil {
			return nil, err
		}
		if t := p.peek(); t.kind == tkPunct && t.text == "(" {
			return nil, malformedAt(t.pos, "unexpected token: '(' (functions such as %s() are not supported by the syncgate Salesforce emulator)", truncate(f, 40))
		}
		out.Fields = append(out.Fields, f)
		if p.peek().kind == tkPunct && p.peek().text == "," {
			p.next()
			continue
		}
		break
	}
	if err := p.expectKW("FROM"); err != nil {
		return nil, err
	}
	if out.Object, err = p.ident(); err != nil {
		return nil, err
	}
	if p.isKW("WHERE") {
		p.next()
		if out.Where, err = p.orExpr(); err != nil {
			return nil, err
		}
	}
	if p.isKW("ORDER") {
		p.next()
		if err := p.expectKW("BY"); err != nil {
			return nil, err
		}
		for {
			f, err := p.ident()
			if err != nil {
				return nil, err
			}
			it := OrderItem{Field: f}
			if p.isKW("ASC") {
				p.next()
			} else if p.isKW("DESC") {
				p.next()
				it.Desc = true
			}
			it.NullsFirst = !it.Desc
			if p.isKW("NULLS") {
				p.next()
				switch {
				case p.isKW("FIRST"):
					it.NullsFirst = true
				case p.isKW("LAST"):
					it.NullsFirst = false
				default:
					return nil, p.unexpected()
				}
				p.next()
			}
			out.OrderBy = append(out.OrderBy, it)
			if p.peek().kind == tkPunct && p.peek().text == "," {
				p.next()
				continue
			}
			break
		}
	}
	if p.isKW("LIMIT") {
		p.next()
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tkLiteral || err != nil || n < 0 {
			return nil, malformedAt(t.pos, "unexpected token: '%s' (LIMIT takes a non-negative integer)", tokenText(t))
		}
		out.Limit = n
	}
	if p.isKW("OFFSET") {
		p.next()
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tkLiteral || err != nil || n < 0 {
			return nil, malformedAt(t.pos, "unexpected token: '%s' (OFFSET takes a non-negative integer)", tokenText(t))
		}
		if n > maxOffset {
			return nil, &SOQLError{Code: "NUMBER_OUTSIDE_VALID_RANGE", Msg: fmt.Sprintf("Maximum SOQL offset allowed is %d", maxOffset), at: t.pos + 1}
		}
		out.Offset = n
	}
	if p.peek().kind != tkEOF {
		return nil, p.unexpected()
	}
	return out, nil
}

const maxCondDepth = 64

func tokenText(t token) string {
	if t.kind == tkEOF {
		return "<EOF>"
	}
	return truncate(t.text, 40)
}

func (p *parser) orExpr() (*Cond, error) {
	l, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	if !p.isKW("OR") {
		return l, nil
	}
	c := &Cond{Logic: "OR", Kids: []*Cond{l}}
	for p.isKW("OR") {
		p.next()
		r, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		c.Kids = append(c.Kids, r)
	}
	return c, nil
}

func (p *parser) andExpr() (*Cond, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	if !p.isKW("AND") {
		return l, nil
	}
	c := &Cond{Logic: "AND", Kids: []*Cond{l}}
	for p.isKW("AND") {
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		c.Kids = append(c.Kids, r)
	}
	return c, nil
}

func (p *parser) unary() (*Cond, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxCondDepth {
		return nil, malformedAt(p.peek().pos, "WHERE clause is nested too deeply")
	}
	if p.isKW("NOT") {
		p.next()
		k, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Cond{Logic: "NOT", Kids: []*Cond{k}}, nil
	}
	if t := p.peek(); t.kind == tkPunct && t.text == "(" {
		p.next()
		c, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		if t := p.next(); t.kind != tkPunct || t.text != ")" {
			return nil, malformedAt(t.pos, "unexpected token: '%s' (expecting ')')", tokenText(t))
		}
		return c, nil
	}
	f, err := p.ident()
	if err != nil {
		return nil, err
	}
	c := &Cond{Field: f}
	t := p.peek()
	switch {
	case t.kind == tkPunct && (t.text == "=" || t.text == "!=" || t.text == "<>" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">="):
		p.next()
		c.Op = t.text
		if c.Op == "<>" {
			c.Op = "!="
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		c.Values = []Value{v}
	case p.isKW("LIKE"):
		p.next()
		c.Op = "LIKE"
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if v.Kind != VString {
			return nil, malformedAt(t.pos, "LIKE can only compare a field with a string literal")
		}
		c.Values = []Value{v}
	case p.isKW("IN") || p.isKW("NOT"):
		c.Op = "IN"
		if p.isKW("NOT") {
			p.next()
			c.Op = "NOT IN"
		}
		if err := p.expectKW("IN"); err != nil {
			return nil, err
		}
		if t := p.next(); t.kind != tkPunct || t.text != "(" {
			return nil, malformedAt(t.pos, "unexpected token: '%s' (expecting '(')", tokenText(t))
		}
		for {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			c.Values = append(c.Values, v)
			t := p.next()
			if t.kind == tkPunct && t.text == "," {
				continue
			}
			if t.kind == tkPunct && t.text == ")" {
				break
			}
			return nil, malformedAt(t.pos, "unexpected token: '%s' (expecting ',' or ')')", tokenText(t))
		}
	default:
		return nil, p.unexpected()
	}
	return c, nil
}

func (p *parser) value() (Value, error) {
	t := p.peek()
	if t.kind == tkString || t.kind == tkIdent || t.kind == tkLiteral {
		p.next()
	}
	switch t.kind {
	case tkString:
		return Value{Kind: VString, S: t.text}, nil
	case tkIdent:
		switch strings.ToLower(t.text) {
		case "null":
			return Value{Kind: VNull}, nil
		case "true":
			return Value{Kind: VBool, B: true}, nil
		case "false":
			return Value{Kind: VBool, B: false}, nil
		}
		return parseDateLiteral(t)
	case tkLiteral:
		if len(t.text) >= 10 && t.text[4] == '-' {
			if len(t.text) == 10 {
				d, err := time.Parse("2006-01-02", t.text)
				if err != nil {
					return Value{}, malformedAt(t.pos, "Invalid date: %s", truncate(t.text, 40))
				}
				return Value{Kind: VDate, T: d}, nil
			}
			for _, l := range []string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05.000Z0700"} {
				if d, err := time.Parse(l, t.text); err == nil {
					return Value{Kind: VDateTime, T: d.UTC()}, nil
				}
			}
			return Value{}, malformedAt(t.pos, "Invalid datetime: %s", truncate(t.text, 40))
		}
		n, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return Value{}, malformedAt(t.pos, "unexpected token: '%s'", truncate(t.text, 40))
		}
		return Value{Kind: VNumber, N: n}, nil
	}
	return Value{}, p.unexpected()
}
