package ews

import (
	"strings"
	"testing"
)

const keySet = "2f98f854-a3ff-4ae6-b70a-fc40b568f277"

func keyURI() string {
	return `<t:ExtendedFieldURI PropertySetId="` + keySet + `" PropertyName="SyncgateKey" PropertyType="String"/>`
}

func createContactWithKey(t *testing.T, e *env, key, given string) string {
	t.Helper()
	r := e.call(t, alice, `<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="contacts"/></m:SavedItemFolderId><m:Items><t:Contact>`+
		`<t:Categories><t:String>CRM</t:String><t:String>VIP</t:String></t:Categories>`+
		`<t:ExtendedProperty>`+keyURI()+`<t:Value>`+key+`</t:Value></t:ExtendedProperty>`+
		`<t:GivenName>`+given+`</t:GivenName>`+
		`<t:PhysicalAddresses><t:Entry Key="Business"><t:Street>1 Main St</t:Street><t:City>Springfield</t:City><t:PostalCode>12345</t:PostalCode></t:Entry></t:PhysicalAddresses>`+
		`<t:Surname>Doe</t:Surname></t:Contact></m:Items></m:CreateItem>`)
	if got := r.codes(t); len(got) != 1 || got[0] != "Success:NoError" {
		t.Fatalf("create: %v\n%s", got, r.raw)
	}
	return attr(find(r.root, "ItemId"), "Id")
}

func getWith(t *testing.T, e *env, id, additional string) soapResp {
	t.Helper()
	return e.call(t, alice, `<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape><t:BodyType>Text</t:BodyType>`+additional+
		`</m:ItemShape><m:ItemIds><t:ItemId Id="`+id+`"/></m:ItemIds></m:GetItem>`)
}

// Extended properties come back only when AdditionalProperties names them
// (extendedproperty, extendedfielduri); categories and physical addresses
// always.
func TestExtendedPropertiesCategoriesAddresses(t *testing.T) {
	e := newEnv(t, Options{})
	id := createContactWithKey(t, e, "key-1", "Ann")
	plain := getWith(t, e, id, "")
	if strings.Contains(plain.raw, "ExtendedProperty") {
		t.Fatalf("extended property returned without being asked for:\n%s", plain.raw)
	}
	if got := findAll(plain.root, "String"); len(got) != 2 || got[0].Text != "CRM" {
		t.Fatalf("categories: %s", plain.raw)
	}
	if c := find(plain.root, "City"); c == nil || c.Text != "Springfield" {
		t.Fatalf("physical address: %s", plain.raw)
	}
	asked := getWith(t, e, id, `<t:AdditionalProperties>`+keyURI()+`<t:FieldURI FieldURI="item:Categories"/></t:AdditionalProperties>`)
	ep := find(asked.root, "ExtendedProperty")
	if ep == nil || find(ep, "Value").Text != "key-1" || attr(find(ep, "ExtendedFieldURI"), "PropertyName") != "SyncgateKey" {
		t.Fatalf("extended property not returned:\n%s", asked.raw)
	}
	x, err := e.srv.ItemExtras(id)
	must(t, err)
	if len(x.Extended) != 1 || x.Extended[0].Value != "key-1" || x.Physical["Business"].Street != "1 Main St" {
		t.Fatalf("extras %+v", x)
	}
}

func TestExtendedPropertyValidation(t *testing.T) {
	e := newEnv(t, Options{})
	cases := []struct{ name, item, code string }{
		{"bad type", `<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="` + keySet + `" PropertyName="K" PropertyType="Text"/><t:Value>v</t:Value></t:ExtendedProperty>`, "ErrorSchemaValidation"},
		{"bad guid", `<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="nope" PropertyName="K" PropertyType="String"/><t:Value>v</t:Value></t:ExtendedProperty>`, "ErrorSchemaValidation"},
		{"out of order", `<t:GivenName>A</t:GivenName><t:Categories><t:String>x</t:String></t:Categories>`, "ErrorSchemaValidation"},
		{"address key", `<t:PhysicalAddresses><t:Entry Key="Work"><t:City>x</t:City></t:Entry></t:PhysicalAddresses>`, "ErrorSchemaValidation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.call(t, alice, `<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="contacts"/></m:SavedItemFolderId><m:Items><t:Contact>`+c.item+`</t:Contact></m:Items></m:CreateItem>`)
			if got := r.fault(t); got != c.code {
				t.Fatalf("fault %s, want %s", got, c.code)
			}
		})
	}
	combo := e.call(t, alice, `<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="contacts"/></m:SavedItemFolderId><m:Items><t:Contact><t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="`+keySet+`" PropertyName="K" PropertyId="5" PropertyType="String"/><t:Value>v</t:Value></t:ExtendedProperty></t:Contact></m:Items></m:CreateItem>`)
	if got := combo.codes(t); got[0] != "Error:ErrorInvalidExtendedProperty" {
		t.Fatalf("name and id together: %v", got)
	}
}

// FindItem with a Restriction (restriction, isequalto): IsEqualTo on the
// extended property finds exactly the item carrying the value.
func TestFindItemRestriction(t *testing.T) {
	e := newEnv(t, Options{})
	a := createContactWithKey(t, e, "key-a", "Ann")
	b := createContactWithKey(t, e, "key-b", "Bea")
	_, err := e.srv.AddContact(alice, Contact{GivenName: "NoKey"})
	must(t, err)
	find := func(restriction string) []string {
		t.Helper()
		r := e.call(t, alice, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>`+keyURI()+`</t:AdditionalProperties></m:ItemShape>`+
			`<m:IndexedPageItemView MaxEntriesReturned="10" Offset="0" BasePoint="Beginning"/>`+
			`<m:Restriction>`+restriction+`</m:Restriction><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>`)
		if got := r.codes(t); got[0] != "Success:NoError" {
			t.Fatalf("find: %v\n%s", got, r.raw)
		}
		// AdditionalProperties come with BaseShape IdOnly too.
		if !strings.Contains(restriction, "GivenName") && len(findAll(r.root, "ExtendedProperty")) != len(findAll(r.root, "ItemId")) {
			t.Fatalf("extended properties missing with IdOnly:\n%s", r.raw)
		}
		var ids []string
		for _, n := range findAll(r.root, "ItemId") {
			ids = append(ids, attr(n, "Id"))
		}
		return ids
	}
	eq := func(v string) string {
		return `<t:IsEqualTo>` + keyURI() + `<t:FieldURIOrConstant><t:Constant Value="` + v + `"/></t:FieldURIOrConstant></t:IsEqualTo>`
	}
	cases := []struct {
		name, restriction string
		want              []string
	}{
		{"equal", eq("key-b"), []string{b}},
		{"case-insensitive", eq("KEY-A"), []string{a}},
		{"none", eq("key-z"), nil},
		{"exists", `<t:Exists>` + keyURI() + `</t:Exists>`, []string{a, b}},
		{"or", `<t:Or>` + eq("key-a") + eq("key-b") + `</t:Or>`, []string{a, b}},
		{"and not", `<t:And><t:Exists>` + keyURI() + `</t:Exists><t:Not>` + eq("key-a") + `</t:Not></t:And>`, []string{b}},
		{"field", `<t:IsEqualTo><t:FieldURI FieldURI="contacts:GivenName"/><t:FieldURIOrConstant><t:Constant Value="nokey"/></t:FieldURIOrConstant></t:IsEqualTo>`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := find(c.restriction)
			if c.name == "field" {
				if len(got) != 1 || got[0] == a || got[0] == b {
					t.Fatalf("got %d ids", len(got))
				}
				return
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("got %d ids, want %d", len(got), len(c.want))
			}
		})
	}
	r := e.call(t, alice, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:Restriction><t:Contains><t:FieldURI FieldURI="item:Subject"/><t:Constant Value="x"/></t:Contains></m:Restriction><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>`)
	if got := r.codes(t); got[0] != "Error:ErrorUnsupportedQueryFilter" {
		t.Fatalf("unsupported filter: %v", got)
	}
}

// A calendar item with a Recurrence is a RecurringMaster (recurrence-
// patterns-and-ews); time zones and optional attendees are kept.
func TestRecurringMasterAndTimeZones(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.call(t, alice, `<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items><t:CalendarItem>`+
		`<t:Subject>Weekly</t:Subject><t:Start>2026-03-02T09:00:00Z</t:Start><t:End>2026-03-02T10:00:00Z</t:End>`+
		`<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>2026-03-02</t:StartDate><t:NumberOfOccurrences>10</t:NumberOfOccurrences></t:NumberedRecurrence></t:Recurrence>`+
		`<t:StartTimeZone Id="W. Europe Standard Time"/></t:CalendarItem></m:Items></m:CreateItem>`)
	if got := r.codes(t); got[0] != "Success:NoError" {
		t.Fatalf("create: %v\n%s", got, r.raw)
	}
	id := attr(find(r.root, "ItemId"), "Id")
	g := getWith(t, e, id, "")
	if v := find(g.root, "CalendarItemType"); v == nil || v.Text != "RecurringMaster" {
		t.Fatalf("type: %s", g.raw)
	}
	if v := find(g.root, "NumberOfOccurrences"); v == nil || v.Text != "10" {
		t.Fatalf("recurrence not rendered: %s", g.raw)
	}
	if v := find(g.root, "StartTimeZone"); attr(v, "Id") != "W. Europe Standard Time" {
		t.Fatalf("start zone: %s", g.raw)
	}
	if v := find(g.root, "EndTimeZone"); attr(v, "Id") != "W. Europe Standard Time" {
		t.Fatalf("end zone defaults to the start zone: %s", g.raw)
	}
	bad := e.call(t, alice, `<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items><t:CalendarItem>`+
		`<t:Subject>W</t:Subject><t:Start>2026-03-02T09:00:00Z</t:Start><t:End>2026-03-02T10:00:00Z</t:End>`+
		`<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval></t:WeeklyRecurrence><t:NoEndRecurrence><t:StartDate>2026-03-02</t:StartDate></t:NoEndRecurrence></t:Recurrence></t:CalendarItem></m:Items></m:CreateItem>`)
	if got := bad.fault(t); got != "ErrorSchemaValidation" {
		t.Fatalf("weekly without days: %s", got)
	}
	seeded, err := e.srv.AddCalendarItemWith(alice, CalendarItem{Subject: "Daily", Start: t0, End: t0.Add(30 * 60e9)},
		Extras{Recurrence: &Recurrence{Pattern: "Daily", Interval: 1, StartDate: "2026-03-02"}, Categories: []string{"Sync"}, OptionalAttendees: []string{bob}})
	must(t, err)
	x, err := e.srv.ItemExtras(seeded)
	must(t, err)
	if x.Recurrence == nil || x.Recurrence.Pattern != "Daily" || len(x.OptionalAttendees) != 1 {
		t.Fatalf("extras %+v", x)
	}
	items, err := e.srv.Items(alice, "calendar")
	must(t, err)
	if items[len(items)-1].Props["CalendarItemType"] != "RecurringMaster" {
		t.Fatalf("seeded master: %v", items[len(items)-1].Props)
	}
}

// SetItemField on one indexed physical-address field changes only that
// field; DeleteItemField removes it (updateitem, physicaladdresses).
func TestUpdatePhysicalAddressField(t *testing.T) {
	e := newEnv(t, Options{})
	id := createContactWithKey(t, e, "k", "Ann")
	update := func(change string) []string {
		t.Helper()
		r := e.call(t, alice, `<m:UpdateItem ConflictResolution="AlwaysOverwrite"><m:ItemChanges><t:ItemChange><t:ItemId Id="`+id+`"/><t:Updates>`+change+`</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
		return r.codes(t)
	}
	if got := update(`<t:SetItemField><t:IndexedFieldURI FieldURI="contacts:PhysicalAddress:City" FieldIndex="Business"/><t:Contact><t:PhysicalAddresses><t:Entry Key="Business"><t:City>Shelbyville</t:City></t:Entry></t:PhysicalAddresses></t:Contact></t:SetItemField>` +
		`<t:DeleteItemField><t:IndexedFieldURI FieldURI="contacts:PhysicalAddress:PostalCode" FieldIndex="Business"/></t:DeleteItemField>` +
		`<t:SetItemField><t:FieldURI FieldURI="item:Categories"/><t:Contact><t:Categories><t:String>Only</t:String></t:Categories></t:Contact></t:SetItemField>`); got[0] != "Success:NoError" {
		t.Fatalf("update: %v", got)
	}
	x, err := e.srv.ItemExtras(id)
	must(t, err)
	if a := x.Physical["Business"]; a.City != "Shelbyville" || a.Street != "1 Main St" || a.PostalCode != "" {
		t.Fatalf("address %+v", a)
	}
	if len(x.Categories) != 1 || x.Categories[0] != "Only" || len(x.Extended) != 1 {
		t.Fatalf("extras %+v", x)
	}
	if got := update(`<t:SetItemField><t:IndexedFieldURI FieldURI="contacts:PhysicalAddress:City" FieldIndex="Business"/><t:Contact><t:PhysicalAddresses><t:Entry Key="Business"><t:Street>x</t:Street></t:Entry></t:PhysicalAddresses></t:Contact></t:SetItemField>`); got[0] != "Error:ErrorIncorrectUpdatePropertyCount" {
		t.Fatalf("mismatched field: %v", got)
	}
}
