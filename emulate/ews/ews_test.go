package ews

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func syncOnce(t *testing.T, e *env, who, folder, state string, max int) (creates, updates, deletes []string, next string, last bool) {
	t.Helper()
	r := e.call(t, who, syncReq(folder, state, max))
	if c := r.codes(t); len(c) != 1 || c[0] != "Success:NoError" {
		t.Fatalf("sync: %v\n%s", c, r.raw)
	}
	msg := find(r.root, "SyncFolderItemsResponseMessage")
	for _, ch := range msg.Child(NSMessages, "Changes").Kids {
		id := find(ch, "ItemId")
		switch ch.Local {
		case "Create":
			if attr(id, "ChangeKey") == "" {
				t.Fatalf("Create without ChangeKey: %s", r.raw)
			}
			creates = append(creates, attr(id, "Id"))
		case "Update":
			updates = append(updates, attr(id, "Id"))
		case "Delete":
			deletes = append(deletes, attr(id, "Id"))
		}
	}
	return creates, updates, deletes, msg.Child(NSMessages, "SyncState").Text, msg.Child(NSMessages, "IncludesLastItemInRange").Text == "true"
}

func TestSyncFolderItemsOverTLS(t *testing.T) {
	e := newEnv(t, Options{})
	var ids []string
	for i := 0; i < 3; i++ {
		id, err := e.srv.AddContact(alice, Contact{GivenName: fmt.Sprint("G", i), Surname: "S", Emails: map[string]string{"EmailAddress1": fmt.Sprintf("c%d@x.example", i)}})
		must(t, err)
		ids = append(ids, id)
	}
	c1, _, _, st, last := syncOnce(t, e, alice, "contacts", "", 2)
	if len(c1) != 2 || last {
		t.Fatalf("first page: %d creates, last=%v", len(c1), last)
	}
	c2, _, _, st, last := syncOnce(t, e, alice, "contacts", st, 2)
	if len(c2) != 1 || !last {
		t.Fatalf("second page: %v last=%v", c2, last)
	}
	if got := append(c1, c2...); !slices.Equal(got, ids) {
		t.Fatalf("creates %v, want %v", got, ids)
	}
	c3, u3, d3, st, last := syncOnce(t, e, alice, "contacts", st, 10)
	if len(c3)+len(u3)+len(d3) != 0 || !last {
		t.Fatalf("idle sync returned changes: %v %v %v", c3, u3, d3)
	}
	must(t, e.srv.EditItem(ids[0], map[string]string{"CompanyName": "Acme"}))
	must(t, e.srv.RemoveItem(ids[1]))
	fresh, _ := e.srv.AddContact(alice, Contact{Surname: "New"})
	ghost, _ := e.srv.AddContact(alice, Contact{Surname: "Ghost"})
	must(t, e.srv.RemoveItem(ghost))
	c4, u4, d4, st, _ := syncOnce(t, e, alice, "contacts", st, 10)
	if !slices.Equal(c4, []string{fresh}) || !slices.Equal(u4, []string{ids[0]}) || !slices.Equal(d4, []string{ids[1]}) {
		t.Fatalf("incremental: creates %v updates %v deletes %v", c4, u4, d4)
	}
	// other mailboxes and folders are unaffected
	if c, _, _, _, _ := syncOnce(t, e, bob, "contacts", "", 10); len(c) != 0 {
		t.Fatalf("bob sees %v", c)
	}
	if c, _, _, _, _ := syncOnce(t, e, alice, "calendar", "", 10); len(c) != 0 {
		t.Fatalf("calendar sees %v", c)
	}
	_ = st
}

func TestSyncStateValidation(t *testing.T) {
	e := newEnv(t, Options{})
	_, err := e.srv.AddContact(alice, Contact{Surname: "A"})
	must(t, err)
	_, _, _, st, _ := syncOnce(t, e, alice, "contacts", "", 10)
	_, _, _, calState, _ := syncOnce(t, e, alice, "calendar", "", 10)
	_, _, _, bobState, _ := syncOnce(t, e, bob, "contacts", "", 10)
	raw := []byte(st)
	raw[len(raw)/2] ^= 1
	bad := map[string]string{
		"garbage":          "bm90IGEgc3RhdGU=",
		"not base64":       "!!!",
		"tampered":         string(raw),
		"other folder":     calState,
		"other mailbox":    bobState,
		"truncated state":  st[:len(st)/2],
		"watermark forged": forgeState(e.srv, st),
	}
	for name, state := range bad {
		r := e.call(t, alice, syncReq("contacts", state, 10))
		if c := r.codes(t); len(c) != 1 || c[0] != "Error:ErrorInvalidSyncStateData" {
			t.Errorf("%s: %v", name, c)
		}
	}
	e.srv.InvalidateSyncStates()
	r := e.call(t, alice, syncReq("contacts", st, 10))
	if c := r.codes(t); c[0] != "Error:ErrorInvalidSyncStateData" {
		t.Fatalf("invalidated state accepted: %v", c)
	}
	if c, _, _, _, _ := syncOnce(t, e, alice, "contacts", "", 10); len(c) != 1 {
		t.Fatalf("full resync after invalidation: %v", c)
	}
	for _, n := range []int{0, 513, -1} {
		if code := e.call(t, alice, syncReq("contacts", "", n)).fault(t); code != "ErrorSchemaValidation" {
			t.Errorf("MaxChangesReturned=%d: %s", n, code)
		}
	}
	if c, _, _, _, _ := syncOnce(t, e, alice, "contacts", "", 512); len(c) != 1 {
		t.Fatal("MaxChangesReturned=512 refused")
	}
}

// forgeState re-encodes a state with watermark 0 under a different key.
func forgeState(real *Server, st string) string {
	other := New(Options{})
	s, err := real.decodeState(st)
	if err != nil {
		panic(err)
	}
	s.wm = 0
	return other.encodeState(s)
}

func createContactXML(folder, inner string) string {
	sf := ""
	if folder != "" {
		sf = `<m:SavedItemFolderId><t:DistinguishedFolderId Id="` + folder + `"/></m:SavedItemFolderId>`
	}
	return `<m:CreateItem MessageDisposition="SaveOnly">` + sf + `<m:Items><t:Contact>` + inner + `</t:Contact></m:Items></m:CreateItem>`
}

func getItemXML(id string) string {
	return `<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id="` + id + `"/></m:ItemIds></m:GetItem>`
}

func updateXML(mode, id, ck, updates string) string {
	ckAttr := ""
	if ck != "" {
		ckAttr = ` ChangeKey="` + ck + `"`
	}
	return `<m:UpdateItem ConflictResolution="` + mode + `" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange><t:ItemId Id="` + id + `"` + ckAttr + `/><t:Updates>` + updates + `</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`
}

func setField(uri, inner string) string {
	return `<t:SetItemField><t:FieldURI FieldURI="` + uri + `"/><t:Contact>` + inner + `</t:Contact></t:SetItemField>`
}

func TestContactLifecycle(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.call(t, alice, createContactXML("contacts", `<t:GivenName>Ada</t:GivenName><t:CompanyName>Analytical</t:CompanyName>`+
		`<t:EmailAddresses><t:Entry Key="EmailAddress1">ada@example.com</t:Entry></t:EmailAddresses>`+
		`<t:PhoneNumbers><t:Entry Key="MobilePhone">+44 20 0000</t:Entry></t:PhoneNumbers><t:Surname>Lovelace</t:Surname>`))
	if c := r.codes(t); c[0] != "Success:NoError" {
		t.Fatalf("create: %v\n%s", c, r.raw)
	}
	idn := find(r.root, "ItemId")
	id, ck := attr(idn, "Id"), attr(idn, "ChangeKey")

	g := e.call(t, alice, getItemXML(id))
	if c := g.codes(t); c[0] != "Success:NoError" {
		t.Fatalf("get: %v", c)
	}
	if find(g.root, "DisplayName").Text != "Ada Lovelace" || find(g.root, "Surname").Text != "Lovelace" || find(g.root, "ItemClass").Text != "IPM.Contact" {
		t.Fatalf("get body:\n%s", g.raw)
	}
	if e := find(g.root, "EmailAddresses").Kids[0]; attr(e, "Key") != "EmailAddress1" || e.Text != "ada@example.com" {
		t.Fatalf("emails:\n%s", g.raw)
	}

	r = e.call(t, alice, updateXML("NeverOverwrite", id, ck, setField("contacts:GivenName", `<t:GivenName>Augusta</t:GivenName>`)+
		`<t:SetItemField><t:IndexedFieldURI FieldURI="contacts:EmailAddress" FieldIndex="EmailAddress2"/><t:Contact><t:EmailAddresses><t:Entry Key="EmailAddress2">a2@example.com</t:Entry></t:EmailAddresses></t:Contact></t:SetItemField>`+
		`<t:DeleteItemField><t:IndexedFieldURI FieldURI="contacts:PhoneNumber" FieldIndex="MobilePhone"/></t:DeleteItemField>`))
	if c := r.codes(t); c[0] != "Success:NoError" {
		t.Fatalf("update: %v\n%s", c, r.raw)
	}
	ck2 := attr(find(r.root, "ItemId"), "ChangeKey")
	if ck2 == "" || ck2 == ck {
		t.Fatalf("ChangeKey did not change: %q -> %q", ck, ck2)
	}
	items, _ := e.srv.Items(alice, "contacts")
	if it := items[0]; it.Props["GivenName"] != "Augusta" || it.Props["DisplayName"] != "Augusta Lovelace" || it.Emails["EmailAddress2"] != "a2@example.com" || len(it.Phones) != 0 {
		t.Fatalf("after update: %+v", it)
	}

	// stale ChangeKey
	for mode, want := range map[string]string{"NeverOverwrite": "Error:ErrorIrresolvableConflict", "AutoResolve": "Error:ErrorIrresolvableConflict", "AlwaysOverwrite": "Success:NoError"} {
		r := e.call(t, alice, updateXML(mode, id, ck, setField("contacts:CompanyName", `<t:CompanyName>`+mode+`</t:CompanyName>`)))
		if c := r.codes(t); c[0] != want {
			t.Errorf("%s with stale ChangeKey: %v", mode, c)
		}
	}
	items, _ = e.srv.Items(alice, "contacts")
	if items[0].Props["CompanyName"] != "AlwaysOverwrite" {
		t.Fatalf("conflicting updates were applied: %v", items[0].Props)
	}
	ck3 := items[0].ChangeKey

	perItem := []struct{ name, updates, want string }{
		{"read-only", `<t:SetItemField><t:FieldURI FieldURI="item:DateTimeCreated"/><t:Contact><t:DateTimeCreated>2020-01-01T00:00:00Z</t:DateTimeCreated></t:Contact></t:SetItemField>`, "Error:ErrorInvalidPropertySet"},
		{"two properties", setField("contacts:GivenName", `<t:GivenName>A</t:GivenName><t:Surname>B</t:Surname>`), "Error:ErrorIncorrectUpdatePropertyCount"},
		{"mismatched property", setField("contacts:GivenName", `<t:Surname>B</t:Surname>`), "Error:ErrorIncorrectUpdatePropertyCount"},
		{"calendar field on contact", `<t:SetItemField><t:FieldURI FieldURI="calendar:Location"/><t:Contact><t:Surname>x</t:Surname></t:Contact></t:SetItemField>`, "Error:ErrorInvalidPropertyRequest"},
	}
	for _, tc := range perItem {
		if c := e.call(t, alice, updateXML("AutoResolve", id, ck3, tc.updates)).codes(t); c[0] != tc.want {
			t.Errorf("%s: %v", tc.name, c)
		}
	}
	faults := []struct{ name, body string }{
		{"out of order", createContactXML("contacts", `<t:Surname>L</t:Surname><t:GivenName>A</t:GivenName>`)},
		{"unknown element", createContactXML("contacts", `<t:Shoe>9</t:Shoe>`)},
		{"bad email key", createContactXML("contacts", `<t:EmailAddresses><t:Entry Key="EmailAddress9">x</t:Entry></t:EmailAddresses>`)},
		{"unknown FieldURI", updateXML("AutoResolve", id, ck3, `<t:SetItemField><t:FieldURI FieldURI="contacts:Shoe"/><t:Contact/></t:SetItemField>`)},
		{"no ConflictResolution", strings.Replace(updateXML("AutoResolve", id, ck3, ""), ` ConflictResolution="AutoResolve"`, "", 1)},
	}
	for _, tc := range faults {
		if code := e.call(t, alice, tc.body).fault(t); code != "ErrorSchemaValidation" {
			t.Errorf("%s: %s", tc.name, code)
		}
	}
	if got, _ := e.srv.Items(alice, "contacts"); len(got) != 1 {
		t.Fatalf("rejected creates stored items: %d", len(got))
	}

	r = e.call(t, alice, `<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="`+id+`"/></m:ItemIds></m:DeleteItem>`)
	if c := r.codes(t); c[0] != "Success:NoError" {
		t.Fatalf("delete: %v", c)
	}
	for _, body := range []string{getItemXML(id), `<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="` + id + `"/></m:ItemIds></m:DeleteItem>`} {
		if c := e.call(t, alice, body).codes(t); c[0] != "Error:ErrorItemNotFound" {
			t.Errorf("after delete: %v", c)
		}
	}
	if c := e.call(t, alice, getItemXML("not-base64!")).codes(t); c[0] != "Error:ErrorInvalidIdMalformed" {
		t.Errorf("malformed id: %v", c)
	}
	if c := e.call(t, alice, createContactXML("calendar", `<t:Surname>X</t:Surname>`)).codes(t); c[0] != "Error:ErrorCannotCreateContactInNonContactFolder" {
		t.Errorf("contact in calendar: %v", c)
	}
	if c := e.call(t, alice, createContactXML("inbox", `<t:Surname>X</t:Surname>`)).codes(t); c[0] != "Error:ErrorFolderNotFound" {
		t.Errorf("unknown folder: %v", c)
	}
}

func calendarXML(send, inner string) string {
	attr := ""
	if send != "" {
		attr = ` SendMeetingInvitations="` + send + `"`
	}
	return `<m:CreateItem` + attr + `><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items><t:CalendarItem>` + inner + `</t:CalendarItem></m:Items></m:CreateItem>`
}

func TestCalendarItems(t *testing.T) {
	e := newEnv(t, Options{})
	meeting := `<t:Subject>QBR</t:Subject><t:Body BodyType="Text">agenda</t:Body><t:Start>2026-03-05T14:00:00Z</t:Start><t:End>2026-03-05T15:00:00Z</t:End>` +
		`<t:IsAllDayEvent>false</t:IsAllDayEvent><t:Location>Room 1</t:Location><t:RequiredAttendees><t:Attendee><t:Mailbox><t:EmailAddress>bob@corp.example</t:EmailAddress></t:Mailbox></t:Attendee></t:RequiredAttendees>`
	if c := e.call(t, alice, calendarXML("", meeting)).codes(t); c[0] != "Error:ErrorSendMeetingInvitationsRequired" {
		t.Fatalf("no SendMeetingInvitations: %v", c)
	}
	r := e.call(t, alice, calendarXML("SendToAllAndSaveCopy", meeting))
	if c := r.codes(t); c[0] != "Success:NoError" {
		t.Fatalf("create: %v\n%s", c, r.raw)
	}
	id := attr(find(r.root, "ItemId"), "Id")
	inv := e.srv.Invitations()
	if len(inv) != 1 || inv[0].Kind != "Request" || inv[0].Organizer != alice || !slices.Equal(inv[0].To, []string{bob}) {
		t.Fatalf("invitations: %+v", inv)
	}
	g := e.call(t, alice, getItemXML(id))
	for name, want := range map[string]string{"Subject": "QBR", "Start": "2026-03-05T14:00:00Z", "End": "2026-03-05T15:00:00Z", "Location": "Room 1", "CalendarItemType": "Single", "IsAllDayEvent": "false", "Body": "agenda"} {
		if n := find(g.root, name); n == nil || n.Text != want {
			t.Errorf("%s: got %v want %s", name, n, want)
		}
	}
	if c := e.call(t, alice, calendarXML("SendToNone", `<t:Start>2026-03-05T14:00:00Z</t:Start><t:End>2026-03-05T13:00:00Z</t:End>`)).codes(t); c[0] != "Error:ErrorCalendarEndDateIsEarlierThanStartDate" {
		t.Errorf("end before start: %v", c)
	}
	if code := e.call(t, alice, calendarXML("SendToNone", `<t:Start>tomorrow</t:Start><t:End>2026-03-05T13:00:00Z</t:End>`)).fault(t); code != "ErrorSchemaValidation" {
		t.Errorf("bad dateTime: %s", code)
	}
	if c := e.call(t, alice, calendarXML("SendToNone", `<t:Start>2026-03-05T14:00:00Z</t:Start><t:End>2026-03-05T15:00:00Z</t:End><t:CalendarItemType>Occurrence</t:CalendarItemType>`)).codes(t); c[0] != "Error:ErrorInvalidPropertySet" {
		t.Errorf("read-only CalendarItemType: %v", c)
	}
	_, err := e.srv.AddCalendarItem(alice, CalendarItem{Subject: "Later", Start: t0.Add(96 * time.Hour), End: t0.Add(97 * time.Hour)})
	must(t, err)

	view := func(start, end string) soapResp {
		return e.call(t, alice, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:CalendarView StartDate="`+start+`" EndDate="`+end+`"/><m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`)
	}
	r = view("2026-03-05T00:00:00Z", "2026-03-06T00:00:00Z")
	if subs := findAll(r.root, "Subject"); len(subs) != 1 || subs[0].Text != "QBR" || find(r.root, "Body") != nil {
		t.Fatalf("calendar view:\n%s", r.raw)
	}
	if r := view("2026-03-01T00:00:00Z", "2026-03-10T00:00:00Z"); attr(find(r.root, "RootFolder"), "TotalItemsInView") != "2" {
		t.Fatalf("wide view:\n%s", r.raw)
	}
	if c := view("2026-03-06T00:00:00Z", "2026-03-05T00:00:00Z").codes(t); c[0] != "Error:ErrorCalendarEndDateIsEarlierThanStartDate" {
		t.Errorf("inverted view: %v", c)
	}
	upd := `<m:UpdateItem ConflictResolution="AlwaysOverwrite" SendMeetingInvitationsOrCancellations="SendToAllAndSaveCopy"><m:ItemChanges><t:ItemChange><t:ItemId Id="` + id + `"/><t:Updates>` +
		`<t:SetItemField><t:FieldURI FieldURI="calendar:Start"/><t:CalendarItem><t:Start>2026-03-05T16:00:00Z</t:Start></t:CalendarItem></t:SetItemField>` +
		`</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`
	if c := e.call(t, alice, upd).codes(t); c[0] != "Error:ErrorCalendarEndDateIsEarlierThanStartDate" {
		t.Errorf("moving start past end: %v", c)
	}
	del := `<m:DeleteItem DeleteType="MoveToDeletedItems"><m:ItemIds><t:ItemId Id="` + id + `"/></m:ItemIds></m:DeleteItem>`
	if c := e.call(t, alice, del).codes(t); c[0] != "Error:ErrorSendMeetingCancellationsRequired" {
		t.Errorf("delete without SendMeetingCancellations: %v", c)
	}
	del = strings.Replace(del, `DeleteType="MoveToDeletedItems"`, `DeleteType="MoveToDeletedItems" SendMeetingCancellations="SendToAllAndSaveCopy"`, 1)
	if c := e.call(t, alice, del).codes(t); c[0] != "Success:NoError" {
		t.Fatalf("delete: %v", c)
	}
	if inv := e.srv.Invitations(); len(inv) != 2 || inv[1].Kind != "Cancellation" {
		t.Fatalf("cancellation not sent: %+v", inv)
	}
}

func TestFindItemPaging(t *testing.T) {
	e := newEnv(t, Options{})
	for i := 0; i < 5; i++ {
		_, err := e.srv.AddContact(alice, Contact{GivenName: fmt.Sprint("N", i), Surname: "P"})
		must(t, err)
	}
	page := func(offset, max int) soapResp {
		return e.call(t, alice, fmt.Sprintf(`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="%d" Offset="%d" BasePoint="Beginning"/><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>`, max, offset))
	}
	r := page(0, 2)
	rf := find(r.root, "RootFolder")
	if len(findAll(r.root, "ItemId")) != 2 || attr(rf, "IndexedPagingOffset") != "2" || attr(rf, "TotalItemsInView") != "5" || attr(rf, "IncludesLastItemInRange") != "false" {
		t.Fatalf("page 1:\n%s", r.raw)
	}
	if find(r.root, "GivenName") != nil {
		t.Fatal("IdOnly returned properties")
	}
	r = page(4, 2)
	if rf := find(r.root, "RootFolder"); len(findAll(r.root, "ItemId")) != 1 || attr(rf, "IncludesLastItemInRange") != "true" {
		t.Fatalf("last page:\n%s", r.raw)
	}
	r = e.call(t, alice, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:CalendarView StartDate="2026-03-01T00:00:00Z" EndDate="2026-03-02T00:00:00Z"/><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>`)
	if c := r.codes(t); c[0] != "Error:ErrorCalendarFolderIsInvalidForCalendarView" {
		t.Fatalf("calendar view on contacts: %v", c)
	}
}

func TestConcurrentClients(t *testing.T) {
	e := newEnv(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			who := []string{alice, bob}[w%2]
			state := ""
			for i := 0; i < 8; i++ {
				r := e.call(t, who, createContactXML("contacts", fmt.Sprintf(`<t:GivenName>W%d</t:GivenName><t:Surname>N%d</t:Surname>`, w, i)))
				if c := r.codes(t); c[0] != "Success:NoError" {
					errs <- fmt.Sprint(c)
				}
				_, _, _, state, _ = syncOnce(t, e, who, "contacts", state, 512)
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, m := range []string{alice, bob} {
		if items, _ := e.srv.Items(m, "contacts"); len(items) != 24 {
			t.Errorf("%s has %d items", m, len(items))
		}
	}
}
