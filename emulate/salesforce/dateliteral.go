package salesforce

import (
	"strconv"
	"strings"
	"time"
)

// SOQL date literals, as documented in "Date Formats and Date Literals in
// WHERE" (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm).
// Each literal names a range of whole days [start, end) counted from today
// in the org's time zone (Options.TimeZone, UTC by default). The week starts
// on Sunday (the en_US locale), and the fiscal year is the calendar year
// (the default fiscal year, which starts in January), so the FISCAL literals
// equal their calendar counterparts.
//
// Against a field, "=" matches values inside the range, "!=" values outside
// it, "<" values before its start, "<=" values before its end, ">" values at
// or after its end and ">=" values at or after its start.

type dateUnit int

const (
	unitDay dateUnit = iota
	unitWeek
	unitMonth
	unitQuarter
	unitYear
)

// rel is a literal's range in units of its period relative to the current
// one: [from, to) periods, e.g. LAST_WEEK is {unitWeek, -1, 0}.
type rel struct {
	unit     dateUnit
	from, to int
}

// fixedLiterals take no number.
var fixedLiterals = map[string]rel{
	"YESTERDAY": {unitDay, -1, 0}, "TODAY": {unitDay, 0, 1}, "TOMORROW": {unitDay, 1, 2},
	"LAST_WEEK": {unitWeek, -1, 0}, "THIS_WEEK": {unitWeek, 0, 1}, "NEXT_WEEK": {unitWeek, 1, 2},
	"LAST_MONTH": {unitMonth, -1, 0}, "THIS_MONTH": {unitMonth, 0, 1}, "NEXT_MONTH": {unitMonth, 1, 2},
	// LAST_90_DAYS includes today (91 days); NEXT_90_DAYS starts tomorrow.
	"LAST_90_DAYS": {unitDay, -90, 1}, "NEXT_90_DAYS": {unitDay, 1, 91},
	"LAST_QUARTER": {unitQuarter, -1, 0}, "THIS_QUARTER": {unitQuarter, 0, 1}, "NEXT_QUARTER": {unitQuarter, 1, 2},
	"LAST_YEAR": {unitYear, -1, 0}, "THIS_YEAR": {unitYear, 0, 1}, "NEXT_YEAR": {unitYear, 1, 2},
	"LAST_FISCAL_QUARTER": {unitQuarter, -1, 0}, "THIS_FISCAL_QUARTER": {unitQuarter, 0, 1}, "NEXT_FISCAL_QUARTER": {unitQuarter, 1, 2},
	"LAST_FISCAL_YEAR": {unitYear, -1, 0}, "THIS_FISCAL_YEAR": {unitYear, 0, 1}, "NEXT_FISCAL_YEAR": {unitYear, 1, 2},
}

// nLiteral is a literal written NAME:n.
type nLiteral struct {
	unit dateUnit
	kind int // nLast, nNext or nAgo
}

const (
	nLast = iota // the n periods before the current one (LAST_N_DAYS also includes today)
	nNext        // the n periods after the current one
	nAgo         // the one period n periods before the current one
)

var nLiterals = map[string]nLiteral{
	"LAST_N_DAYS": {unitDay, nLast}, "NEXT_N_DAYS": {unitDay, nNext}, "N_DAYS_AGO": {unitDay, nAgo},
	"LAST_N_WEEKS": {unitWeek, nLast}, "NEXT_N_WEEKS": {unitWeek, nNext}, "N_WEEKS_AGO": {unitWeek, nAgo},
	"LAST_N_MONTHS": {unitMonth, nLast}, "NEXT_N_MONTHS": {unitMonth, nNext}, "N_MONTHS_AGO": {unitMonth, nAgo},
	"LAST_N_QUARTERS": {unitQuarter, nLast}, "NEXT_N_QUARTERS": {unitQuarter, nNext}, "N_QUARTERS_AGO": {unitQuarter, nAgo},
	"LAST_N_YEARS": {unitYear, nLast}, "NEXT_N_YEARS": {unitYear, nNext}, "N_YEARS_AGO": {unitYear, nAgo},
	"LAST_N_FISCAL_QUARTERS": {unitQuarter, nLast}, "NEXT_N_FISCAL_QUARTERS": {unitQuarter, nNext}, "N_FISCAL_QUARTERS_AGO": {unitQuarter, nAgo},
	"LAST_N_FISCAL_YEARS": {unitYear, nLast}, "NEXT_N_FISCAL_YEARS": {unitYear, nNext}, "N_FISCAL_YEARS_AGO": {unitYear, nAgo},
}

// maxLiteralN bounds the n of NAME:n so that every range stays a valid time.
const maxLiteralN = 100000

// parseDateLiteral turns an identifier in value position into a date
// literal, or answers Salesforce's MALFORMED_QUERY for anything else.
func parseDateLiteral(t token) (Value, error) {
	name, arg, hasArg := strings.Cut(t.text, ":")
	up := strings.ToUpper(name)
	if _, ok := fixedLiterals[up]; ok {
		if hasArg {
			return Value{}, malformedAt(t.pos, "unexpected token: '%s' (the date literal %s takes no number)", truncate(t.text, 40), up)
		}
		return Value{Kind: VDateLiteral, S: up}, nil
	}
	if _, ok := nLiterals[up]; ok {
		if !hasArg {
			return Value{}, malformedAt(t.pos, "unexpected token: '%s' (the date literal %s needs a number, as in %s:7)", truncate(t.text, 40), up, up)
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 || n > maxLiteralN || arg != strconv.Itoa(n) {
			return Value{}, malformedAt(t.pos+len(name)+1, "unexpected token: '%s' (%s takes a whole number from 0 to %d)", truncate(arg, 40), up, maxLiteralN)
		}
		return Value{Kind: VDateLiteral, S: up, N: float64(n)}, nil
	}
	if hasArg {
		return Value{}, malformedAt(t.pos, "unexpected token: '%s' (no such date literal)", truncate(t.text, 40))
	}
	return Value{}, malformedAt(t.pos, "unexpected token: '%s'", truncate(t.text, 40))
}

// dateLiteralDays returns the literal's range as the first day and the day
// after the last, at midnight in loc, for "now" in loc.
func dateLiteralDays(v Value, now time.Time, loc *time.Location) (time.Time, time.Time) {
	var r rel
	if f, ok := fixedLiterals[v.S]; ok {
		r = f
	} else {
		nl := nLiterals[v.S]
		n := int(v.N)
		r.unit = nl.unit
		switch {
		case nl.kind == nLast && nl.unit == unitDay:
			r.from, r.to = -n, 1 // LAST_N_DAYS:n includes today
		case nl.kind == nLast:
			r.from, r.to = -n, 0
		case nl.kind == nNext:
			r.from, r.to = 1, 1+n
		default:
			r.from, r.to = -n, -n+1
		}
	}
	now = now.In(loc)
	y, m, d := now.Date()
	var base time.Time // first day of the current period
	switch r.unit {
	case unitDay:
		base = time.Date(y, m, d, 0, 0, 0, 0, loc)
	case unitWeek:
		off := int(now.Weekday()-time.Sunday+7) % 7
		base = time.Date(y, m, d-off, 0, 0, 0, 0, loc)
	case unitMonth:
		base = time.Date(y, m, 1, 0, 0, 0, 0, loc)
	case unitQuarter:
		base = time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, loc)
	default:
		base = time.Date(y, time.January, 1, 0, 0, 0, 0, loc)
	}
	shift := func(k int) time.Time {
		by, bm, bd := base.Date()
		switch r.unit {
		case unitDay:
			return time.Date(by, bm, bd+k, 0, 0, 0, 0, loc)
		case unitWeek:
			return time.Date(by, bm, bd+7*k, 0, 0, 0, 0, loc)
		case unitMonth:
			return time.Date(by, bm+time.Month(k), 1, 0, 0, 0, 0, loc)
		case unitQuarter:
			return time.Date(by, bm+time.Month(3*k), 1, 0, 0, 0, 0, loc)
		}
		return time.Date(by+k, time.January, 1, 0, 0, 0, 0, loc)
	}
	return shift(r.from), shift(r.to)
}

// bindDateLiteral sets v's bounds for comparison with a field of type typ:
// instants for dateTime fields, UTC-midnight dates for date fields (the
// emulator stores dates that way).
func bindDateLiteral(v *Value, typ fieldType, now time.Time, loc *time.Location) {
	lo, hi := dateLiteralDays(*v, now, loc)
	if typ == tDate {
		ly, lm, ld := lo.Date()
		hy, hm, hd := hi.Date()
		v.lo, v.hi = time.Date(ly, lm, ld, 0, 0, 0, 0, time.UTC), time.Date(hy, hm, hd, 0, 0, 0, 0, time.UTC)
		return
	}
	v.lo, v.hi = lo.UTC(), hi.UTC()
}

// matchDateLiteral applies op between a stored date or dateTime and a bound
// date literal.
func matchDateLiteral(op string, t time.Time, v Value) bool {
	in := !t.Before(v.lo) && t.Before(v.hi)
	switch op {
	case "=", "IN":
		return in
	case "!=", "NOT IN":
		return !in
	case "<":
		return t.Before(v.lo)
	case "<=":
		return t.Before(v.hi)
	case ">":
		return !t.Before(v.hi)
	case ">=":
		return !t.Before(v.lo)
	}
	return false
}
