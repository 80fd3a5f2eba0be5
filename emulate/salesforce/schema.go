package salesforce

import (
	"fmt"
	"math"
	"strings"
	"time"
)

type fieldType int

const (
	tString fieldType = iota
	tID
	tBool
	tInt
	tDateTime
	tDate
)

type field struct {
	name     string
	typ      fieldType
	system   bool // not writable through the API
	required bool
}

type schema struct {
	name   string
	prefix string // key prefix of record ids
	fields map[string]*field
}

func (sc *schema) field(name string) (*field, bool) {
	f, ok := sc.fields[strings.ToLower(name)]
	return f, ok
}

var systemFields = []*field{
	{name: "Id", typ: tID, system: true},
	{name: "IsDeleted", typ: tBool, system: true},
	{name: "CreatedDate", typ: tDateTime, system: true},
	{name: "CreatedById", typ: tID, system: true},
	{name: "LastModifiedDate", typ: tDateTime, system: true},
	{name: "LastModifiedById", typ: tID, system: true},
	{name: "SystemModstamp", typ: tDateTime, system: true},
}

func mkSchema(name, prefix string, fs ...*field) *schema {
	sc := &schema{name: name, prefix: prefix, fields: map[string]*field{}}
	for _, f := range append(append([]*field{}, systemFields...), fs...) {
		sc.fields[strings.ToLower(f.name)] = f
	}
	return sc
}

func str(n string) *field      { return &field{name: n, typ: tString} }
func req(n string) *field      { return &field{name: n, typ: tString, required: true} }
func ref(n string) *field      { return &field{name: n, typ: tID} }
func boolean(n string) *field  { return &field{name: n, typ: tBool} }
func readonly(f *field) *field { f.system = true; return f }

// schemas holds the objects and fields the sync engine touches; anything else
// is INVALID_FIELD, as on an org without that customisation.
var schemas = map[string]*schema{
	"contact": mkSchema("Contact", "003",
		str("FirstName"), req("LastName"), readonly(str("Name")), str("Salutation"), str("Email"), str("Phone"),
		str("MobilePhone"), str("HomePhone"), str("Title"), str("Department"), ref("AccountId"), ref("OwnerId"),
		str("MailingStreet"), str("MailingCity"), str("MailingState"), str("MailingPostalCode"),
		str("MailingCountry"), str("Description"), str("Syncgate_Id__c")),
	"lead": mkSchema("Lead", "00Q",
		str("FirstName"), req("LastName"), readonly(str("Name")), req("Company"), str("Email"), str("Phone"),
		str("MobilePhone"), str("Title"), str("Status"), ref("OwnerId"), str("Street"), str("City"), str("State"),
		str("PostalCode"), str("Country"), readonly(boolean("IsConverted")), str("Description"), str("Syncgate_Id__c")),
	"account": mkSchema("Account", "001",
		req("Name"), str("Phone"), str("Website"), str("Industry"), str("BillingCity"), str("BillingCountry"),
		ref("OwnerId"), str("Description"), str("Syncgate_Id__c")),
	"event": mkSchema("Event", "00U",
		str("Subject"), &field{name: "StartDateTime", typ: tDateTime}, &field{name: "EndDateTime", typ: tDateTime},
		&field{name: "ActivityDateTime", typ: tDateTime}, &field{name: "ActivityDate", typ: tDate},
		&field{name: "DurationInMinutes", typ: tInt}, boolean("IsAllDayEvent"), str("Location"), str("Description"),
		ref("WhoId"), ref("WhatId"), ref("OwnerId"), str("ShowAs"), boolean("IsPrivate"),
		readonly(boolean("IsRecurrence")), str("Syncgate_Id__c"),
		// Lightning event series (recurrence.go).
		boolean("IsRecurrence2"), str("Recurrence2PatternText"), str("Recurrence2PatternVersion"),
		str("Recurrence2PatternTimeZone"), readonly(&field{name: "Recurrence2PatternStartDate", typ: tDateTime}),
		readonly(ref("RecurrenceActivityId")), readonly(boolean("IsRecurrence2Exception")),
		readonly(boolean("IsRecurrence2Exclusion"))),
	"eventrelation": mkSchema("EventRelation", "0RE",
		&field{name: "EventId", typ: tID, required: true}, &field{name: "RelationId", typ: tID, required: true},
		boolean("IsParent"), boolean("IsInvitee"), boolean("IsWhat"), str("Status"), str("Response"),
		&field{name: "RespondedDate", typ: tDateTime}),
}

func schemaFor(obj string) (*schema, bool) {
	sc, ok := schemas[strings.ToLower(obj)]
	return sc, ok
}

// Salesforce's wire format for dateTime values.
const sfTimeLayout = "2006-01-02T15:04:05.000-0700"

func formatTime(t time.Time) string { return t.UTC().Format(sfTimeLayout) }

// parseDateTime accepts the ISO 8601 forms Salesforce accepts on input.
func parseDateTime(v string) (time.Time, error) {
	for _, l := range []string{sfTimeLayout, "2006-01-02T15:04:05.000Z07:00", time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05Z0700"} {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid dateTime %q", truncate(v, 40))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// coerce converts a decoded JSON value to the field's stored Go type.
func coerce(f *field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch f.typ {
	case tString, tID:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("Cannot deserialize instance of string from %s value for field %s", jsonKind(v), f.name)
		}
		if f.typ == tID && s != "" {
			id, ok := normalizeID(s)
			if !ok {
				return nil, fmt.Errorf("invalid id %q for field %s", truncate(s, 20), f.name)
			}
			return id, nil
		}
		return s, nil
	case tBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("Cannot deserialize instance of boolean from %s value for field %s", jsonKind(v), f.name)
		}
		return b, nil
	case tInt:
		n, ok := v.(float64)
		if !ok || n != math.Trunc(n) || math.Abs(n) > 1<<31 {
			return nil, fmt.Errorf("Cannot deserialize instance of int from %s value for field %s", jsonKind(v), f.name)
		}
		return int(n), nil
	case tDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("Cannot deserialize instance of datetime from %s value for field %s", jsonKind(v), f.name)
		}
		return parseDateTime(s)
	case tDate:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("Cannot deserialize instance of date from %s value for field %s", jsonKind(v), f.name)
		}
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return nil, fmt.Errorf("invalid date %q for field %s", truncate(s, 20), f.name)
		}
		return t, nil
	}
	return nil, fmt.Errorf("unsupported field %s", f.name)
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "VALUE_STRING"
	case bool:
		return "VALUE_BOOLEAN"
	case float64:
		return "VALUE_NUMBER"
	case map[string]any:
		return "START_OBJECT"
	case []any:
		return "START_ARRAY"
	}
	return "VALUE_NULL"
}

// render converts a stored value to its JSON wire form.
func render(f *field, v any) any {
	switch x := v.(type) {
	case time.Time:
		if f.typ == tDate {
			return x.Format("2006-01-02")
		}
		return formatTime(x)
	}
	return v
}

// Record ids: 15 case-sensitive characters plus a 3-character checksum that
// makes the 18-character form case-insensitive.
const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

func idSuffix(id15 string) string {
	var out [3]byte
	for i := 0; i < 3; i++ {
		n := 0
		for j := 0; j < 5; j++ {
			c := id15[i*5+j]
			if c >= 'A' && c <= 'Z' {
				n |= 1 << j
			}
		}
		out[i] = idAlphabet[n]
	}
	return string(out[:])
}

func isIDChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// normalizeID returns the 18-character form of a 15- or 18-character id.
func normalizeID(s string) (string, bool) {
	if len(s) != 15 && len(s) != 18 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if !isIDChar(s[i]) {
			return "", false
		}
	}
	if len(s) == 15 {
		return s + idSuffix(s), true
	}
	// The suffix encodes case; an 18-character id is matched by its
	// case-corrected 15-character body.
	body := []byte(s[:15])
	suffix := strings.ToUpper(s[15:])
	for i := 0; i < 3; i++ {
		n := strings.IndexByte(idAlphabet, suffix[i])
		if n < 0 {
			return "", false
		}
		for j := 0; j < 5; j++ {
			c := body[i*5+j]
			upper := n&(1<<j) != 0
			if upper && c >= 'a' && c <= 'z' {
				body[i*5+j] = c - 'a' + 'A'
			} else if !upper && c >= 'A' && c <= 'Z' {
				body[i*5+j] = c - 'A' + 'a'
			}
		}
	}
	return string(body) + suffix, true
}

// newIDLocked makes a fresh 18-character id with the given key prefix.
func (s *Server) newIDLocked(prefix string) string {
	s.seq++
	// prefix(3) + pod(2) + 10 base-62 digits of the sequence
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [10]byte
	n := s.seq
	for i := 9; i >= 0; i-- {
		b[i] = digits[n%62]
		n /= 62
	}
	id15 := prefix + "5g" + string(b[:])
	return id15 + idSuffix(id15)
}
