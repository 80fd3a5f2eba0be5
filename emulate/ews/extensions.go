package ews

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file adds what the sync engine's EWS connector needs beyond the
// first emulator: item categories, named extended properties (returned
// only when AdditionalProperties asks for them), a contact's physical
// addresses, optional attendees, the start and end time zones of a
// calendar item, recurring masters (a t:Recurrence makes an appointment a
// RecurringMaster; recurrence.go expands it), and FindItem
// restrictions (IsEqualTo, IsNotEqualTo, Exists, And, Or, Not).
//
//   - ExtendedProperty / ExtendedFieldURI (PropertySetId or
//     DistinguishedPropertySetId with PropertyName or PropertyId, or
//     PropertyTag; PropertyType):
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/extendedproperty
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/extendedfielduri
//     https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-view-and-create-custom-extended-properties-by-using-ews
//   - Restriction / IsEqualTo / FieldURIOrConstant:
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/restriction
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/isequalto
//   - PhysicalAddresses (Entry Key Business|Home|Other; Street, City, State,
//     CountryOrRegion, PostalCode; IndexedFieldURI contacts:PhysicalAddress:Street):
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/physicaladdresses
//   - Recurrence (one pattern, one range) and CalendarItemType RecurringMaster:
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/recurrence-recurrencetype
//     https://learn.microsoft.com/exchange/client-developer/exchange-web-services/recurrence-patterns-and-ews
//   - StartTimeZone / EndTimeZone (TimeZoneDefinitionType, Id):
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/starttimezone
//
// String comparisons in restrictions ignore case, as the Exchange store's
// default collation does.

// extKey names an extended property.
type extKey struct {
	set  string // lower-case PropertySetId GUID, or the DistinguishedPropertySetId
	name string // PropertyName
	id   string // PropertyId (decimal or hex as sent)
	tag  string // PropertyTag, lower case
	typ  string // PropertyType
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

var (
	distinguishedSets = []string{"Meeting", "Appointment", "Common", "PublicStrings", "Address", "InternetHeaders", "CalendarAssistant", "UnifiedMessaging", "Task", "Sharing"}
	propertyTypes     = []string{"ApplicationTime", "ApplicationTimeArray", "Binary", "BinaryArray", "Boolean", "CLSID", "CLSIDArray", "Currency", "CurrencyArray",
		"Double", "DoubleArray", "Error", "Float", "Integer", "IntegerArray", "Long", "LongArray", "Null", "Object", "ObjectArray", "Short", "ShortArray",
		"SystemTime", "SystemTimeArray", "String", "StringArray"}
	physicalKeys   = map[string]bool{"Business": true, "Home": true, "Other": true}
	physicalFields = []string{"Street", "City", "State", "CountryOrRegion", "PostalCode"}
	recurPatterns  = []string{"RelativeYearlyRecurrence", "AbsoluteYearlyRecurrence", "RelativeMonthlyRecurrence", "AbsoluteMonthlyRecurrence", "WeeklyRecurrence", "DailyRecurrence"}
	recurRanges    = []string{"NoEndRecurrence", "EndDateRecurrence", "NumberedRecurrence"}
	// repeatable are the item elements that may appear more than once.
	repeatable = map[string]bool{"ExtendedProperty": true}
	// extProps are the item properties this file keeps in item.x.
	extProps = map[string]bool{"Categories": true, "ExtendedProperty": true, "PhysicalAddresses": true, "OptionalAttendees": true,
		"Recurrence": true, "StartTimeZone": true, "EndTimeZone": true}
)

func init() {
	for _, f := range physicalFields {
		indexedURIs["contacts:PhysicalAddress:"+f] = "PhysicalAddresses"
	}
	fieldURIs["item:Categories"] = "Categories"
	fieldURIs["calendar:OptionalAttendees"] = "OptionalAttendees"
	fieldURIs["calendar:Recurrence"] = "Recurrence"
	fieldURIs["calendar:StartTimeZone"] = "StartTimeZone"
	fieldURIs["calendar:EndTimeZone"] = "EndTimeZone"
	fieldURIs["calendar:IsRecurring"] = "IsRecurring"
	fieldURIs["calendar:MyResponseType"] = "MyResponseType"
}

// itemExt holds an item's properties added by this file.
type itemExt struct {
	categories []string
	ext        map[extKey]string
	physical   map[string]map[string]string // Business|Home|Other → field → value
	optional   []string
	recurrence *Node
	startTZ    string
	endTZ      string
}

func (x *itemExt) clone() *itemExt {
	if x == nil {
		return nil
	}
	c := *x
	c.categories = slices.Clone(x.categories)
	c.optional = slices.Clone(x.optional)
	if x.ext != nil {
		c.ext = make(map[extKey]string, len(x.ext))
		for k, v := range x.ext {
			c.ext[k] = v
		}
	}
	if x.physical != nil {
		c.physical = make(map[string]map[string]string, len(x.physical))
		for k, m := range x.physical {
			mm := make(map[string]string, len(m))
			for f, v := range m {
				mm[f] = v
			}
			c.physical[k] = mm
		}
	}
	return &c
}

// patchExt is what a t:Contact / t:CalendarItem carries of those.
type patchExt struct{ itemExt }

func indexKeys(prop string) map[string]bool {
	switch prop {
	case "EmailAddresses":
		return emailKeys
	case "PhoneNumbers":
		return phoneKeys
	case "PhysicalAddresses":
		return physicalKeys
	}
	return nil
}

func fieldURIOf(n *Node) string {
	v, _ := n.AttrValue("FieldURI")
	return v
}

// parseExtKey reads a t:ExtendedFieldURI.
func parseExtKey(n *Node) (extKey, *ewsError) {
	if n == nil || n.Space != NSTypes || n.Local != "ExtendedFieldURI" {
		return extKey{}, schemaErr("expected t:ExtendedFieldURI")
	}
	var k extKey
	set, hasSet := n.AttrValue("PropertySetId")
	dset, hasDSet := n.AttrValue("DistinguishedPropertySetId")
	k.name, _ = n.AttrValue("PropertyName")
	k.id, _ = n.AttrValue("PropertyId")
	k.tag, _ = n.AttrValue("PropertyTag")
	k.typ, _ = n.AttrValue("PropertyType")
	k.tag = strings.ToLower(k.tag)
	if !slices.Contains(propertyTypes, k.typ) {
		return extKey{}, schemaErr("The 'PropertyType' attribute is invalid - The value '%s' is invalid according to its datatype.", truncate(k.typ, 40))
	}
	switch {
	case hasSet && hasDSet:
		return extKey{}, &ewsError{code: "ErrorInvalidExtendedProperty", msg: "The extended property attribute combination is invalid."}
	case hasSet:
		if !guidRE.MatchString(set) {
			return extKey{}, schemaErr("The 'PropertySetId' attribute is invalid - The value '%s' is invalid according to its datatype 'guid'.", truncate(set, 40))
		}
		k.set = strings.ToLower(set)
	case hasDSet:
		if !slices.Contains(distinguishedSets, dset) {
			return extKey{}, schemaErr("The 'DistinguishedPropertySetId' attribute is invalid.")
		}
		k.set = dset
	}
	named := k.name != ""
	numbered := k.id != ""
	tagged := k.tag != ""
	switch {
	case tagged && (k.set != "" || named || numbered):
		return extKey{}, &ewsError{code: "ErrorInvalidExtendedProperty", msg: "The extended property attribute combination is invalid."}
	case tagged:
	case k.set == "" || named == numbered:
		return extKey{}, &ewsError{code: "ErrorInvalidExtendedProperty", msg: "The extended property attribute combination is invalid."}
	}
	return k, nil
}

func writeExtKey(x *xw, k extKey) {
	var attrs []string
	switch {
	case k.tag != "":
		attrs = append(attrs, "PropertyTag", k.tag)
	case guidRE.MatchString(k.set):
		attrs = append(attrs, "PropertySetId", k.set)
	default:
		attrs = append(attrs, "DistinguishedPropertySetId", k.set)
	}
	if k.name != "" {
		attrs = append(attrs, "PropertyName", k.name)
	}
	if k.id != "" {
		attrs = append(attrs, "PropertyId", k.id)
	}
	attrs = append(attrs, "PropertyType", k.typ)
	x.empty("t:ExtendedFieldURI", attrs...)
}

// additionalExt returns the extended properties an ItemShape asks for in
// AdditionalProperties; other paths there are accepted and ignored (the
// emulator returns every property it has for Default and AllProperties).
func additionalExt(op *Node) ([]extKey, *ewsError) {
	ap := op.Child(NSMessages, "ItemShape").Child(NSTypes, "AdditionalProperties")
	if ap == nil {
		return nil, nil
	}
	var out []extKey
	for _, k := range ap.Kids {
		switch {
		case k.Space == NSTypes && k.Local == "ExtendedFieldURI":
			key, err := parseExtKey(k)
			if err != nil {
				return nil, err
			}
			out = append(out, key)
		case k.Space == NSTypes && (k.Local == "FieldURI" || k.Local == "IndexedFieldURI"):
			if !strings.Contains(fieldURIOf(k), ":") {
				return nil, schemaErr("The 'FieldURI' attribute is invalid - The value '%s' is invalid according to its datatype.", truncate(fieldURIOf(k), 60))
			}
		default:
			return nil, schemaErr("unexpected element '%s' in AdditionalProperties", truncate(k.Local, 40))
		}
	}
	return out, nil
}

func parseMailboxes(k *Node) ([]string, *ewsError) {
	var out []string
	for _, a := range k.Children(NSTypes, "Attendee") {
		addr := a.Child(NSTypes, "Mailbox").Child(NSTypes, "EmailAddress")
		if addr == nil || addr.Text == "" {
			return nil, schemaErr("Attendee without Mailbox/EmailAddress.")
		}
		out = append(out, addr.Text)
	}
	return out, nil
}

// parseExt reads one of the properties this file adds into p.
func (p *itemPatch) parseExt(k *Node) *ewsError {
	if p.x == nil {
		p.x = &patchExt{}
	}
	x := &p.x.itemExt
	switch k.Local {
	case "Categories":
		x.categories = nil
		for _, s := range k.Kids {
			if s.Space != NSTypes || s.Local != "String" {
				return schemaErr("The element 'Categories' has invalid child element '%s'.", truncate(s.Local, 40))
			}
			x.categories = append(x.categories, s.Text)
		}
	case "ExtendedProperty":
		if len(k.Kids) != 2 || k.Kids[1].Space != NSTypes || (k.Kids[1].Local != "Value" && k.Kids[1].Local != "Values") {
			return schemaErr("ExtendedProperty must hold ExtendedFieldURI and Value.")
		}
		key, err := parseExtKey(k.Kids[0])
		if err != nil {
			return err
		}
		if k.Kids[1].Local != "Value" || strings.HasSuffix(key.typ, "Array") {
			return &ewsError{code: "ErrorInvalidExtendedPropertyValue", msg: "The extended property value is invalid."}
		}
		if x.ext == nil {
			x.ext = map[extKey]string{}
		}
		x.ext[key] = k.Kids[1].Text
	case "PhysicalAddresses":
		x.physical = map[string]map[string]string{}
		for _, e := range k.Kids {
			key, _ := e.AttrValue("Key")
			if e.Space != NSTypes || e.Local != "Entry" || !physicalKeys[key] {
				return schemaErr("The 'PhysicalAddresses' entry key '%s' is invalid.", truncate(key, 40))
			}
			m := map[string]string{}
			last := -1
			for _, f := range e.Kids {
				i := slices.Index(physicalFields, f.Local)
				if f.Space != NSTypes || i <= last {
					return schemaErr("The element 'Entry' has invalid child element '%s'.", truncate(f.Local, 40))
				}
				last = i
				m[f.Local] = f.Text
			}
			x.physical[key] = m
		}
	case "OptionalAttendees":
		list, err := parseMailboxes(k)
		if err != nil {
			return err
		}
		x.optional = list
	case "Recurrence":
		if err := checkRecurrence(k); err != nil {
			return err
		}
		x.recurrence = k
	case "StartTimeZone", "EndTimeZone":
		id, _ := k.AttrValue("Id")
		if id == "" || len(id) > 128 {
			return schemaErr("The '%s' element needs an Id.", k.Local)
		}
		if k.Local == "StartTimeZone" {
			x.startTZ = id
		} else {
			x.endTZ = id
		}
	}
	return nil
}

func checkRecurrence(k *Node) *ewsError {
	if len(k.Kids) != 2 || k.Kids[0].Space != NSTypes || k.Kids[1].Space != NSTypes ||
		!slices.Contains(recurPatterns, k.Kids[0].Local) || !slices.Contains(recurRanges, k.Kids[1].Local) {
		return schemaErr("Recurrence must hold one recurrence pattern followed by one recurrence range.")
	}
	pat, rng := k.Kids[0], k.Kids[1]
	if iv := pat.Child(NSTypes, "Interval"); iv != nil {
		if n, err := strconv.Atoi(iv.Text); err != nil || n < 1 || n > 999 {
			return &ewsError{code: "ErrorInvalidRecurrence", msg: "The recurrence pattern's Interval is invalid."}
		}
	} else if pat.Local == "DailyRecurrence" || pat.Local == "WeeklyRecurrence" || strings.HasSuffix(pat.Local, "MonthlyRecurrence") {
		return schemaErr("The element '%s' has incomplete content. List of possible elements expected: 'Interval'.", pat.Local)
	}
	if pat.Local == "WeeklyRecurrence" && pat.Child(NSTypes, "DaysOfWeek") == nil {
		return schemaErr("The element 'WeeklyRecurrence' has incomplete content. List of possible elements expected: 'DaysOfWeek'.")
	}
	sd := rng.Child(NSTypes, "StartDate")
	if sd == nil {
		return schemaErr("The element '%s' has incomplete content. List of possible elements expected: 'StartDate'.", rng.Local)
	}
	if _, err := time.Parse(time.DateOnly, strings.TrimSuffix(sd.Text, "Z")); err != nil {
		return schemaErr("The 'StartDate' element is invalid - The value '%s' is invalid according to its datatype 'date'.", truncate(sd.Text, 40))
	}
	switch rng.Local {
	case "EndDateRecurrence":
		ed := rng.Child(NSTypes, "EndDate")
		if ed == nil {
			return schemaErr("The element 'EndDateRecurrence' has incomplete content. List of possible elements expected: 'EndDate'.")
		}
		if _, err := time.Parse(time.DateOnly, strings.TrimSuffix(ed.Text, "Z")); err != nil {
			return schemaErr("The 'EndDate' element is invalid.")
		}
	case "NumberedRecurrence":
		n := rng.Child(NSTypes, "NumberOfOccurrences")
		if v, err := strconv.Atoi(n.textOrEmpty()); err != nil || v < 1 || v > 999 {
			return &ewsError{code: "ErrorInvalidRecurrence", msg: "NumberOfOccurrences is invalid."}
		}
	}
	return nil
}

func (n *Node) textOrEmpty() string {
	if n == nil {
		return ""
	}
	return n.Text
}

// applyExt writes the property name of p onto it. Physical addresses merge
// field by field, as SetItemField on one indexed field does.
func (p *itemPatch) applyExt(it *item, name string) {
	if p.x == nil {
		return
	}
	if it.x == nil {
		it.x = &itemExt{}
	}
	src := &p.x.itemExt
	switch name {
	case "Categories":
		it.x.categories = slices.Clone(src.categories)
	case "ExtendedProperty":
		if it.x.ext == nil {
			it.x.ext = map[extKey]string{}
		}
		for k, v := range src.ext {
			it.x.ext[k] = v
		}
	case "PhysicalAddresses":
		if it.x.physical == nil {
			it.x.physical = map[string]map[string]string{}
		}
		for key, m := range src.physical {
			if it.x.physical[key] == nil {
				it.x.physical[key] = map[string]string{}
			}
			for f, v := range m {
				it.x.physical[key][f] = v
			}
		}
	case "OptionalAttendees":
		it.x.optional = slices.Clone(src.optional)
	case "Recurrence":
		it.x.recurrence = src.recurrence
	case "StartTimeZone":
		it.x.startTZ = src.startTZ
	case "EndTimeZone":
		it.x.endTZ = src.endTZ
	}
}

// narrowPhysical checks the t:Contact of a SetItemField on
// contacts:PhysicalAddress:<Field> with FieldIndex index: exactly that
// entry with exactly that field.
func (p *itemPatch) narrowPhysical(index, uri string) *ewsError {
	field := strings.TrimPrefix(uri, "contacts:PhysicalAddress:")
	if p.x == nil || len(p.x.physical) != 1 || p.x.physical[index] == nil {
		return errPropertyCount
	}
	m := p.x.physical[index]
	if _, ok := m[field]; !ok || len(m) != 1 {
		return errPropertyCount
	}
	return nil
}

// deleteExtField is DeleteItemField on one of this file's properties.
func deleteExtField(it *item, prop, index, uri string) {
	if it.x == nil {
		return
	}
	switch prop {
	case "Categories":
		it.x.categories = nil
	case "PhysicalAddresses":
		if m := it.x.physical[index]; m != nil {
			delete(m, strings.TrimPrefix(uri, "contacts:PhysicalAddress:"))
			if len(m) == 0 {
				delete(it.x.physical, index)
			}
		}
	case "OptionalAttendees":
		it.x.optional = nil
	case "Recurrence":
		it.x.recurrence = nil
	case "StartTimeZone":
		it.x.startTZ = ""
	case "EndTimeZone":
		it.x.endTZ = ""
	}
}

// markRecurring sets the calendar properties Exchange derives: an item
// with a Recurrence is a RecurringMaster; the mailbox that creates an
// appointment organises it.
func markRecurring(it *item) {
	recurring := it.x != nil && it.x.recurrence != nil
	it.props["IsRecurring"] = strconv.FormatBool(recurring)
	if recurring {
		it.props["CalendarItemType"] = "RecurringMaster"
	}
	if it.props["MyResponseType"] == "" {
		it.props["MyResponseType"] = "Organizer"
	}
}

// writeExt renders name when it is one of this file's properties.
func writeExt(x *xw, it *item, name string, want []extKey) bool {
	if !extProps[name] {
		return false
	}
	e := it.x
	if e == nil {
		e = &itemExt{}
	}
	switch name {
	case "Categories":
		if len(e.categories) > 0 {
			x.open("t:Categories")
			for _, c := range e.categories {
				x.elem("t:String", c)
			}
			x.close("t:Categories")
		}
	case "ExtendedProperty":
		for _, k := range want {
			if v, ok := e.ext[k]; ok {
				x.open("t:ExtendedProperty")
				writeExtKey(x, k)
				x.elem("t:Value", v)
				x.close("t:ExtendedProperty")
			}
		}
	case "PhysicalAddresses":
		if len(e.physical) > 0 {
			keys := make([]string, 0, len(e.physical))
			for k := range e.physical {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			x.open("t:PhysicalAddresses")
			for _, k := range keys {
				x.open("t:Entry", "Key", k)
				for _, f := range physicalFields {
					if v, ok := e.physical[k][f]; ok {
						x.elem("t:"+f, v)
					}
				}
				x.close("t:Entry")
			}
			x.close("t:PhysicalAddresses")
		}
	case "OptionalAttendees":
		if len(e.optional) > 0 {
			x.open("t:OptionalAttendees")
			for _, a := range e.optional {
				x.open("t:Attendee")
				writeMailbox(x, a)
				x.elem("t:ResponseType", "Unknown")
				x.close("t:Attendee")
			}
			x.close("t:OptionalAttendees")
		}
	case "Recurrence":
		if e.recurrence != nil {
			writeNode(x, e.recurrence)
		}
	case "StartTimeZone", "EndTimeZone":
		if it.class != "CalendarItem" {
			break
		}
		id := e.startTZ
		if name == "EndTimeZone" && e.endTZ != "" {
			id = e.endTZ
		}
		if id == "" {
			id = "UTC"
		}
		x.empty("t:"+name, "Id", id)
	}
	return true
}

// writeNode renders a stored request subtree (types namespace) back.
func writeNode(x *xw, n *Node) {
	var attrs []string
	for _, a := range n.Attr {
		if a.Name.Space == "" {
			attrs = append(attrs, a.Name.Local, a.Value)
		}
	}
	x.open("t:"+n.Local, attrs...)
	if len(n.Kids) == 0 {
		x.raw(escapeText(n.Text))
	}
	for _, k := range n.Kids {
		writeNode(x, k)
	}
	x.close("t:" + n.Local)
}

func escapeText(s string) string {
	var w xw
	w.elem("x", s)
	out := w.b.String()
	return strings.TrimSuffix(strings.TrimPrefix(out, "<x>"), "</x>")
}

// ---- FindItem restrictions ----

// restriction is a parsed FindItem Restriction; nil matches every item.
type restriction struct {
	fn func(*item) bool
}

func (r *restriction) match(it *item) bool { return r == nil || r.fn(it) }

func parseRestriction(n *Node) (*restriction, *ewsError) {
	if n == nil {
		return nil, nil
	}
	if len(n.Kids) != 1 {
		return nil, schemaErr("Restriction must hold exactly one search expression.")
	}
	fn, err := parseExpr(n.Kids[0], 0)
	if err != nil {
		return nil, err
	}
	return &restriction{fn: fn}, nil
}

// propValue reads the property a path names: (value, present).
type propReader func(*item) (string, bool)

func parsePath(n *Node) (propReader, *ewsError) {
	if n == nil || n.Space != NSTypes {
		return nil, schemaErr("expected a property path")
	}
	switch n.Local {
	case "ExtendedFieldURI":
		key, err := parseExtKey(n)
		if err != nil {
			return nil, err
		}
		return func(it *item) (string, bool) {
			if it.x == nil {
				return "", false
			}
			v, ok := it.x.ext[key]
			return v, ok
		}, nil
	case "FieldURI":
		prop := fieldURIs[fieldURIOf(n)]
		if prop == "" || extProps[prop] || prop == "EmailAddresses" || prop == "PhoneNumbers" || prop == "RequiredAttendees" || prop == "Organizer" {
			return nil, &ewsError{code: "ErrorUnsupportedPathForQuery", msg: "The property path is not supported for restrictions."}
		}
		return func(it *item) (string, bool) {
			v, ok := it.props[prop]
			return v, ok && v != ""
		}, nil
	}
	return nil, &ewsError{code: "ErrorUnsupportedPathForQuery", msg: "The property path is not supported for restrictions."}
}

func parseExpr(n *Node, depth int) (func(*item) bool, *ewsError) {
	if depth > 16 {
		return nil, &ewsError{code: "ErrorRestrictionTooComplex", msg: "The restriction is too complex."}
	}
	if n.Space != NSTypes {
		return nil, schemaErr("unexpected search expression '%s'", truncate(n.Local, 40))
	}
	switch n.Local {
	case "IsEqualTo", "IsNotEqualTo":
		if len(n.Kids) != 2 {
			return nil, schemaErr("%s needs a property path and a FieldURIOrConstant.", n.Local)
		}
		read, err := parsePath(n.Kids[0])
		if err != nil {
			return nil, err
		}
		c := n.Kids[1]
		if c.Space != NSTypes || c.Local != "FieldURIOrConstant" || len(c.Kids) != 1 || c.Kids[0].Local != "Constant" {
			return nil, &ewsError{code: "ErrorUnsupportedQueryFilter", msg: "Only constants are supported in FieldURIOrConstant by this server."}
		}
		want, ok := c.Kids[0].AttrValue("Value")
		if !ok {
			return nil, schemaErr("Constant needs a Value attribute.")
		}
		eq := n.Local == "IsEqualTo"
		return func(it *item) bool {
			v, present := read(it)
			return present && strings.EqualFold(v, want) == eq
		}, nil
	case "Exists":
		if len(n.Kids) != 1 {
			return nil, schemaErr("Exists needs one property path.")
		}
		read, err := parsePath(n.Kids[0])
		if err != nil {
			return nil, err
		}
		return func(it *item) bool { _, ok := read(it); return ok }, nil
	case "Not":
		if len(n.Kids) != 1 {
			return nil, schemaErr("Not needs one search expression.")
		}
		inner, err := parseExpr(n.Kids[0], depth+1)
		if err != nil {
			return nil, err
		}
		return func(it *item) bool { return !inner(it) }, nil
	case "And", "Or":
		if len(n.Kids) == 0 {
			return nil, schemaErr("%s needs search expressions.", n.Local)
		}
		var parts []func(*item) bool
		for _, k := range n.Kids {
			f, err := parseExpr(k, depth+1)
			if err != nil {
				return nil, err
			}
			parts = append(parts, f)
		}
		and := n.Local == "And"
		return func(it *item) bool {
			for _, f := range parts {
				if f(it) != and {
					return !and
				}
			}
			return and
		}, nil
	}
	return nil, &ewsError{code: "ErrorUnsupportedQueryFilter", msg: "The restriction contains a query filter that is not supported by this server."}
}

// ---- admin ----

// ExtendedProperty is a named extended property as seeded by tests.
type ExtendedProperty struct {
	PropertySetID string `json:"property_set_id"`
	PropertyName  string `json:"property_name"`
	PropertyType  string `json:"property_type"` // default String
	Value         string `json:"value"`
}

// PhysicalAddress is one entry of a contact's PhysicalAddresses.
type PhysicalAddress struct {
	Street, City, State, CountryOrRegion, PostalCode string
}

// Recurrence is a recurrence pattern for seeding a recurring master.
type Recurrence struct {
	// Pattern: Daily | Weekly | AbsoluteMonthly | RelativeMonthly |
	// AbsoluteYearly | RelativeYearly.
	Pattern        string
	Interval       int
	DaysOfWeek     string // Weekly, Relative*: e.g. "Monday Wednesday"
	FirstDayOfWeek string // Weekly, optional: e.g. "Monday"
	DayOfWeekIndex string // Relative*: First | Second | Third | Fourth | Last
	DayOfMonth     int    // Absolute*
	Month          string // *Yearly: e.g. "March"
	StartDate      string // YYYY-MM-DD
	EndDate        string // YYYY-MM-DD, or
	Occurrences    int    // a count; neither = no end
}

// Extras are the properties added by this file, for seeding and reading.
type Extras struct {
	Categories        []string
	Extended          []ExtendedProperty
	Physical          map[string]PhysicalAddress // Business | Home | Other
	OptionalAttendees []string
	Recurrence        *Recurrence
	StartTimeZone     string
	EndTimeZone       string
}

func textNode(local, text string) *Node { return &Node{Space: NSTypes, Local: local, Text: text} }

func (r *Recurrence) node() *Node {
	pat := &Node{Space: NSTypes, Local: r.Pattern + "Recurrence"}
	add := func(name, v string) {
		if v != "" {
			pat.Kids = append(pat.Kids, textNode(name, v))
		}
	}
	yearly := strings.HasSuffix(r.Pattern, "Yearly")
	if !yearly {
		add("Interval", strconv.Itoa(max(r.Interval, 1)))
	}
	switch r.Pattern {
	case "Weekly":
		add("DaysOfWeek", r.DaysOfWeek)
		add("FirstDayOfWeek", r.FirstDayOfWeek)
	case "RelativeMonthly", "RelativeYearly":
		add("DaysOfWeek", r.DaysOfWeek)
		add("DayOfWeekIndex", r.DayOfWeekIndex)
	case "AbsoluteMonthly", "AbsoluteYearly":
		add("DayOfMonth", strconv.Itoa(r.DayOfMonth))
	}
	if yearly {
		add("Month", r.Month)
	}
	var rng *Node
	switch {
	case r.EndDate != "":
		rng = &Node{Space: NSTypes, Local: "EndDateRecurrence", Kids: []*Node{textNode("StartDate", r.StartDate), textNode("EndDate", r.EndDate)}}
	case r.Occurrences > 0:
		rng = &Node{Space: NSTypes, Local: "NumberedRecurrence", Kids: []*Node{textNode("StartDate", r.StartDate), textNode("NumberOfOccurrences", strconv.Itoa(r.Occurrences))}}
	default:
		rng = &Node{Space: NSTypes, Local: "NoEndRecurrence", Kids: []*Node{textNode("StartDate", r.StartDate)}}
	}
	return &Node{Space: NSTypes, Local: "Recurrence", Kids: []*Node{pat, rng}}
}

// addExtras puts x into p, validated as a request would be.
func (x Extras) addTo(p *itemPatch) error {
	pe := &patchExt{}
	add := func(name string) { p.set = append(p.set, name) }
	if len(x.Categories) > 0 {
		pe.categories = slices.Clone(x.Categories)
		add("Categories")
	}
	if len(x.Extended) > 0 {
		pe.ext = map[extKey]string{}
		for _, e := range x.Extended {
			typ := e.PropertyType
			if typ == "" {
				typ = "String"
			}
			n := &Node{Space: NSTypes, Local: "ExtendedFieldURI", Attr: attrs("PropertySetId", e.PropertySetID, "PropertyName", e.PropertyName, "PropertyType", typ)}
			k, err := parseExtKey(n)
			if err != nil {
				return fmt.Errorf("ews: extended property: %w", err)
			}
			pe.ext[k] = e.Value
		}
		add("ExtendedProperty")
	}
	if len(x.Physical) > 0 {
		pe.physical = map[string]map[string]string{}
		for k, a := range x.Physical {
			if !physicalKeys[k] {
				return fmt.Errorf("ews: bad physical address key %q", k)
			}
			m := map[string]string{}
			for f, v := range map[string]string{"Street": a.Street, "City": a.City, "State": a.State, "CountryOrRegion": a.CountryOrRegion, "PostalCode": a.PostalCode} {
				if v != "" {
					m[f] = v
				}
			}
			pe.physical[k] = m
		}
		add("PhysicalAddresses")
	}
	if len(x.OptionalAttendees) > 0 {
		pe.optional = slices.Clone(x.OptionalAttendees)
		add("OptionalAttendees")
	}
	if x.Recurrence != nil {
		n := x.Recurrence.node()
		if err := checkRecurrence(n); err != nil {
			return fmt.Errorf("ews: recurrence: %w", err)
		}
		pe.recurrence = n
		add("Recurrence")
	}
	if x.StartTimeZone != "" {
		pe.startTZ = x.StartTimeZone
		add("StartTimeZone")
	}
	if x.EndTimeZone != "" {
		pe.endTZ = x.EndTimeZone
		add("EndTimeZone")
	}
	p.x = pe
	return nil
}

func attrs(kv ...string) []xml.Attr {
	var out []xml.Attr
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			out = append(out, xml.Attr{Name: xml.Name{Local: kv[i]}, Value: kv[i+1]})
		}
	}
	return out
}

// AddContactWith is AddContact with the properties of this file.
func (s *Server) AddContactWith(smtp string, c Contact, x Extras) (string, error) {
	p, err := c.patch()
	if err != nil {
		return "", err
	}
	if err := x.addTo(p); err != nil {
		return "", err
	}
	return s.seed(smtp, "contacts", "Contact", p)
}

// AddCalendarItemWith is AddCalendarItem with the properties of this
// file; with a Recurrence the item is a RecurringMaster.
func (s *Server) AddCalendarItemWith(smtp string, c CalendarItem, x Extras) (string, error) {
	p, err := c.patch()
	if err != nil {
		return "", err
	}
	if err := x.addTo(p); err != nil {
		return "", err
	}
	return s.seed(smtp, "calendar", "CalendarItem", p)
}

// ItemExtras returns the properties of this file that item id holds.
func (s *Server) ItemExtras(id string) (Extras, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.itemsByID[id]
	if it == nil {
		return Extras{}, fmt.Errorf("ews: no item %s", truncate(id, 20))
	}
	var out Extras
	e := it.x
	if e == nil {
		return out, nil
	}
	out.Categories = slices.Clone(e.categories)
	for k, v := range e.ext {
		out.Extended = append(out.Extended, ExtendedProperty{PropertySetID: k.set, PropertyName: k.name, PropertyType: k.typ, Value: v})
	}
	if len(e.physical) > 0 {
		out.Physical = map[string]PhysicalAddress{}
		for k, m := range e.physical {
			out.Physical[k] = PhysicalAddress{Street: m["Street"], City: m["City"], State: m["State"], CountryOrRegion: m["CountryOrRegion"], PostalCode: m["PostalCode"]}
		}
	}
	out.OptionalAttendees = slices.Clone(e.optional)
	out.StartTimeZone, out.EndTimeZone = e.startTZ, e.endTZ
	if r := e.recurrence; r != nil {
		out.Recurrence = &Recurrence{Pattern: strings.TrimSuffix(r.Kids[0].Local, "Recurrence"), StartDate: r.Kids[1].Child(NSTypes, "StartDate").textOrEmpty(),
			EndDate: r.Kids[1].Child(NSTypes, "EndDate").textOrEmpty(), DaysOfWeek: r.Kids[0].Child(NSTypes, "DaysOfWeek").textOrEmpty()}
		out.Recurrence.Interval, _ = strconv.Atoi(r.Kids[0].Child(NSTypes, "Interval").textOrEmpty())
		out.Recurrence.DayOfMonth, _ = strconv.Atoi(r.Kids[0].Child(NSTypes, "DayOfMonth").textOrEmpty())
		out.Recurrence.FirstDayOfWeek = r.Kids[0].Child(NSTypes, "FirstDayOfWeek").textOrEmpty()
		out.Recurrence.DayOfWeekIndex = r.Kids[0].Child(NSTypes, "DayOfWeekIndex").textOrEmpty()
		out.Recurrence.Month = r.Kids[0].Child(NSTypes, "Month").textOrEmpty()
		out.Recurrence.Occurrences, _ = strconv.Atoi(r.Kids[1].Child(NSTypes, "NumberOfOccurrences").textOrEmpty())
	}
	return out, nil
}
