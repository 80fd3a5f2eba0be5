package ews

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func ts(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	must(t, err)
	return v
}

// Expansion follows the pattern in the master's zone (recurrence-patterns-
// and-ews): wall-clock time stays across DST (the US and the EU change on
// different dates), a day of month beyond the month's end falls on its last
// day, relative patterns, yearly, and count/end-date ranges.
func TestRecurrenceExpansion(t *testing.T) {
	tests := []struct {
		name     string
		start    string // first occurrence
		dur      time.Duration
		zone     string
		rec      Recurrence
		from, to string
		want     []string // occurrence starts, UTC
	}{
		{name: "US spring forward 2026-03-08", start: "2026-03-02T14:00:00Z", dur: time.Hour, zone: "Eastern Standard Time",
			rec: Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: "Monday", StartDate: "2026-03-02"}, from: "2026-03-01T00:00:00Z", to: "2026-03-17T00:00:00Z",
			want: []string{"2026-03-02T14:00:00Z", "2026-03-09T13:00:00Z", "2026-03-16T13:00:00Z"}},
		{name: "EU spring forward 2026-03-29, not on the US date", start: "2026-03-02T08:00:00Z", dur: time.Hour, zone: "W. Europe Standard Time",
			rec: Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: "Monday", StartDate: "2026-03-02"}, from: "2026-03-08T00:00:00Z", to: "2026-04-01T00:00:00Z",
			want: []string{"2026-03-09T08:00:00Z", "2026-03-16T08:00:00Z", "2026-03-23T08:00:00Z", "2026-03-30T07:00:00Z"}},
		{name: "EU fall back 2026-10-25", start: "2026-10-19T07:00:00Z", dur: time.Hour, zone: "W. Europe Standard Time",
			rec: Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: "Monday", StartDate: "2026-10-19", Occurrences: 3}, from: "2026-10-01T00:00:00Z", to: "2026-12-01T00:00:00Z",
			want: []string{"2026-10-19T07:00:00Z", "2026-10-26T08:00:00Z", "2026-11-02T08:00:00Z"}},
		{name: "US fall back 2026-11-01", start: "2026-10-26T13:00:00Z", dur: time.Hour, zone: "Eastern Standard Time",
			rec: Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: "Monday", StartDate: "2026-10-26", EndDate: "2026-11-09"}, from: "2026-10-01T00:00:00Z", to: "2026-12-01T00:00:00Z",
			want: []string{"2026-10-26T13:00:00Z", "2026-11-02T14:00:00Z", "2026-11-09T14:00:00Z"}},
		{name: "monthly on the 31st falls on the last day", start: "2026-01-31T10:00:00Z", dur: time.Hour, zone: "UTC",
			rec: Recurrence{Pattern: "AbsoluteMonthly", Interval: 1, DayOfMonth: 31, StartDate: "2026-01-31", Occurrences: 4}, from: "2026-01-01T00:00:00Z", to: "2027-01-01T00:00:00Z",
			want: []string{"2026-01-31T10:00:00Z", "2026-02-28T10:00:00Z", "2026-03-31T10:00:00Z", "2026-04-30T10:00:00Z"}},
		{name: "last Friday", start: "2026-01-30T12:00:00Z", dur: time.Hour, zone: "UTC",
			rec: Recurrence{Pattern: "RelativeMonthly", Interval: 1, DaysOfWeek: "Friday", DayOfWeekIndex: "Last", StartDate: "2026-01-01"}, from: "2026-01-01T00:00:00Z", to: "2026-05-01T00:00:00Z",
			want: []string{"2026-01-30T12:00:00Z", "2026-02-27T12:00:00Z", "2026-03-27T12:00:00Z", "2026-04-24T12:00:00Z"}},
		{name: "every other month, second Tuesday", start: "2026-01-13T12:00:00Z", dur: time.Hour, zone: "UTC",
			rec: Recurrence{Pattern: "RelativeMonthly", Interval: 2, DaysOfWeek: "Tuesday", DayOfWeekIndex: "Second", StartDate: "2026-01-01", Occurrences: 3}, from: "2026-01-01T00:00:00Z", to: "2027-01-01T00:00:00Z",
			want: []string{"2026-01-13T12:00:00Z", "2026-03-10T12:00:00Z", "2026-05-12T12:00:00Z"}},
		{name: "yearly on 15 March", start: "2026-03-15T09:00:00Z", dur: time.Hour, zone: "UTC",
			rec: Recurrence{Pattern: "AbsoluteYearly", DayOfMonth: 15, Month: "March", StartDate: "2026-03-15", Occurrences: 3}, from: "2026-01-01T00:00:00Z", to: "2029-01-01T00:00:00Z",
			want: []string{"2026-03-15T09:00:00Z", "2027-03-15T09:00:00Z", "2028-03-15T09:00:00Z"}},
		{name: "yearly on 29 February falls on the 28th", start: "2028-02-29T09:00:00Z", dur: time.Hour, zone: "UTC",
			rec: Recurrence{Pattern: "AbsoluteYearly", DayOfMonth: 29, Month: "February", StartDate: "2028-02-29", Occurrences: 2}, from: "2028-01-01T00:00:00Z", to: "2030-01-01T00:00:00Z",
			want: []string{"2028-02-29T09:00:00Z", "2029-02-28T09:00:00Z"}},
		{name: "yearly second Tuesday of November", start: "2026-11-10T09:00:00Z", dur: time.Hour, zone: "UTC",
			rec: Recurrence{Pattern: "RelativeYearly", DaysOfWeek: "Tuesday", DayOfWeekIndex: "Second", Month: "November", StartDate: "2026-01-01"}, from: "2026-01-01T00:00:00Z", to: "2028-01-01T00:00:00Z",
			want: []string{"2026-11-10T09:00:00Z", "2027-11-09T09:00:00Z"}},
		{name: "every other day to an end date", start: "2026-03-02T09:00:00Z", dur: time.Hour, zone: "UTC",
			rec: Recurrence{Pattern: "Daily", Interval: 2, StartDate: "2026-03-02", EndDate: "2026-03-08"}, from: "2026-03-01T00:00:00Z", to: "2026-04-01T00:00:00Z",
			want: []string{"2026-03-02T09:00:00Z", "2026-03-04T09:00:00Z", "2026-03-06T09:00:00Z", "2026-03-08T09:00:00Z"}},
		{name: "every other week, two days, week starting Monday", start: "2026-03-04T09:00:00Z", dur: time.Hour, zone: "UTC",
			rec: Recurrence{Pattern: "Weekly", Interval: 2, DaysOfWeek: "Monday Wednesday", FirstDayOfWeek: "Monday", StartDate: "2026-03-04", Occurrences: 3}, from: "2026-03-01T00:00:00Z", to: "2026-05-01T00:00:00Z",
			want: []string{"2026-03-04T09:00:00Z", "2026-03-16T09:00:00Z", "2026-03-18T09:00:00Z"}},
		{name: "range start before the first matching day", start: "2026-03-05T09:00:00Z", dur: time.Hour, zone: "UTC",
			rec: Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: "Thursday", StartDate: "2026-03-02", Occurrences: 2}, from: "2026-03-01T00:00:00Z", to: "2026-05-01T00:00:00Z",
			want: []string{"2026-03-05T09:00:00Z", "2026-03-12T09:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			st := ts(t, tt.start)
			id, err := e.srv.AddCalendarItemWith(alice, CalendarItem{Subject: "S", Start: st, End: st.Add(tt.dur)},
				Extras{Recurrence: &tt.rec, StartTimeZone: tt.zone})
			must(t, err)
			occ, err := e.srv.Occurrences(id, ts(t, tt.from), ts(t, tt.to))
			must(t, err)
			var got []string
			for i, o := range occ {
				got = append(got, o.Start.Format(time.RFC3339))
				if o.End.Sub(o.Start) != tt.dur || o.Type != "Occurrence" || !o.OriginalStart.Equal(o.Start) {
					t.Errorf("occurrence %d: %+v", i, o)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("occurrences\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// An all-day series keeps its dates: midnights of its zone every time.
func TestAllDaySeriesKeepsMidnights(t *testing.T) {
	e := newEnv(t, Options{})
	st := ts(t, "2026-03-22T23:00:00Z") // 2026-03-23 00:00 in Berlin (CET)
	id, err := e.srv.AddCalendarItemWith(alice, CalendarItem{Subject: "Day", Start: st, End: st.Add(24 * time.Hour), IsAllDayEvent: true},
		Extras{Recurrence: &Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: "Monday", StartDate: "2026-03-23", Occurrences: 2}, StartTimeZone: "W. Europe Standard Time"})
	must(t, err)
	occ, err := e.srv.Occurrences(id, ts(t, "2026-03-01T00:00:00Z"), ts(t, "2026-05-01T00:00:00Z"))
	must(t, err)
	if len(occ) != 2 || occ[1].Start.Format(time.RFC3339) != "2026-03-29T22:00:00Z" || occ[1].End.Format(time.RFC3339) != "2026-03-30T22:00:00Z" {
		t.Fatalf("all-day occurrences %+v", occ)
	}
}

const weeklySeries = `<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items><t:CalendarItem>` +
	`<t:Subject>Standup</t:Subject><t:Start>2026-03-02T08:00:00Z</t:Start><t:End>2026-03-02T08:30:00Z</t:End>` +
	`<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence>` +
	`<t:NumberedRecurrence><t:StartDate>2026-03-02</t:StartDate><t:NumberOfOccurrences>10</t:NumberOfOccurrences></t:NumberedRecurrence></t:Recurrence>` +
	`<t:StartTimeZone Id="W. Europe Standard Time"/></t:CalendarItem></m:Items></m:CreateItem>`

func occID(master string, index int) string {
	return `<t:OccurrenceItemId RecurringMasterId="` + master + `" InstanceIndex="` + strconv.Itoa(index) + `"/>`
}

func getIDs(ids string) string {
	return `<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape><m:ItemIds>` + ids + `</m:ItemIds></m:GetItem>`
}

// Occurrences are addressed by OccurrenceItemId; updating one makes an
// Exception listed in the master's ModifiedOccurrences, deleting one lists
// it in DeletedOccurrences; both change the master, which SyncFolderItems
// reports as updated; CalendarView expands the series; bad indexes get
// the documented codes.
func TestOccurrenceLifecycle(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.call(t, alice, weeklySeries)
	if got := r.codes(t); got[0] != "Success:NoError" {
		t.Fatalf("create: %v\n%s", got, r.raw)
	}
	master := attr(find(r.root, "ItemId"), "Id")
	ck0 := attr(find(r.root, "ItemId"), "ChangeKey")
	s0 := e.call(t, alice, syncReq("calendar", "", 10))
	state := find(s0.root, "SyncState").Text

	g := e.call(t, alice, getIDs(occID(master, 2)))
	if got := g.codes(t); got[0] != "Success:NoError" || find(g.root, "CalendarItemType").Text != "Occurrence" || find(g.root, "Start").Text != "2026-03-09T08:00:00Z" {
		t.Fatalf("occurrence 2: %v\n%s", got, g.raw)
	}
	if find(g.root, "Recurrence") != nil || find(g.root, "OriginalStart").Text != "2026-03-09T08:00:00Z" {
		t.Fatalf("occurrence shape: %s", g.raw)
	}

	up := e.call(t, alice, `<m:UpdateItem ConflictResolution="NeverOverwrite" SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange>`+occID(master, 2)+`<t:Updates>`+
		`<t:SetItemField><t:FieldURI FieldURI="calendar:Start"/><t:CalendarItem><t:Start>2026-03-10T09:00:00Z</t:Start></t:CalendarItem></t:SetItemField>`+
		`<t:SetItemField><t:FieldURI FieldURI="calendar:End"/><t:CalendarItem><t:End>2026-03-10T09:30:00Z</t:End></t:CalendarItem></t:SetItemField>`+
		`<t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:CalendarItem><t:Subject>Moved</t:Subject></t:CalendarItem></t:SetItemField>`+
		`</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
	if got := up.codes(t); got[0] != "Success:NoError" {
		t.Fatalf("update occurrence: %v\n%s", got, up.raw)
	}
	exID := attr(find(up.root, "ItemId"), "Id")
	del := e.call(t, alice, `<m:DeleteItem DeleteType="MoveToDeletedItems" SendMeetingCancellations="SendToNone"><m:ItemIds>`+occID(master, 3)+`</m:ItemIds></m:DeleteItem>`)
	if got := del.codes(t); got[0] != "Success:NoError" {
		t.Fatalf("delete occurrence: %v\n%s", got, del.raw)
	}

	m := getWith(t, e, master, "")
	mod := find(m.root, "ModifiedOccurrences")
	if mod == nil || len(mod.Kids) != 1 || find(mod, "OriginalStart").Text != "2026-03-09T08:00:00Z" || find(mod, "Start").Text != "2026-03-10T09:00:00Z" || attr(find(mod, "ItemId"), "Id") != exID {
		t.Fatalf("ModifiedOccurrences: %s", m.raw)
	}
	dels := find(m.root, "DeletedOccurrences")
	if dels == nil || len(dels.Kids) != 1 || find(dels, "Start").Text != "2026-03-16T08:00:00Z" {
		t.Fatalf("DeletedOccurrences: %s", m.raw)
	}
	if find(find(m.root, "FirstOccurrence"), "Start").Text != "2026-03-02T08:00:00Z" || find(find(m.root, "LastOccurrence"), "Start").Text != "2026-05-04T07:00:00Z" {
		t.Fatalf("first/last occurrence: %s", m.raw)
	}
	if attr(find(m.root, "ItemId"), "ChangeKey") == ck0 {
		t.Fatal("master ChangeKey did not change")
	}
	s1 := e.call(t, alice, syncReq("calendar", state, 10))
	ups := findAll(s1.root, "Update")
	if len(ups) != 1 || attr(find(ups[0], "ItemId"), "Id") != master || len(findAll(s1.root, "Create")) != 0 {
		t.Fatalf("sync after occurrence changes: %s", s1.raw)
	}

	// The exception by its own id, and its master by RecurringMasterItemId.
	x := getWith(t, e, exID, "")
	if find(x.root, "CalendarItemType").Text != "Exception" || find(x.root, "Subject").Text != "Moved" {
		t.Fatalf("exception: %s", x.raw)
	}
	rm := e.call(t, alice, getIDs(`<t:RecurringMasterItemId OccurrenceId="`+exID+`"/>`))
	if attr(find(rm.root, "ItemId"), "Id") != master {
		t.Fatalf("RecurringMasterItemId: %s", rm.raw)
	}

	tests := []struct {
		name, ids, want string
	}{
		{"deleted occurrence", occID(master, 3), "Error:ErrorCalendarOccurrenceIsDeletedFromRecurrence"},
		{"index beyond the range", `<t:OccurrenceItemId RecurringMasterId="` + master + `" InstanceIndex="11"/>`, "Error:ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange"},
		{"unknown master", occID("AAMkAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", 1), "Error:ErrorItemNotFound"},
		{"another mailbox's master", occID(master, 1), "Error:ErrorItemNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			who := alice
			if strings.HasPrefix(tt.name, "another") {
				who = bob
			}
			if got := e.call(t, who, getIDs(tt.ids)).codes(t); got[0] != tt.want {
				t.Fatalf("got %v, want %s", got, tt.want)
			}
		})
	}
	if got := e.call(t, alice, getIDs(`<t:OccurrenceItemId RecurringMasterId="`+master+`" InstanceIndex="0"/>`)).fault(t); got != "ErrorSchemaValidation" {
		t.Fatalf("index 0: %s", got)
	}

	cv := e.call(t, alice, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>`+
		`<m:CalendarView MaxEntriesReturned="3" StartDate="2026-03-01T00:00:00Z" EndDate="2026-04-01T00:00:00Z"/>`+
		`<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`)
	var types, starts []string
	for _, n := range findAll(cv.root, "CalendarItem") {
		types = append(types, find(n, "CalendarItemType").Text)
		starts = append(starts, find(n, "Start").Text)
	}
	// March: 2 (occ), 9 moved to 10 (exception), 16 deleted, 23, 30 (CEST).
	if strings.Join(types, ",") != "Occurrence,Exception,Occurrence" || strings.Join(starts, ",") != "2026-03-02T08:00:00Z,2026-03-10T09:00:00Z,2026-03-23T08:00:00Z" ||
		attr(find(cv.root, "RootFolder"), "TotalItemsInView") != "4" || attr(find(cv.root, "RootFolder"), "IncludesLastItemInRange") != "false" {
		t.Fatalf("calendar view %v %v\n%s", types, starts, cv.raw)
	}
	// Deleting the master removes its exceptions.
	if got := e.call(t, alice, `<m:DeleteItem DeleteType="HardDelete" SendMeetingCancellations="SendToNone"><m:ItemIds><t:ItemId Id="`+master+`"/></m:ItemIds></m:DeleteItem>`).codes(t); got[0] != "Success:NoError" {
		t.Fatalf("delete master: %v", got)
	}
	if got := getWith(t, e, exID, "").codes(t); got[0] != "Error:ErrorItemNotFound" {
		t.Fatalf("exception after its master was deleted: %v", got)
	}
}

// Invalid patterns get the documented codes and create nothing.
func TestInvalidRecurrence(t *testing.T) {
	e := newEnv(t, Options{})
	tests := []struct {
		name, pattern, rng, want string
	}{
		{"day of month 32", `<t:AbsoluteMonthlyRecurrence><t:Interval>1</t:Interval><t:DayOfMonth>32</t:DayOfMonth></t:AbsoluteMonthlyRecurrence>`,
			`<t:NoEndRecurrence><t:StartDate>2026-03-02</t:StartDate></t:NoEndRecurrence>`, "Error:ErrorCalendarInvalidRecurrence"},
		{"unknown day", `<t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Funday</t:DaysOfWeek></t:WeeklyRecurrence>`,
			`<t:NoEndRecurrence><t:StartDate>2026-03-02</t:StartDate></t:NoEndRecurrence>`, "Error:ErrorCalendarInvalidDayForWeeklyRecurrence"},
		{"relative without index", `<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Friday</t:DaysOfWeek></t:RelativeMonthlyRecurrence>`,
			`<t:NoEndRecurrence><t:StartDate>2026-03-02</t:StartDate></t:NoEndRecurrence>`, "Error:ErrorCalendarInvalidRecurrence"},
		{"end before start", `<t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence>`,
			`<t:EndDateRecurrence><t:StartDate>2026-03-02</t:StartDate><t:EndDate>2026-03-01</t:EndDate></t:EndDateRecurrence>`, "Error:ErrorCalendarInvalidRecurrence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(t, alice, `<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items><t:CalendarItem>`+
				`<t:Subject>X</t:Subject><t:Start>2026-03-02T08:00:00Z</t:Start><t:End>2026-03-02T08:30:00Z</t:End><t:Recurrence>`+tt.pattern+tt.rng+`</t:Recurrence></t:CalendarItem></m:Items></m:CreateItem>`)
			if got := r.codes(t); got[0] != tt.want {
				t.Fatalf("got %v, want %s\n%s", got, tt.want, r.raw)
			}
		})
	}
	items, err := e.srv.Items(alice, "calendar")
	must(t, err)
	if len(items) != 0 {
		t.Fatalf("%d items created", len(items))
	}
}

// A ServerBusy fault aimed at occurrence writes spares every other call.
func TestServerBusyOnOccurrences(t *testing.T) {
	e := newEnv(t, Options{})
	master := attr(find(e.call(t, alice, weeklySeries).root, "ItemId"), "Id")
	e.srv.SetFaults(Faults{ServerBusy: 1, BackOff: 250 * time.Millisecond, ServerBusyOp: "DeleteItem", ServerBusyOccurrences: true})
	if got := getWith(t, e, master, "").codes(t); got[0] != "Success:NoError" {
		t.Fatalf("get master: %v", got)
	}
	del := `<m:DeleteItem DeleteType="MoveToDeletedItems" SendMeetingCancellations="SendToNone"><m:ItemIds>` + occID(master, 4) + `</m:ItemIds></m:DeleteItem>`
	r := e.call(t, alice, del)
	if got := r.fault(t); got != "ErrorServerBusy" || !strings.Contains(r.raw, `Name="BackOffMilliseconds">250<`) {
		t.Fatalf("busy: %s\n%s", got, r.raw)
	}
	if got := e.call(t, alice, del).codes(t); got[0] != "Success:NoError" {
		t.Fatalf("after the fault: %v", got)
	}
}

// An occurrence's ItemId from a CalendarView addresses it as well as its
// OccurrenceItemId; updated, it keeps that id as an exception.
func TestOccurrenceByItemID(t *testing.T) {
	e := newEnv(t, Options{})
	master := attr(find(e.call(t, alice, weeklySeries).root, "ItemId"), "Id")
	cv := e.call(t, alice, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>`+
		`<m:CalendarView StartDate="2026-03-08T00:00:00Z" EndDate="2026-03-10T00:00:00Z"/>`+
		`<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`)
	ids := findAll(cv.root, "ItemId")
	if len(ids) != 1 {
		t.Fatalf("calendar view: %s", cv.raw)
	}
	occ := attr(ids[0], "Id")
	up := e.call(t, alice, `<m:UpdateItem ConflictResolution="AutoResolve" SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange><t:ItemId Id="`+occ+`"/><t:Updates>`+
		`<t:SetItemField><t:FieldURI FieldURI="calendar:Location"/><t:CalendarItem><t:Location>Room 7</t:Location></t:CalendarItem></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
	if got := up.codes(t); got[0] != "Success:NoError" || attr(find(up.root, "ItemId"), "Id") != occ {
		t.Fatalf("update by ItemId: %v\n%s", got, up.raw)
	}
	g := e.call(t, alice, getIDs(occID(master, 2)))
	if find(g.root, "CalendarItemType").Text != "Exception" || find(g.root, "Location").Text != "Room 7" || attr(find(g.root, "ItemId"), "Id") != occ {
		t.Fatalf("occurrence 2 after the update: %s", g.raw)
	}
	// A recurrence cannot be given to an occurrence.
	bad := e.call(t, alice, `<m:UpdateItem ConflictResolution="AutoResolve" SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange><t:ItemId Id="`+occ+`"/><t:Updates>`+
		`<t:SetItemField><t:FieldURI FieldURI="calendar:Recurrence"/><t:CalendarItem><t:Recurrence><t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence><t:NoEndRecurrence><t:StartDate>2026-03-02</t:StartDate></t:NoEndRecurrence></t:Recurrence></t:CalendarItem></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
	if got := bad.codes(t); got[0] != "Error:ErrorInvalidPropertySet" {
		t.Fatalf("recurrence on an occurrence: %v", got)
	}
}

// BenchmarkOccurrenceAt measures finding a late occurrence of a daily
// series without end (expansion from the start each time).
func BenchmarkOccurrenceAt(b *testing.B) {
	srv := New(Options{})
	must(b, srv.AddMailbox(alice, "alice"))
	id, err := srv.AddCalendarItemWith(alice, CalendarItem{Subject: "D", Start: t0, End: t0.Add(time.Hour)},
		Extras{Recurrence: &Recurrence{Pattern: "Daily", Interval: 1, StartDate: "2026-03-02"}, StartTimeZone: "W. Europe Standard Time"})
	must(b, err)
	m := srv.itemsByID[id]
	c, cerr := clockOf(m)
	if cerr != nil {
		b.Fatal(cerr)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := c.occurrenceAt(1000); !ok {
			b.Fatal("no occurrence 1000")
		}
	}
}

// SetItemField and DeleteItemField on one named extended property
// (extendedfielduri) change only that property.
func TestUpdateExtendedProperty(t *testing.T) {
	e := newEnv(t, Options{})
	id := createContactWithKey(t, e, "key-1", "Ann")
	other := `<t:ExtendedFieldURI PropertySetId="2f98f854-a3ff-4ae6-b70a-fc40b568f277" PropertyName="Other" PropertyType="String"/>`
	update := func(change string) []string {
		t.Helper()
		return e.call(t, alice, `<m:UpdateItem ConflictResolution="AlwaysOverwrite"><m:ItemChanges><t:ItemChange><t:ItemId Id="`+id+`"/><t:Updates>`+change+`</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`).codes(t)
	}
	if got := update(`<t:SetItemField>` + other + `<t:Contact><t:ExtendedProperty>` + other + `<t:Value>v</t:Value></t:ExtendedProperty></t:Contact></t:SetItemField>`); got[0] != "Success:NoError" {
		t.Fatalf("set: %v", got)
	}
	x, err := e.srv.ItemExtras(id)
	must(t, err)
	if len(x.Extended) != 2 {
		t.Fatalf("extended after set: %+v", x.Extended)
	}
	if got := update(`<t:SetItemField>` + other + `<t:Contact><t:ExtendedProperty>` + keyURI() + `<t:Value>k2</t:Value></t:ExtendedProperty></t:Contact></t:SetItemField>`); got[0] != "Error:ErrorIncorrectUpdatePropertyCount" {
		t.Fatalf("mismatched property: %v", got)
	}
	if got := update(`<t:DeleteItemField>` + other + `</t:DeleteItemField>`); got[0] != "Success:NoError" {
		t.Fatalf("delete: %v", got)
	}
	x, err = e.srv.ItemExtras(id)
	must(t, err)
	if len(x.Extended) != 1 || x.Extended[0].Value != "key-1" {
		t.Fatalf("extended after delete: %+v", x.Extended)
	}
}
