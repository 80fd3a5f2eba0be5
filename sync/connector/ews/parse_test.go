package ews

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	emu "github.com/syncgate/syncgate/emulate/ews"
	"github.com/syncgate/syncgate/policy"
	"github.com/syncgate/syncgate/sync/model"
)

// Every request shape the connector builds is a SOAP 1.1 envelope whose
// elements are in the namespaces of messages.xsd and types.xsd, as both
// the emulator's parser and the gateway's read them.
func TestRequestNamespaces(t *testing.T) {
	c, err := New(&http.Client{}, Options{URL: "https://mail.corp.example/EWS/Exchange.asmx"})
	must(t, err)
	ev, err := c.newCalendarItem(model.Event{Subject: "S", AllDay: true, StartDate: "2026-11-24", EndDate: "2026-11-25"}, "k")
	must(t, err)
	evUps, err := c.eventUpdates(model.Event{Subject: "T", Start: epoch, End: epoch.Add(1e9)}, &rCalendarItem{Start: "2026-11-24T00:00:00Z", End: "2026-11-25T00:00:00Z", IsAllDayEvent: "true"})
	must(t, err)
	rec, zone, _, err := c.recurrenceToEWS(model.Event{Series: "master", Start: epoch, End: epoch.Add(1e9),
		Recurrence: &model.Recurrence{Freq: "MONTHLY", ByDay: []string{"-1FR"}, Count: 5, TimeZone: "Europe/Berlin"}})
	must(t, err)
	series := *ev
	series.Recurrence, series.StartTimeZone = rec, &wTimeZone{ID: zone}
	occ := tOccurrenceItemID{RecurringMasterID: "AAMk", InstanceIndex: 3}
	ops := []struct {
		op   string
		body any
	}{
		{"SyncFolderItems", syncFolderItemsReq{ItemShape: itemShape{BaseShape: "IdOnly"}, SyncFolderID: folderRef{Folder: distinguishedFolderID{ID: "contacts"}}, SyncState: "AAAA", MaxChangesReturned: 5}},
		{"GetItem", getItemReq{ItemShape: readShape(model.Events), ItemIDs: itemIDs{IDs: []tItemID{{ID: "AAMk"}}}}},
		{"GetItem", getItemReq{ItemShape: readShape(model.Events), ItemIDs: itemIDs{Occurrences: []tOccurrenceItemID{occ, occ}}}},
		{"FindItem", findItemReq{Traversal: "Shallow", ItemShape: itemShape{BaseShape: "IdOnly"}, View: indexedPageItemView{MaxEntriesReturned: 1, BasePoint: "Beginning"},
			Restriction: &restriction{IsEqualTo: isEqualTo{Extended: keyURI, Constant: fieldURIOrConstant{Constant: constant{Value: "k"}}}}, Parents: folderRef{Folder: distinguishedFolderID{ID: "contacts"}}}},
		{"CreateItem", createItemReq{SendMeetingInvitations: "SendToNone", SavedItemFolderID: folderRef{Folder: distinguishedFolderID{ID: "calendar"}}, Items: newItems{CalendarItem: ev}}},
		{"CreateItem", createItemReq{SendMeetingInvitations: "SendToNone", SavedItemFolderID: folderRef{Folder: distinguishedFolderID{ID: "calendar"}}, Items: newItems{CalendarItem: &series}}},
		{"UpdateItem", updateItemReq{ConflictResolution: "NeverOverwrite", ItemChanges: itemChanges{Change: itemChange{ItemID: &tItemID{ID: "AAMk", ChangeKey: "CQ"},
			Updates: updates{List: append(contactUpdates(ann, &rContact{}), evUps...)}}}}},
		{"UpdateItem", updateItemReq{ConflictResolution: "AutoResolve", ItemChanges: itemChanges{Change: itemChange{Occurrence: &occ,
			Updates: updates{List: []any{setCal("calendar:Recurrence", &wCalendarItem{Recurrence: rec})}}}}}},
		{"DeleteItem", deleteItemReq{DeleteType: MoveToDeletedItems, ItemIDs: itemIDs{IDs: []tItemID{{ID: "AAMk"}}}}},
		{"DeleteItem", deleteItemReq{DeleteType: MoveToDeletedItems, ItemIDs: itemIDs{Occurrences: []tOccurrenceItemID{occ}}}},
	}
	for _, o := range ops {
		op, body := o.op, o.body
		b, err := marshalRequest(alice, body)
		must(t, err)
		r, err := emu.ParseRequest(bytes.NewReader(b), 1<<20)
		if err != nil {
			t.Fatalf("%s: emulator: %v", op, err)
		}
		if r.Operation != op || r.Version != ServerVersion || r.Impersonation.PrimarySmtpAddress != alice {
			t.Fatalf("%s: read as %s %s %+v", op, r.Operation, r.Version, r.Impersonation)
		}
		r.Body.Walk(func(n *emu.Node) {
			if n.Space != NSMessages && n.Space != NSTypes {
				t.Errorf("%s: element %s in namespace %q", op, n.Local, n.Space)
			}
		})
		g, err := policy.ParseEWS(bytes.NewReader(b), 1<<20)
		if err != nil || g.Operation != op || g.Impersonation != alice {
			t.Fatalf("%s: gateway: %v", op, err)
		}
	}
}

// parseEnvelope refuses what is not a plain SOAP envelope.
func TestParseEnvelopeStrict(t *testing.T) {
	cases := []struct{ name, body string }{
		{"doctype", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><s:Envelope xmlns:s="` + NSSOAP + `"><s:Body/></s:Envelope>`},
		{"entity", `<s:Envelope xmlns:s="` + NSSOAP + `"><s:Body>&a;</s:Body></s:Envelope>`},
		{"pi", `<s:Envelope xmlns:s="` + NSSOAP + `"><?php x?><s:Body/></s:Envelope>`},
		{"foreign envelope", `<Envelope><Body/></Envelope>`},
		{"utf-16", `<?xml version="1.0" encoding="utf-16"?><s:Envelope xmlns:s="` + NSSOAP + `"><s:Body/></s:Envelope>`},
		{"deep", `<s:Envelope xmlns:s="` + NSSOAP + `"><s:Body>` + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</s:Body></s:Envelope>`},
		{"truncated", `<s:Envelope xmlns:s="` + NSSOAP + `"><s:Body>`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := parseEnvelope([]byte(c.body)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := parseEnvelope([]byte(busyFault)); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseEnvelope: the response parser never panics, and what it
// accepts it can read again.
func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(busyFault))
	f.Add([]byte(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + NSSOAP + `"><s:Body><m:SyncFolderItemsResponse xmlns:m="` + NSMessages + `" xmlns:t="` + NSTypes + `"><m:ResponseMessages><m:SyncFolderItemsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:SyncState>AAAA</m:SyncState><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange><m:Changes><t:Create><t:Contact><t:ItemId Id="x" ChangeKey="y"/></t:Contact></t:Create><t:Delete><t:ItemId Id="z"/></t:Delete></m:Changes></m:SyncFolderItemsResponseMessage></m:ResponseMessages></m:SyncFolderItemsResponse></s:Body></s:Envelope>`))
	f.Add([]byte(`<s:Envelope xmlns:s="` + NSSOAP + `"><s:Body><m:GetItemResponse xmlns:m="` + NSMessages + `" xmlns:t="` + NSTypes + `"><m:ResponseMessages><m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:CalendarItem><t:ItemId Id="a"/><t:Start>2026-01-01T00:00:00Z</t:Start><t:End>2026-01-02T00:00:00Z</t:End><t:IsAllDayEvent>true</t:IsAllDayEvent><t:StartTimeZone Id="Tokyo Standard Time"/></t:CalendarItem></m:Items></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := parseEnvelope(b)
		if err != nil {
			return
		}
		if r := env.Body.Response; r != nil {
			for _, m := range r.Messages.List {
				if m.Items != nil {
					for i := range m.Items.Contacts {
						_, _ = m.Items.Contacts[i].item()
					}
					for i := range m.Items.CalendarItems {
						_, _ = m.Items.CalendarItems[i].item()
					}
				}
			}
		}
		if _, err := parseEnvelope(b); err != nil {
			t.Fatalf("accepted once, refused the second time: %v", err)
		}
	})
}
