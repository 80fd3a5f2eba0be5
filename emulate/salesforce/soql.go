package salesforce

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Query is a parsed SOQL statement in the subset the emulator supports:
//
//	SELECT f1, f2 FROM Object [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n]
//
// where cond combines comparisons (=, !=, <>, <, <=, >, >=, [NOT] IN (...),
// LIKE) with AND, OR, NOT and parentheses.
type Query struct {
	Fields  []string
	Object  string
	Where   *Cond // nil when there is no WHERE clause
	OrderBy []OrderItem
	Limit   int // -1 when absent
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
)

// Value is a SOQL literal.
type Value struct {
	Kind ValueKind
	S    string
	N    float64
	B    bool
	T    time.Time
}

// SOQLError is a query rejected with a Salesforce error code
// (MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE).
type SOQLError struct {
	Code string
	Msg  string
}

func (e *SOQLError) Error() string { return e.Code + ": " + e.Msg }

func malformed(format string, a ...any) error {
	return &SOQLError{Code: "MALFORMED_QUERY", Msg: fmt.Sprintf(format, a...)}
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
						return nil, malformed("Invalid string literal escape at position %d", j)
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
				return nil, malformed("unterminated string literal at position %d", i)
			}
			out = append(out, token{kind: tkString, text: b.String(), pos: i})
			i = j + 1
		case isIdentStart(c):
			j := i
			for j < len(q) && (isIdentStart(q[j]) || q[j] >= '0' && q[j] <= '9' || q[j] == '.') {
				j++
			}
			out = append(out, token{kind: tkIdent, text: q[i:j], pos: i})
			i = j
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
				return nil, malformed("unexpected token '!' at position %d", i)
			} else {
				out = append(out, token{kind: tkPunct, text: string(c), pos: i})
				i++
			}
		default:
			return nil, malformed("unexpected character at position %d", i)
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
		return malformed("unexpected end of query")
	}
	return malformed("unexpected token: '%s' at position %d", truncate(t.text, 40), t.pos)
}

var reserved = map[string]bool{"select": true, "from": true, "where": true, "and": true, "or": true, "not": true,
	"in": true, "order": true, "by": true, "limit": true, "asc": true, "desc": true, "nulls": true, "like": true,
	"null": true, "true": true, "false": true, "offset": true, "group": true, "having": true}

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
		return nil, malformed("query is too long")
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
		f, err := p.ident()
		if err != nil {
			return nil, err
		}
		if p.peek().kind == tkPunct && p.peek().text == "(" {
			return nil, malformed("aggregate and function calls are not supported: %s()", truncate(f, 40))
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
			return nil, malformed("LIMIT must be a non-negative integer")
		}
		out.Limit = n
	}
	if p.peek().kind != tkEOF {
		return nil, p.unexpected()
	}
	return out, nil
}

const maxCondDepth = 64

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
		return nil, malformed("WHERE clause is nested too deeply")
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
			return nil, malformed("expected ')' at position %d", t.pos)
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
			return nil, malformed("LIKE needs a string literal")
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
			return nil, malformed("expected '(' after IN at position %d", t.pos)
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
			return nil, malformed("expected ',' or ')' at position %d", t.pos)
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
		return Value{}, malformed("unsupported literal '%s' at position %d", truncate(t.text, 40), t.pos)
	case tkLiteral:
		if len(t.text) >= 10 && t.text[4] == '-' {
			if len(t.text) == 10 {
				d, err := time.Parse("2006-01-02", t.text)
				if err != nil {
					return Value{}, malformed("invalid date literal at position %d", t.pos)
				}
				return Value{Kind: VDate, T: d}, nil
			}
			for _, l := range []string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05.000Z0700"} {
				if d, err := time.Parse(l, t.text); err == nil {
					return Value{Kind: VDateTime, T: d.UTC()}, nil
				}
			}
			return Value{}, malformed("invalid dateTime literal at position %d", t.pos)
		}
		n, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return Value{}, malformed("invalid number literal at position %d", t.pos)
		}
		return Value{Kind: VNumber, N: n}, nil
	}
	return Value{}, p.unexpected()
}
