package policy

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// ewsResponse wraps a response body in the envelope Exchange 2016 sends.
func ewsResponse(op, messages string) string {
	return `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">` +
		`<s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="1" xmlns:h="` + NSEWSTypes + `"/></s:Header>` +
		`<s:Body><m:` + op + `Response xmlns:m="` + NSEWSMessages + `" xmlns:t="` + NSEWSTypes + `"><m:ResponseMessages>` +
		messages + `</m:ResponseMessages></m:` + op + `Response></s:Body></s:Envelope>`
}

func okMsg(op, inner string) string {
	return `<m:` + op + `ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>` + inner + `</m:` + op + `ResponseMessage>`
}

func errMsg(op string) string {
	return `<m:` + op + `ResponseMessage ResponseClass="Error"><m:MessageText>The specified object was not found in the store.</m:MessageText><m:ResponseCode>ErrorItemNotFound</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Items/></m:` + op + `ResponseMessage>`
}

func syncResponse(changes string) string {
	return ewsResponse("SyncFolderItems", okMsg("SyncFolderItems", `<m:SyncState>H4sI</m:SyncState><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange><m:Changes>`+changes+`</m:Changes>`))
}

func mustParse(t *testing.T, body string) *EWSRequest {
	t.Helper()
	r, err := ParseEWS(strings.NewReader(ewsEnvelope(impAlice, body)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// relay reads resp through Watch the way the proxy does and checks that
// the client gets every byte unchanged.
func relay(t *testing.T, items *EWSItems, subject string, req *EWSRequest, resp string) {
	t.Helper()
	body := io.NopCloser(iotest.HalfReader(strings.NewReader(resp)))
	w := items.Watch("exchange", subject, req, body)
	got, err := io.ReadAll(w)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if string(got) != resp {
		t.Fatalf("relayed body changed:\n%s\nwant\n%s", got, resp)
	}
}

func known(items *EWSItems, subject string, ids ...string) map[string]string {
	r := &EWSRequest{ItemIDs: ids}
	items.Resolve("exchange", subject, r)
	return r.ItemFolders
}

const (
	alice = "alice@corp.example"
	bob   = "bob@corp.example"
)

func TestEWSItemsLearnAndForget(t *testing.T) {
	items := NewEWSItems(0)
	syncContacts := mustParse(t, strings.Replace(syncCalendar, `Id="calendar"`, `Id="contacts"`, 1))
	relay(t, items, alice, syncContacts, syncResponse(
		`<t:Create><t:Contact><t:ItemId Id="C1" ChangeKey="EQ1"/><t:DisplayName>Ada</t:DisplayName></t:Contact></t:Create>`+
			`<t:Update><t:Contact><t:ItemId Id="C2" ChangeKey="EQ2"/></t:Contact></t:Update>`+
			`<t:ReadFlagChange><t:ItemId Id="R1"/><t:IsRead>true</t:IsRead></t:ReadFlagChange>`+
			`<t:Create><t:Contact><t:ParentFolderId Id="P"/><t:Attachments><t:FileAttachment><t:AttachmentId Id="AT"/></t:FileAttachment></t:Attachments></t:Contact></t:Create>`))
	if got := known(items, alice, "C1", "C2", "R1", "P", "AT"); len(got) != 2 || got["C1"] != "contacts" || got["C2"] != "contacts" {
		t.Fatalf("after sync: %v", got)
	}
	if got := known(items, "ALICE@corp.example", "C1"); got["C1"] != "contacts" {
		t.Fatalf("subject case: %v", got)
	}
	if got := known(items, bob, "C1"); len(got) != 0 {
		t.Fatalf("another subject sees alice's ids: %v", got)
	}
	if got := (&EWSRequest{ItemIDs: []string{"C1"}}); func() bool { items.Resolve("other-dest", alice, got); return len(got.ItemFolders) != 0 }() {
		t.Fatal("another destination sees the ids")
	}

	// A sync that reports a deletion forgets the id.
	relay(t, items, alice, syncContacts, syncResponse(`<t:Delete><t:ItemId Id="C2"/></t:Delete>`))
	if got := known(items, alice, "C2"); len(got) != 0 {
		t.Fatalf("deleted id still known: %v", got)
	}

	// CreateItem teaches the new id, in the saved folder.
	relay(t, items, alice, mustParse(t, createEvent), ewsResponse("CreateItem", okMsg("CreateItem", `<m:Items><t:CalendarItem><t:ItemId Id="E1" ChangeKey="DwA"/></t:CalendarItem></m:Items>`)))
	if got := known(items, alice, "E1"); got["E1"] != "calendar" {
		t.Fatalf("created: %v", got)
	}

	// DeleteItem forgets the ids whose messages succeeded, by position.
	relay(t, items, alice, mustParse(t, `<m:DeleteItem DeleteType="HardDelete" SendMeetingCancellations="SendToNone"><m:ItemIds><t:ItemId Id="C1"/><t:ItemId Id="E1"/></m:ItemIds></m:DeleteItem>`),
		ewsResponse("DeleteItem", errMsg("DeleteItem")+okMsg("DeleteItem", "")))
	if got := known(items, alice, "C1", "E1"); len(got) != 1 || got["C1"] != "contacts" {
		t.Fatalf("after delete: %v", got)
	}

	// MoveItem forgets the source and learns the new id in the target.
	mv := mustParse(t, `<m:MoveItem><m:ToFolderId><t:DistinguishedFolderId Id="calendar"/></m:ToFolderId><m:ItemIds><t:ItemId Id="C1"/></m:ItemIds></m:MoveItem>`)
	items.Resolve("exchange", alice, mv)
	relay(t, items, alice, mv, ewsResponse("MoveItem", okMsg("MoveItem", `<m:Items><t:Contact><t:ItemId Id="C1moved"/></t:Contact></m:Items>`)))
	if got := known(items, alice, "C1", "C1moved"); len(got) != 1 || got["C1moved"] != "calendar" {
		t.Fatalf("after move: %v", got)
	}

	// FindItem on an allowed folder.
	relay(t, items, alice, mustParse(t, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>`),
		ewsResponse("FindItem", okMsg("FindItem", `<m:RootFolder TotalItemsInView="1" IncludesLastItemInRange="true"><t:Items><t:Contact><t:ItemId Id="F1"/></t:Contact></t:Items></m:RootFolder>`)))
	if got := known(items, alice, "F1"); got["F1"] != "contacts" {
		t.Fatalf("found: %v", got)
	}
}

func TestEWSItemsIgnoresWhatItCannotTie(t *testing.T) {
	items := NewEWSItems(0)
	syncContacts := mustParse(t, strings.Replace(syncCalendar, `Id="calendar"`, `Id="contacts"`, 1))
	for name, resp := range map[string]string{
		"error message":      ewsResponse("SyncFolderItems", `<m:SyncFolderItemsResponseMessage ResponseClass="Error"><m:Changes><t:Create><t:Contact><t:ItemId Id="X"/></t:Contact></t:Create></m:Changes></m:SyncFolderItemsResponseMessage>`),
		"warning message":    ewsResponse("SyncFolderItems", `<m:SyncFolderItemsResponseMessage ResponseClass="Warning"><m:Changes><t:Create><t:Contact><t:ItemId Id="X"/></t:Contact></t:Create></m:Changes></m:SyncFolderItemsResponseMessage>`),
		"other operation":    ewsResponse("GetItem", okMsg("GetItem", `<m:Items><t:Contact><t:ItemId Id="X"/></t:Contact></m:Items>`)),
		"foreign namespace":  strings.ReplaceAll(syncResponse(`<t:Create><t:Contact><t:ItemId Id="X"/></t:Contact></t:Create>`), NSEWSTypes, "urn:x"),
		"soap fault":         `<s:Envelope xmlns:s="` + NSSOAP + `"><s:Body><s:Fault><faultcode>a:ErrorServerBusy</faultcode><t:ItemId xmlns:t="` + NSEWSTypes + `" Id="X"/></s:Fault></s:Body></s:Envelope>`,
		"item id in header":  strings.Replace(syncResponse(""), `<s:Header>`, `<s:Header><t:ItemId xmlns:t="`+NSEWSTypes+`" Id="X"/>`, 1),
		"doctype":            `<!DOCTYPE s:Envelope>` + syncResponse(`<t:Create><t:Contact><t:ItemId Id="X"/></t:Contact></t:Create>`),
		"nested too deep":    syncResponse(`<t:Create><t:Contact><t:Foo><t:ItemId Id="X"/></t:Foo></t:Contact></t:Create>`),
		"not xml":            "\x1f\x8b\x08\x00 gzip bytes",
		"huge token first":   ewsResponse("SyncFolderItems", okMsg("SyncFolderItems", `<m:SyncState>`+strings.Repeat("A", maxEWSResponseToken+1)+`</m:SyncState><m:Changes><t:Create><t:Contact><t:ItemId Id="X"/></t:Contact></t:Create></m:Changes>`)),
		"no response at all": "",
	} {
		t.Run(name, func(t *testing.T) {
			relay(t, items, alice, syncContacts, resp)
			if got := known(items, alice, "X"); len(got) != 0 {
				t.Fatalf("learned %v", got)
			}
		})
	}
}

func TestEWSItemsLRU(t *testing.T) {
	items := NewEWSItems(3)
	syncContacts := mustParse(t, strings.Replace(syncCalendar, `Id="calendar"`, `Id="contacts"`, 1))
	create := func(ids ...string) string {
		var b strings.Builder
		for _, id := range ids {
			b.WriteString(`<t:Create><t:Contact><t:ItemId Id="` + id + `"/></t:Contact></t:Create>`)
		}
		return syncResponse(b.String())
	}
	relay(t, items, alice, syncContacts, create("A", "B", "C"))
	known(items, alice, "A") // A is now the most recently used
	relay(t, items, bob, syncContacts, create("D"))
	if n := items.Len("exchange"); n != 3 {
		t.Fatalf("%d ids kept, cap 3", n)
	}
	if got := known(items, alice, "A", "B", "C"); len(got) != 2 || got["B"] != "" {
		t.Fatalf("after eviction: %v (B was least recently used)", got)
	}
}

// TestEWSItemsKnownBeforeRelayed checks the ordering promise: when Read
// returns a chunk that completes an id, the id is already known, so a
// client that acts on it at once is not refused.
func TestEWSItemsKnownBeforeRelayed(t *testing.T) {
	items := NewEWSItems(0)
	req := mustParse(t, strings.Replace(syncCalendar, `Id="calendar"`, `Id="contacts"`, 1))
	resp := syncResponse(`<t:Create><t:Contact><t:ItemId Id="EARLY"/></t:Contact></t:Create>`)
	w := items.Watch("exchange", alice, req, io.NopCloser(iotest.OneByteReader(strings.NewReader(resp))))
	defer w.Close()
	var got bytes.Buffer
	b := make([]byte, 1)
	for {
		n, err := w.Read(b)
		got.Write(b[:n])
		if strings.HasSuffix(got.String(), `<t:ItemId Id="EARLY"/>`) {
			if k := known(items, alice, "EARLY"); k["EARLY"] != "contacts" {
				t.Fatal("id relayed before it was known")
			}
			return
		}
		if err != nil {
			t.Fatalf("read %q: %v", got.String(), err)
		}
	}
}

// TestEWSItemsCloseEarly: a client that goes away mid-response must not
// leave the parser goroutine behind.
func TestEWSItemsCloseEarly(t *testing.T) {
	items := NewEWSItems(0)
	req := mustParse(t, strings.Replace(syncCalendar, `Id="calendar"`, `Id="contacts"`, 1))
	w := items.Watch("exchange", alice, req, io.NopCloser(strings.NewReader(syncResponse(""))))
	if _, err := w.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	select {
	case <-w.(*ewsWatch).dead:
	case <-time.After(10 * time.Second):
		t.Fatal("parser still running after Close")
	}
	// A request whose response teaches nothing is not wrapped at all.
	body := io.NopCloser(strings.NewReader(""))
	if got := items.Watch("exchange", alice, mustParse(t, `<m:GetFolder><m:FolderIds><t:DistinguishedFolderId Id="contacts"/></m:FolderIds></m:GetFolder>`), body); got != body {
		t.Fatal("GetFolder response wrapped")
	}
}

// FuzzEWSWatch: whatever the upstream sends, the relayed bytes are the
// upstream's bytes and the watcher ends.
func FuzzEWSWatch(f *testing.F) {
	f.Add(syncResponse(`<t:Create><t:Contact><t:ItemId Id="C1"/></t:Contact></t:Create><t:Delete><t:ItemId Id="C1"/></t:Delete>`), uint8(3))
	f.Add(ewsResponse("SyncFolderItems", errMsg("SyncFolderItems")), uint8(1))
	f.Add(`<s:Envelope xmlns:s="`+NSSOAP+`"><s:Body>`, uint8(7))
	f.Add("<!DOCTYPE x []>", uint8(0))
	f.Fuzz(func(t *testing.T, resp string, chunk uint8) {
		items := NewEWSItems(4)
		req := &EWSRequest{Operation: "SyncFolderItems", FolderRefs: []EWSFolderRef{{"SyncFolderId", "contacts"}}}
		var r io.Reader = strings.NewReader(resp)
		if chunk%2 == 1 {
			r = iotest.OneByteReader(r)
		}
		w := items.Watch("exchange", alice, req, io.NopCloser(r))
		got, err := io.ReadAll(w)
		w.Close()
		if err != nil || string(got) != resp {
			t.Fatalf("relayed %q (%v), want %q", got, err, resp)
		}
		if items.Len("exchange") > 4 {
			t.Fatal("cap exceeded")
		}
	})
}

// BenchmarkEWSWatch relays a 512-change SyncFolderItems response (the most
// EWS returns) through the id watcher.
func BenchmarkEWSWatch(b *testing.B) {
	var changes strings.Builder
	for i := range 512 {
		changes.WriteString(`<t:Create><t:Contact><t:ItemId Id="AAMkADk0ZmQ1Y2E3LWE0NzQtNDc0Zi1hZjFjLWYzYjBhYjE4MmFhMwBGAAAAAABc` + strings.Repeat("x", i%7) +
			`=" ChangeKey="EQAAABYAAAB"/><t:DisplayName>Contact</t:DisplayName><t:GivenName>Ada</t:GivenName><t:Surname>Lovelace</t:Surname></t:Contact></t:Create>`)
	}
	resp := syncResponse(changes.String())
	req := &EWSRequest{Operation: "SyncFolderItems", FolderRefs: []EWSFolderRef{{"SyncFolderId", "contacts"}}}
	items := NewEWSItems(0)
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(resp)))
	b.ReportAllocs()
	for b.Loop() {
		w := items.Watch("exchange", alice, req, io.NopCloser(strings.NewReader(resp)))
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{w}, buf); err != nil {
			b.Fatal(err)
		}
		w.Close()
	}
}

// An occurrence is addressed by its master's id: deleting the occurrence
// leaves the master known, and the occurrence ids a GetItem of it returns
// are learnt in the master's folder; another subject's master stays unknown.
func TestEWSItemsOccurrences(t *testing.T) {
	items := NewEWSItems(0)
	relay(t, items, alice, mustParse(t, createEvent), ewsResponse("CreateItem", okMsg("CreateItem", `<m:Items><t:CalendarItem><t:ItemId Id="M1" ChangeKey="DwA"/></t:CalendarItem></m:Items>`)))
	get := mustParse(t, `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds><t:OccurrenceItemId RecurringMasterId="M1" InstanceIndex="2"/></m:ItemIds></m:GetItem>`)
	items.Resolve("exchange", alice, get)
	if get.ItemFolders["M1"] != "calendar" {
		t.Fatalf("master of the occurrence unknown: %v", get.ItemFolders)
	}
	relay(t, items, alice, get, ewsResponse("GetItem", okMsg("GetItem", `<m:Items><t:CalendarItem><t:ItemId Id="O2" ChangeKey="DwB"/></t:CalendarItem></m:Items>`)))
	if got := known(items, alice, "O2"); got["O2"] != "calendar" {
		t.Fatalf("occurrence id: %v", got)
	}
	del := mustParse(t, `<m:DeleteItem DeleteType="MoveToDeletedItems" SendMeetingCancellations="SendToNone"><m:ItemIds><t:OccurrenceItemId RecurringMasterId="M1" InstanceIndex="3"/></m:ItemIds></m:DeleteItem>`)
	items.Resolve("exchange", alice, del)
	relay(t, items, alice, del, ewsResponse("DeleteItem", okMsg("DeleteItem", "")))
	if got := known(items, alice, "M1"); got["M1"] != "calendar" {
		t.Fatalf("deleting an occurrence forgot its master: %v", got)
	}
	if got := known(items, bob, "M1"); len(got) != 0 {
		t.Fatalf("another subject knows the master: %v", got)
	}
}
