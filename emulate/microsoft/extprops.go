package microsoft

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Single-value extended properties (singleValueLegacyExtendedProperty) on
// contacts and events, as documented in
// https://learn.microsoft.com/graph/api/resources/extended-properties-overview,
// https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-post-singlevalueextendedproperties
// and https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get:
//
//   - created with the item (POST) or added to it (PATCH) through a
//     singleValueExtendedProperties collection of {id, value};
//   - never returned by a create, update, list, get or delta unless asked
//     for with $expand=singleValueExtendedProperties($filter=id eq '…')
//     (several ids joined with "or"; without a filter every property);
//   - lists of contacts and events filter on them with
//     $filter=singleValueExtendedProperties/Any(ep: ep/id eq '…' and
//     ep/value eq '…') (also ne, contains(ep/value,'…'),
//     startswith(ep/value,'…'), or the id alone).
//
// Ids take the three documented forms ("{type} {guid} Name {name}",
// "{type} {guid} Id {0x…}", "{type} {0x proptag}"); the type and GUID
// compare case-insensitively, the name case-sensitively, and values
// compare case-insensitively, as the get page says. A malformed id answers
// 400 ErrorInvalidExtendedProperty, the code Graph returns for an invalid
// id (microsoftgraph/microsoft-graph-docs#2251).

const extPropsKey = "singleValueExtendedProperties"

var errInvalidExtID = errors.New("invalid extended property id")

// extValue is one stored property: the id as the client wrote it, its value.
type extValue struct {
	id    string
	value string
}

// maxExtProps bounds the properties one item may carry here.
const maxExtProps = 64

var extTypes = map[string]bool{
	"binary": true, "boolean": true, "clsid": true, "currency": true, "double": true, "float": true,
	"integer": true, "long": true, "object": true, "short": true, "string": true, "systemtime": true,
}

func errBadExtProp() *apiError {
	return errBadRequest("ErrorInvalidExtendedProperty", "The extended property attribute combination is invalid.")
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func isGUID(s string) bool {
	if len(s) != 38 || s[0] != '{' || s[37] != '}' {
		return false
	}
	parts := strings.Split(s[1:37], "-")
	if len(parts) != 5 {
		return false
	}
	for i, n := range []int{8, 4, 4, 4, 12} {
		if len(parts[i]) != n || !isHex(parts[i]) {
			return false
		}
	}
	return true
}

// canonExtID returns the comparable form of a property id, or false when it
// is not one of the documented forms.
func canonExtID(id string) (string, bool) {
	id = strings.TrimSpace(id)
	if len(id) > 512 {
		return "", false
	}
	typ, rest, ok := strings.Cut(id, " ")
	if !ok || !extTypes[strings.ToLower(typ)] {
		return "", false
	}
	typ = strings.ToLower(typ)
	rest = strings.TrimLeft(rest, " ")
	if strings.HasPrefix(rest, "{") {
		guid, tail, ok := strings.Cut(rest, " ")
		if !ok || !isGUID(guid) {
			return "", false
		}
		kw, val, ok := strings.Cut(strings.TrimLeft(tail, " "), " ")
		if !ok || val == "" {
			return "", false
		}
		switch strings.ToLower(kw) {
		case "name":
			return typ + " " + strings.ToLower(guid) + " name " + val, true
		case "id":
			if !(strings.HasPrefix(val, "0x") || strings.HasPrefix(val, "0X")) || len(val) > 6 || !isHex(val[2:]) {
				return "", false
			}
			return typ + " " + strings.ToLower(guid) + " id " + strings.ToLower(val), true
		}
		return "", false
	}
	if (strings.HasPrefix(rest, "0x") || strings.HasPrefix(rest, "0X")) && len(rest) == 10 && isHex(rest[2:]) {
		return typ + " " + strings.ToLower(rest), true
	}
	return "", false
}

// takeExtProps removes singleValueExtendedProperties from a request body
// and returns them by canonical id.
func takeExtProps(body map[string]any) (map[string]extValue, *apiError) {
	v, ok := body[extPropsKey]
	if !ok {
		return nil, nil
	}
	delete(body, extPropsKey)
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errBadRequest("RequestBodyRead", "Cannot convert the value of property '"+extPropsKey+"' to a collection of 'microsoft.graph.singleValueLegacyExtendedProperty'.")
	}
	if len(list) > maxExtProps {
		return nil, errBadRequest("ErrorInvalidRequest", fmt.Sprintf("At most %d extended properties per item are emulated.", maxExtProps))
	}
	out := map[string]extValue{}
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, errBadExtProp()
		}
		for k := range m {
			if k != "id" && k != "value" && !strings.HasPrefix(k, "@") {
				return nil, errBadRequest("RequestBodyRead", fmt.Sprintf("The property '%s' does not exist on type 'microsoft.graph.singleValueLegacyExtendedProperty'.", truncate(k, 64)))
			}
		}
		id, _ := m["id"].(string)
		val, isStr := m["value"].(string)
		canon, ok := canonExtID(id)
		if !ok || !isStr {
			return nil, errBadExtProp()
		}
		out[canon] = extValue{id: strings.TrimSpace(id), value: val}
	}
	return out, nil
}

// setExtProps stores properties on an item (added or replaced by id).
func (it *item) setExtProps(p map[string]extValue) {
	if it == nil || len(p) == 0 {
		return
	}
	if it.ext == nil {
		it.ext = map[string]extValue{}
	}
	for k, v := range p {
		it.ext[k] = v
	}
}

// extFilter is a parsed singleValueExtendedProperties/Any(...) filter.
type extFilter struct {
	id    string // canonical
	op    string // "" (id only), eq, ne, contains, startswith
	value string
}

func (f *extFilter) match(it *item) bool {
	v, ok := it.ext[f.id]
	if !ok {
		return false
	}
	a, b := strings.ToLower(v.value), strings.ToLower(f.value)
	switch f.op {
	case "":
		return true
	case "eq":
		return a == b
	case "ne":
		return a != b
	case "contains":
		return strings.Contains(a, b)
	case "startswith":
		return strings.HasPrefix(a, b)
	}
	return false
}

// extQuery is what a request asks about extended properties.
type extQuery struct {
	filter *extFilter
	expand bool
	ids    map[string]bool // canonical ids to expand; nil = all
}

// parseExtQuery reads $expand and, on lists, $filter. Any other $expand or
// $filter is refused with 400 rather than ignored: an ignored filter would
// return every item as a match.
func parseExtQuery(q url.Values, list bool) (*extQuery, *apiError) {
	x := &extQuery{}
	if v := strings.TrimSpace(q.Get("$expand")); v != "" {
		ids, all, err := parseExtExpand(v)
		if errors.Is(err, errInvalidExtID) {
			return nil, errBadExtProp()
		}
		if err != nil {
			return nil, errBadRequest("BadRequest", "Parsing OData Select and Expand failed: "+err.Error())
		}
		x.expand = true
		if !all {
			x.ids = ids
		}
	}
	if v := strings.TrimSpace(q.Get("$filter")); v != "" && list {
		f, err := parseExtFilter(v)
		if errors.Is(err, errInvalidExtID) {
			return nil, errBadExtProp()
		}
		if err != nil {
			return nil, errBadRequest("BadRequest", "Invalid filter clause: "+err.Error())
		}
		x.filter = f
	}
	return x, nil
}

// keep returns the items the filter selects.
func (x *extQuery) keep(items []*item) []*item {
	if x.filter == nil {
		return items
	}
	var out []*item
	for _, it := range items {
		if x.filter.match(it) {
			out = append(out, it)
		}
	}
	return out
}

// render adds the expanded properties of it to its rendering m; when none
// match, the collection is left out.
func (x *extQuery) render(it *item, m map[string]any) map[string]any {
	if !x.expand || it == nil || len(it.ext) == 0 {
		return m
	}
	var keys []string
	for k := range it.ext {
		if x.ids == nil || x.ids[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return m
	}
	sort.Strings(keys)
	list := make([]any, 0, len(keys))
	for _, k := range keys {
		list = append(list, map[string]any{"id": it.ext[k].id, "value": it.ext[k].value})
	}
	out := copyMap(m)
	out[extPropsKey] = list
	return out
}

// odataParser is a tiny cursor over an OData expression.
type odataParser struct {
	s   string
	pos int
}

func (p *odataParser) ws() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

func (p *odataParser) done() bool { p.ws(); return p.pos == len(p.s) }

// tryLit consumes lit (case-insensitively) after white space.
func (p *odataParser) tryLit(lit string) bool {
	p.ws()
	if len(p.s)-p.pos >= len(lit) && strings.EqualFold(p.s[p.pos:p.pos+len(lit)], lit) {
		p.pos += len(lit)
		return true
	}
	return false
}

func (p *odataParser) lit(lit string) error {
	if !p.tryLit(lit) {
		return fmt.Errorf("expected '%s' at position %d", lit, p.pos)
	}
	return nil
}

// word consumes an identifier.
func (p *odataParser) word() string {
	p.ws()
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			break
		}
		p.pos++
	}
	return p.s[start:p.pos]
}

// str consumes a single-quoted literal; a doubled quote stands for one.
func (p *odataParser) str() (string, error) {
	p.ws()
	if p.pos >= len(p.s) || p.s[p.pos] != '\'' {
		return "", fmt.Errorf("expected a string literal at position %d", p.pos)
	}
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		if c == '\'' {
			if p.pos < len(p.s) && p.s[p.pos] == '\'' {
				b.WriteByte('\'')
				p.pos++
				continue
			}
			return b.String(), nil
		}
		b.WriteByte(c)
	}
	return "", fmt.Errorf("unterminated string literal")
}

// path consumes v/prop.
func (p *odataParser) path(v, prop string) error {
	if w := p.word(); !strings.EqualFold(w, v) {
		return fmt.Errorf("expected '%s/%s' at position %d", v, prop, p.pos)
	}
	if err := p.lit("/"); err != nil {
		return err
	}
	if w := p.word(); !strings.EqualFold(w, prop) {
		return fmt.Errorf("expected '%s/%s' at position %d", v, prop, p.pos)
	}
	return nil
}

// parseExtFilter parses
// singleValueExtendedProperties/Any(v: v/id eq 'ID' [and (v/value (eq|ne) 'X' | contains(v/value,'X') | startswith(v/value,'X'))]).
func parseExtFilter(s string) (*extFilter, error) {
	if len(s) > 2048 {
		return nil, fmt.Errorf("$filter is too long")
	}
	p := &odataParser{s: s}
	if !p.tryLit(extPropsKey) {
		return nil, fmt.Errorf("the emulator supports only %s/Any(...) filters on this collection", extPropsKey)
	}
	if err := p.lit("/"); err != nil {
		return nil, err
	}
	if !strings.EqualFold(p.word(), "any") {
		return nil, fmt.Errorf("expected 'any' at position %d", p.pos)
	}
	if err := p.lit("("); err != nil {
		return nil, err
	}
	v := p.word()
	if v == "" {
		return nil, fmt.Errorf("expected a range variable at position %d", p.pos)
	}
	if err := p.lit(":"); err != nil {
		return nil, err
	}
	if err := p.path(v, "id"); err != nil {
		return nil, err
	}
	if !strings.EqualFold(p.word(), "eq") {
		return nil, fmt.Errorf("expected 'eq' after %s/id", v)
	}
	id, err := p.str()
	if err != nil {
		return nil, err
	}
	canon, ok := canonExtID(id)
	if !ok {
		return nil, errInvalidExtID
	}
	f := &extFilter{id: canon}
	if !p.tryLit(")") {
		if !strings.EqualFold(p.word(), "and") {
			return nil, fmt.Errorf("expected 'and' or ')' at position %d", p.pos)
		}
		save := p.pos
		switch fn := strings.ToLower(p.word()); fn {
		case "contains", "startswith":
			if err := p.lit("("); err != nil {
				return nil, err
			}
			if err := p.path(v, "value"); err != nil {
				return nil, err
			}
			if err := p.lit(","); err != nil {
				return nil, err
			}
			if f.value, err = p.str(); err != nil {
				return nil, err
			}
			if err := p.lit(")"); err != nil {
				return nil, err
			}
			f.op = fn
		default:
			p.pos = save
			if err := p.path(v, "value"); err != nil {
				return nil, err
			}
			op := strings.ToLower(p.word())
			if op != "eq" && op != "ne" {
				return nil, fmt.Errorf("the emulator supports eq, ne, contains and startswith on %s/value", v)
			}
			if f.value, err = p.str(); err != nil {
				return nil, err
			}
			f.op = op
		}
		if err := p.lit(")"); err != nil {
			return nil, err
		}
	}
	if !p.done() {
		return nil, fmt.Errorf("unexpected text at position %d", p.pos)
	}
	return f, nil
}

// parseExtExpand parses singleValueExtendedProperties[($filter=id eq 'A' [or id eq 'B' ...])].
func parseExtExpand(s string) (ids map[string]bool, all bool, err error) {
	if len(s) > 2048 {
		return nil, false, fmt.Errorf("$expand is too long")
	}
	p := &odataParser{s: s}
	if !p.tryLit(extPropsKey) {
		name, _, _ := strings.Cut(strings.TrimSpace(s), "(")
		return nil, false, fmt.Errorf("Could not find a property named '%s' the emulator can expand; it expands %s only.", truncate(name, 64), extPropsKey)
	}
	if p.done() {
		return nil, true, nil
	}
	if err := p.lit("("); err != nil {
		return nil, false, err
	}
	if err := p.lit("$filter"); err != nil {
		return nil, false, err
	}
	if err := p.lit("="); err != nil {
		return nil, false, err
	}
	ids = map[string]bool{}
	for {
		if !strings.EqualFold(p.word(), "id") {
			return nil, false, fmt.Errorf("expected 'id eq' at position %d", p.pos)
		}
		if !strings.EqualFold(p.word(), "eq") {
			return nil, false, fmt.Errorf("expected 'eq' at position %d", p.pos)
		}
		id, err := p.str()
		if err != nil {
			return nil, false, err
		}
		canon, ok := canonExtID(id)
		if !ok {
			return nil, false, errInvalidExtID
		}
		ids[canon] = true
		save := p.pos
		if strings.EqualFold(p.word(), "or") {
			continue
		}
		p.pos = save
		break
	}
	if err := p.lit(")"); err != nil {
		return nil, false, err
	}
	if !p.done() {
		return nil, false, fmt.Errorf("unexpected text at position %d", p.pos)
	}
	return ids, false, nil
}
