package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// ewsEnvelope builds a request in the shape EWS clients send (EWS Managed
// API / ews-java-api): soap, t and m prefixes, RequestServerVersion and
// ExchangeImpersonation in the header.
func ewsEnvelope(header, body string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
  xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Header>
    <t:RequestServerVersion Version="Exchange2013_SP1" />
` + header + `
  </soap:Header>
  <soap:Body>
` + body + `
  </soap:Body>
</soap:Envelope>`
}

const impAlice = `    <t:ExchangeImpersonation>
      <t:ConnectingSID>
        <t:PrimarySmtpAddress>alice@corp.example</t:PrimarySmtpAddress>
      </t:ConnectingSID>
    </t:ExchangeImpersonation>`

const syncCalendar = `    <m:SyncFolderItems>
      <m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
      <m:SyncFolderId><t:DistinguishedFolderId Id="calendar" /></m:SyncFolderId>
      <m:SyncState>H4sIAAAAAAAEAO29B2AcSZYlJi9tynt/SvVK1+B0oQiAYBMk2JBAEOzBiM3mkuwdaUcjKasqgcplVmVdZhZAzO2dvPfee</m:SyncState>
      <m:MaxChangesReturned>512</m:MaxChangesReturned>
    </m:SyncFolderItems>`

// Operation bodies in the shapes of messages.xsd, as the sync engine sends them.
const (
	createContact = `<m:CreateItem MessageDisposition="SaveOnly">
  <m:SavedItemFolderId><t:DistinguishedFolderId Id="contacts"/></m:SavedItemFolderId>
  <m:Items><t:Contact><t:GivenName>Ada</t:GivenName><t:Surname>Lovelace</t:Surname>
    <t:EmailAddresses><t:Entry Key="EmailAddress1">ada@example.com</t:Entry></t:EmailAddresses></t:Contact></m:Items>
</m:CreateItem>`
	createEvent = `<m:CreateItem SendMeetingInvitations="SendToNone">
  <m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId>
  <m:Items><t:CalendarItem><t:Subject>Review</t:Subject><t:Start>2026-03-02T10:00:00Z</t:Start><t:End>2026-03-02T11:00:00Z</t:End></t:CalendarItem></m:Items>
</m:CreateItem>`
	updateContact = `<m:UpdateItem ConflictResolution="AutoResolve" SendMeetingInvitationsOrCancellations="SendToNone">
  <m:ItemChanges><t:ItemChange><t:ItemId Id="AAMkC1=" ChangeKey="EQAAAB"/>
    <t:Updates><t:SetItemField><t:FieldURI FieldURI="contacts:JobTitle"/><t:Contact><t:JobTitle>CTO</t:JobTitle></t:Contact></t:SetItemField></t:Updates>
  </t:ItemChange></m:ItemChanges>
</m:UpdateItem>`
	deleteItem = `<m:DeleteItem DeleteType="MoveToDeletedItems" SendMeetingCancellations="SendToNone">
  <m:ItemIds><t:ItemId Id="AAMkC1=" ChangeKey="EQAAAB"/></m:ItemIds>
</m:DeleteItem>`
	getItem = `<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>
  <m:ItemIds><t:ItemId Id="AAMkC1="/></m:ItemIds></m:GetItem>`
)

func TestParseEWS(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want EWSRequest
	}{
		{name: "sync folder items", doc: ewsEnvelope(impAlice, syncCalendar),
			want: EWSRequest{Operation: "SyncFolderItems", Folders: []string{"calendar"}, Impersonation: "alice@corp.example",
				FolderRefs: []EWSFolderRef{{"SyncFolderId", "calendar"}}}},
		{name: "smtp address and default namespace", doc: `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Header>
<ExchangeImpersonation xmlns="http://schemas.microsoft.com/exchange/services/2006/types"><ConnectingSID><SmtpAddress> Bob@Corp.Example </SmtpAddress></ConnectingSID></ExchangeImpersonation></Header>
<Body><GetItem xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"><ItemShape/><ItemIds><ItemId Id="AAMk" xmlns="http://schemas.microsoft.com/exchange/services/2006/types"/></ItemIds></GetItem></Body></Envelope>`,
			want: EWSRequest{Operation: "GetItem", Impersonation: "Bob@Corp.Example", ItemIDs: []string{"AAMk"}, TargetIDs: []string{"AAMk"}}},
		{name: "create item with folders and mailbox", doc: ewsEnvelope(impAlice, `<m:CreateItem SendMeetingInvitations="SendToNone">
  <m:SavedItemFolderId><t:DistinguishedFolderId Id="Contacts"><t:Mailbox><t:EmailAddress>bob@corp.example</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:SavedItemFolderId>
  <m:Items><t:Contact><t:GivenName>A</t:GivenName></t:Contact></m:Items></m:CreateItem>`),
			want: EWSRequest{Operation: "CreateItem", Folders: []string{"contacts"}, Impersonation: "alice@corp.example", Mailboxes: []string{"bob@corp.example"},
				Attrs: map[string]string{"SendMeetingInvitations": "SendToNone"}, FolderRefs: []EWSFolderRef{{"SavedItemFolderId", "contacts"}},
				HasSavedItemFolder: true, ItemClasses: []string{"Contact"}}},
		{name: "folder id", doc: ewsEnvelope("", `<m:FindItem Traversal="Shallow"><m:ParentFolderIds><t:FolderId Id="AAMkAD=" ChangeKey="AQ"/><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`),
			want: EWSRequest{Operation: "FindItem", Folders: []string{"calendar"}, FolderIDs: []string{"AAMkAD="},
				Attrs: map[string]string{"Traversal": "Shallow"}, FolderRefs: []EWSFolderRef{{"ParentFolderIds", "calendar"}}}},
		{name: "principal name is not an address", doc: ewsEnvelope(`<t:ExchangeImpersonation><t:ConnectingSID><t:PrincipalName>alice</t:PrincipalName></t:ConnectingSID></t:ExchangeImpersonation>`, `<m:GetItem/>`),
			want: EWSRequest{Operation: "GetItem"}},
		{name: "update item", doc: ewsEnvelope(impAlice, updateContact),
			want: EWSRequest{Operation: "UpdateItem", Impersonation: "alice@corp.example",
				Attrs:   map[string]string{"ConflictResolution": "AutoResolve", "SendMeetingInvitationsOrCancellations": "SendToNone"},
				ItemIDs: []string{"AAMkC1="}, TargetIDs: []string{"AAMkC1="}}},
		{name: "ignore list ids are not targets", doc: ewsEnvelope(impAlice, `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
<m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId><m:Ignore><t:ItemId Id="X1"/></m:Ignore><m:MaxChangesReturned>1</m:MaxChangesReturned></m:SyncFolderItems>`),
			want: EWSRequest{Operation: "SyncFolderItems", Folders: []string{"contacts"}, Impersonation: "alice@corp.example",
				FolderRefs: []EWSFolderRef{{"SyncFolderId", "contacts"}}, ItemIDs: []string{"X1"}}},
		{name: "all allowed headers, xsi and soap attributes, comments", doc: ewsEnvelope(impAlice+`
<t:MailboxCulture>en-US</t:MailboxCulture>
<t:TimeZoneContext soap:mustUnderstand="0"><t:TimeZoneDefinition Id="W. Europe Standard Time"/></t:TimeZoneContext><!-- a comment -->`,
			`<m:GetItem xsi:type="m:GetItemType"><m:ItemIds><t:ItemId Id="A"/><t:ItemId Id="B"/></m:ItemIds></m:GetItem>`),
			want: EWSRequest{Operation: "GetItem", Impersonation: "alice@corp.example", ItemIDs: []string{"A", "B"}, TargetIDs: []string{"A", "B"}}},
		{name: "an occurrence id names its master, a master id by occurrence is counted", doc: ewsEnvelope(impAlice, `<m:GetItem><m:ItemIds><t:OccurrenceItemId RecurringMasterId="M" InstanceIndex="1"/><t:RecurringMasterItemId OccurrenceId="O"/></m:ItemIds></m:GetItem>`),
			want: EWSRequest{Operation: "GetItem", Impersonation: "alice@corp.example", ItemIDs: []string{"M"}, TargetIDs: []string{EWSOccurrenceTarget + "M"}, OtherIDs: 1}},
		{name: "occurrence in an item change", doc: ewsEnvelope(impAlice, `<m:UpdateItem ConflictResolution="NeverOverwrite"><m:ItemChanges><t:ItemChange><t:OccurrenceItemId RecurringMasterId="M" InstanceIndex="2" ChangeKey="C"/><t:Updates/></t:ItemChange></m:ItemChanges></m:UpdateItem>`),
			want: EWSRequest{Operation: "UpdateItem", Impersonation: "alice@corp.example", Attrs: map[string]string{"ConflictResolution": "NeverOverwrite"}, ItemIDs: []string{"M"}, TargetIDs: []string{EWSOccurrenceTarget + "M"}}},
		{name: "items of other namespaces are named in full", doc: ewsEnvelope(impAlice, `<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="contacts"/></m:SavedItemFolderId><m:Items><m:Contact/><t:Message/></m:Items></m:CreateItem>`),
			want: EWSRequest{Operation: "CreateItem", Folders: []string{"contacts"}, Impersonation: "alice@corp.example",
				FolderRefs: []EWSFolderRef{{"SavedItemFolderId", "contacts"}}, HasSavedItemFolder: true,
				ItemClasses: []string{"{" + NSEWSMessages + "}Contact", "Message"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEWS(strings.NewReader(tt.doc), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

// foreignImp is an ExchangeImpersonation that looks right but is in
// another namespace: Exchange ignores it and acts as the service account.
const foreignImp = `<x:ExchangeImpersonation xmlns:x="urn:not-ews"><t:ConnectingSID><t:PrimarySmtpAddress>alice@corp.example</t:PrimarySmtpAddress></t:ConnectingSID></x:ExchangeImpersonation>`

func TestParseEWSRejects(t *testing.T) {
	big := ewsEnvelope(impAlice, syncCalendar)
	sid := func(inner string) string {
		return `<t:ExchangeImpersonation><t:ConnectingSID>` + inner + `</t:ConnectingSID></t:ExchangeImpersonation>`
	}
	tests := []struct {
		name, doc, want string
		max             int64
	}{
		{name: "two operations", doc: ewsEnvelope(impAlice, `<m:GetItem/><m:DeleteItem/>`), want: "more than one operation"},
		{name: "no operation", doc: ewsEnvelope(impAlice, ``), want: "no operation"},
		{name: "doctype", doc: `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "alice@corp.example">]>` + ewsEnvelope(impAlice, `<m:GetItem/>`), want: "DOCTYPE"},
		{name: "entity", doc: strings.Replace(ewsEnvelope(impAlice, `<m:GetItem/>`), "alice@corp.example", "&a;", 1), want: "entity"},
		{name: "oversize", doc: big, max: int64(len(big) - 1), want: "larger than limit"},
		{name: "two impersonations", doc: ewsEnvelope(impAlice+impAlice, `<m:GetItem/>`), want: "duplicate SOAP header: ExchangeImpersonation"},
		{name: "two addresses", doc: ewsEnvelope(sid(`<t:PrimarySmtpAddress>a@x</t:PrimarySmtpAddress><t:SmtpAddress>b@x</t:SmtpAddress>`), `<m:GetItem/>`), want: "exactly one child"},
		{name: "principal name and address", doc: ewsEnvelope(sid(`<t:PrincipalName>svc</t:PrincipalName><t:PrimarySmtpAddress>alice@corp.example</t:PrimarySmtpAddress>`), `<m:GetItem/>`), want: "exactly one child"},
		{name: "empty connecting sid", doc: ewsEnvelope(sid(``), `<m:GetItem/>`), want: "exactly one child"},
		{name: "unknown connecting sid child", doc: ewsEnvelope(sid(`<t:Upn>alice@corp.example</t:Upn>`), `<m:GetItem/>`), want: "ConnectingSID child not understood: Upn"},
		{name: "impersonation without connecting sid", doc: ewsEnvelope(`<t:ExchangeImpersonation/>`, `<m:GetItem/>`), want: "exactly one ConnectingSID"},
		{name: "two connecting sids", doc: ewsEnvelope(`<t:ExchangeImpersonation><t:ConnectingSID><t:SID>S-1</t:SID></t:ConnectingSID><t:ConnectingSID><t:SID>S-2</t:SID></t:ConnectingSID></t:ExchangeImpersonation>`, `<m:GetItem/>`), want: "exactly one ConnectingSID"},
		{name: "markup in address", doc: ewsEnvelope(sid(`<t:PrimarySmtpAddress>a<b/>@x</t:PrimarySmtpAddress>`), `<m:GetItem/>`), want: "unexpected element"},
		{name: "foreign namespace impersonation", doc: ewsEnvelope(foreignImp, `<m:GetItem/>`), want: "ExchangeImpersonation in a foreign namespace"},
		{name: "impersonation in the messages namespace", doc: ewsEnvelope(strings.ReplaceAll(impAlice, "t:ExchangeImpersonation", "m:ExchangeImpersonation"), `<m:GetItem/>`), want: "ExchangeImpersonation in a foreign namespace"},
		{name: "impersonation without namespace", doc: ewsEnvelope(`<ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>alice@corp.example</t:PrimarySmtpAddress></t:ConnectingSID></ExchangeImpersonation>`, `<m:GetItem/>`), want: "ExchangeImpersonation in a foreign namespace"},
		{name: "impersonation with an unbound prefix", doc: ewsEnvelope(`<e:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>alice@corp.example</t:PrimarySmtpAddress></t:ConnectingSID></e:ExchangeImpersonation>`, `<m:GetItem/>`), want: "ExchangeImpersonation in a foreign namespace"},
		{name: "address in a foreign namespace", doc: ewsEnvelope(`<t:ExchangeImpersonation><t:ConnectingSID><x:PrimarySmtpAddress xmlns:x="urn:x">alice@corp.example</x:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`, `<m:GetItem/>`), want: "foreign namespace"},
		{name: "serialized security context", doc: ewsEnvelope(`<t:SerializedSecurityContext><t:UserSid>S-1-5-21-1</t:UserSid><t:PrimarySmtpAddress>alice@corp.example</t:PrimarySmtpAddress></t:SerializedSecurityContext>`, `<m:GetItem/>`), want: "SerializedSecurityContext header not allowed"},
		{name: "unknown header", doc: ewsEnvelope(`<t:ManagementRole><t:UserRoles><t:Role>ApplicationImpersonation</t:Role></t:UserRoles></t:ManagementRole>`, `<m:GetItem/>`), want: "SOAP header not allowed: ManagementRole"},
		{name: "foreign header", doc: ewsEnvelope(`<w:Security xmlns:w="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"/>`, `<m:GetItem/>`), want: "SOAP header element in a foreign namespace: Security"},
		{name: "two server versions", doc: ewsEnvelope(`<t:RequestServerVersion Version="Exchange2016"/>`, `<m:GetItem/>`), want: "duplicate SOAP header: RequestServerVersion"},
		{name: "duplicate attribute", doc: ewsEnvelope(impAlice, `<m:GetFolder><m:FolderIds><t:DistinguishedFolderId Id="contacts" Id="inbox"/></m:FolderIds></m:GetFolder>`), want: "duplicate attribute: Id"},
		{name: "duplicate operation attribute", doc: ewsEnvelope(impAlice, `<m:CreateItem MessageDisposition="SaveOnly" MessageDisposition="SendOnly"/>`), want: "duplicate attribute: MessageDisposition"},
		{name: "qualified attribute", doc: ewsEnvelope(impAlice, `<m:CreateItem MessageDisposition="SaveOnly" m:MessageDisposition="SendOnly"/>`), want: "attribute in a foreign namespace: MessageDisposition of CreateItem"},
		{name: "duplicate namespace declaration", doc: ewsEnvelope(impAlice, `<m:GetItem xmlns:q="urn:a" xmlns:q="urn:b"/>`), want: "duplicate attribute: q"},
		{name: "two bodies", doc: strings.Replace(ewsEnvelope("", `<m:GetItem/>`), "</soap:Envelope>", "<soap:Body><m:DeleteItem/></soap:Body></soap:Envelope>", 1), want: "unexpected Body"},
		{name: "body in a foreign namespace", doc: strings.Replace(ewsEnvelope("", `<m:GetItem/>`), "<soap:Body>", `<soap:Body xmlns:soap="urn:x">`, 1), want: "unexpected Body"},
		{name: "header after body", doc: strings.Replace(ewsEnvelope("", `<m:GetItem/>`), "</soap:Envelope>", "<soap:Header/></soap:Envelope>", 1), want: "unexpected Header"},
		{name: "soap 1.2 envelope", doc: `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><m:GetItem xmlns:m="` + NSEWSMessages + `"/></s:Body></s:Envelope>`, want: "want a single SOAP 1.1 Envelope"},
		{name: "operation in the types namespace", doc: ewsEnvelope(impAlice, `<t:GetItem/>`), want: "not in the EWS messages namespace"},
		{name: "foreign element in the body", doc: ewsEnvelope(impAlice, `<m:GetItem><x:ItemIds xmlns:x="urn:x"/></m:GetItem>`), want: "foreign namespace in the Body"},
		{name: "processing instruction", doc: ewsEnvelope(impAlice, `<?php echo 1; ?><m:GetItem/>`), want: "processing instruction"},
		{name: "late xml declaration", doc: `<!-- c --><?xml version="1.0"?>` + ewsEnvelope("", `<m:GetItem/>`)[len(`<?xml version="1.0" encoding="utf-8"?>`):], want: "ews:"},
		{name: "item id without id", doc: ewsEnvelope(impAlice, `<m:GetItem><m:ItemIds><t:ItemId ChangeKey="x"/></m:ItemIds></m:GetItem>`), want: "ItemId without Id"},
		{name: "second root", doc: ewsEnvelope("", `<m:GetItem/>`) + `<soap:Envelope/>`, want: "single SOAP 1.1 Envelope"},
		{name: "wrong root", doc: `<GetItem/>`, want: "want a single SOAP 1.1 Envelope"},
		{name: "no body", doc: `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/></soap:Envelope>`, want: "no Body"},
		{name: "truncated", doc: ewsEnvelope(impAlice, syncCalendar)[:300], want: "ews:"},
		{name: "folder without id", doc: ewsEnvelope("", `<m:GetFolder><m:FolderIds><t:DistinguishedFolderId/></m:FolderIds></m:GetFolder>`), want: "without Id"},
		{name: "empty", doc: ``, want: "no Envelope"},
		{name: "text outside", doc: `junk` + ewsEnvelope("", `<m:GetItem/>`), want: "text outside"},
		{name: "deep", doc: ewsEnvelope("", `<m:GetItem>`+strings.Repeat("<m:a>", 100)+strings.Repeat("</m:a>", 100)+`</m:GetItem>`), want: "too deep"},
		{name: "too many attributes", doc: ewsEnvelope("", `<m:GetItem`+strings.Repeat(` a="1"`, 0)+func() string {
			var b strings.Builder
			for i := range 40 {
				b.WriteString(` a` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `="1"`)
			}
			return b.String()
		}()+`/>`), want: "too many attributes"},
		{name: "latin1", doc: `<?xml version="1.0" encoding="ISO-8859-1"?><Envelope><Body><GetItem/></Body></Envelope>`, want: "ews:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = 1 << 20
			}
			got, err := ParseEWS(strings.NewReader(tt.doc), max)
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
	if _, err := ParseEWS(strings.NewReader(big), int64(len(big))); err != nil {
		t.Fatalf("envelope of exactly the limit: %v", err)
	}
	if _, err := ParseEWS(strings.NewReader(big), 100); !errors.Is(err, ErrEWSTooLarge) {
		t.Fatalf("oversize error %v is not ErrEWSTooLarge", err)
	}
}

// ewsFullPolicy lists every supported operation on contacts and calendar.
var ewsFullPolicy = strings.Replace(basePolicy, "ews: {operations: [SyncFolderItems, GetItem], folders: [contacts, Calendar]}",
	"ews: {operations: [SyncFolderItems, FindItem, GetItem, CreateItem, UpdateItem, DeleteItem, MoveItem, CopyItem, GetFolder], folders: [contacts, Calendar]}", 1)

func TestDecideEWS(t *testing.T) {
	e := mustEngine(t, basePolicy)
	sync := mustClient(t, e, "sync")
	ex, ok := e.HostAllowed("mail.corp.example", 443, sync)
	if !ok {
		t.Fatal("exchange not allowed")
	}
	graph, _ := e.HostAllowed("graph.microsoft.com", 443, sync)
	const alice = "alice@corp.example"
	req := func(mod func(*EWSRequest)) *EWSRequest {
		r := &EWSRequest{Operation: "SyncFolderItems", Folders: []string{"calendar"}, Impersonation: alice,
			FolderRefs: []EWSFolderRef{{"SyncFolderId", "calendar"}}}
		if mod != nil {
			mod(r)
		}
		return r
	}
	known := func(r *EWSRequest) {
		r.Operation, r.Folders, r.FolderRefs = "GetItem", nil, nil
		r.ItemIDs, r.TargetIDs, r.ItemFolders = []string{"A"}, []string{"A"}, map[string]string{"A": "contacts"}
	}
	tests := []struct {
		name    string
		dest    *Dest
		subject string
		req     *EWSRequest
		reason  string // "" for allow
	}{
		{name: "allowed", dest: ex, subject: alice, req: req(nil)},
		{name: "impersonation case", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Impersonation = "Alice@Corp.Example" })},
		{name: "impersonation unicode fold", dest: ex, subject: "kim@corp.example", req: req(func(r *EWSRequest) { r.Impersonation = "\u212aim@corp.example" }), reason: ReasonEWSImpersonation},
		{name: "own mailbox", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Mailboxes = []string{alice} })},
		{name: "known item", dest: ex, subject: alice, req: req(known)},
		{name: "unknown item", dest: ex, subject: alice, req: req(func(r *EWSRequest) { known(r); r.ItemFolders = nil }), reason: ReasonEWSItemUnknown},
		{name: "item from a folder no longer listed", dest: ex, subject: alice, req: req(func(r *EWSRequest) { known(r); r.ItemFolders["A"] = "inbox" }), reason: ReasonEWSItemUnknown},
		{name: "get without items", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Operation, r.Folders, r.FolderRefs = "GetItem", nil, nil }), reason: ReasonEWSNoItems},
		{name: "occurrence id", dest: ex, subject: alice, req: req(func(r *EWSRequest) { known(r); r.OtherIDs = 1 }), reason: ReasonEWSItemIDForm},
		{name: "sync without its folder", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.FolderRefs = nil }), reason: ReasonEWSTargetFolder},
		{name: "operation off list", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Operation = "DeleteItem" }), reason: ReasonEWSOperation},
		{name: "operation case", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Operation = "syncfolderitems" }), reason: ReasonEWSOperation},
		{name: "folder off list", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Folders = []string{"calendar", "inbox"} }), reason: ReasonEWSFolder},
		{name: "folder id", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.FolderIDs = []string{"AAMk"} }), reason: ReasonEWSFolderID},
		{name: "impersonation mismatch", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Impersonation = "bob@corp.example" }), reason: ReasonEWSImpersonation},
		{name: "impersonation missing", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Impersonation = "" }), reason: ReasonEWSNoImpersonation},
		{name: "no subject", dest: ex, subject: "", req: req(nil), reason: ReasonSubjectRequired},
		{name: "other mailbox", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Mailboxes = []string{"bob@corp.example"} }), reason: ReasonEWSMailboxMismatch},
		{name: "send item even unlisted", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Operation = "SendItem" }), reason: ReasonEWSSendsMail},
		{name: "nil request", dest: ex, subject: alice, req: nil, reason: ReasonEWSMissing},
		{name: "not an ews destination", dest: graph, subject: alice, req: req(nil), reason: ReasonEWSNoPolicy},
		{name: "foreign dest", dest: &Dest{Name: "exchange", idx: ex.idx}, subject: alice, req: req(nil), reason: ReasonEWSForeignDest},
		{name: "nil dest", dest: nil, subject: alice, req: req(nil), reason: ReasonEWSForeignDest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.DecideEWS(tt.dest, tt.subject, tt.req)
			if tt.reason == "" {
				if !d.Allow || d.Rule != "exchange#ews:"+tt.req.Operation {
					t.Fatalf("DecideEWS = %+v, want allow", d)
				}
				return
			}
			if d.Allow || d.Reason != tt.reason || d.Rule != "" {
				t.Fatalf("DecideEWS = %+v, want deny %q", d, tt.reason)
			}
		})
	}

	// End to end: a parsed envelope that reaches another user's mailbox.
	doc := ewsEnvelope(impAlice, `<m:FindItem><m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>ceo@corp.example</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:ParentFolderIds></m:FindItem>`)
	pr, err := ParseEWS(strings.NewReader(doc), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	pr.Operation = "GetItem" // listed, so only the mailbox can deny
	if d := e.DecideEWS(ex, alice, pr); d.Allow || d.Reason != ReasonEWSMailboxMismatch {
		t.Fatalf("delegate mailbox: %+v", d)
	}

	mon := mustEngine(t, strings.Replace(basePolicy, "mode: enforce", "mode: monitor", 1))
	mex, _ := mon.HostAllowed("mail.corp.example", 443, mustClient(t, mon, "sync"))
	if d := mon.DecideEWS(mex, alice, req(func(r *EWSRequest) { r.Operation = "DeleteItem" })); !d.Allow || !d.WouldDeny || d.Reason != ReasonEWSOperation {
		t.Fatalf("monitor: %+v", d)
	}
	if d := mon.DecideEWS(mex, alice, req(func(r *EWSRequest) { known(r); r.ItemFolders = nil })); !d.Allow || !d.WouldDeny || d.Reason != ReasonEWSItemUnknown {
		t.Fatalf("monitor, unknown item: %+v", d)
	}
	// Sending mail is refused in monitor mode too, even by an operation
	// that is not listed (whose other reason monitor mode would soften).
	for _, r := range []*EWSRequest{
		req(func(r *EWSRequest) { r.Operation = "SendItem" }),
		req(func(r *EWSRequest) {
			r.Operation, r.Attrs = "CreateItem", map[string]string{"MessageDisposition": "SendOnly"}
		}),
		req(func(r *EWSRequest) {
			r.Operation, r.Attrs = "DeleteItem", map[string]string{"SendMeetingCancellations": "SendToAllAndSaveCopy"}
		}),
	} {
		if d := mon.DecideEWS(mex, alice, r); d.Allow || d.WouldDeny {
			t.Fatalf("monitor let %s %v through: %+v", r.Operation, r.Attrs, d)
		}
	}
	if d := mon.DecideEWS(ex, alice, req(nil)); d.Allow {
		t.Fatalf("monitor engine accepted another engine's Dest: %+v", d)
	}
}

// TestDecideEWSEnvelopes parses envelopes in the shapes EWS documents and
// decides them under a policy listing every supported operation.
func TestDecideEWSEnvelopes(t *testing.T) {
	const alice = "alice@corp.example"
	full := mustEngine(t, ewsFullPolicy)
	ex, _ := full.HostAllowed("mail.corp.example", 443, mustClient(t, full, "sync"))
	invites := mustEngine(t, strings.Replace(ewsFullPolicy, "folders: [contacts, Calendar]}", "folders: [contacts, Calendar], send_meeting_invitations: [SendToAllAndSaveCopy]}", 1))
	iex, _ := invites.HostAllowed("mail.corp.example", 443, mustClient(t, invites, "sync"))
	contactsID := map[string]string{"AAMkC1=": "contacts"}
	tests := []struct {
		name   string
		body   string
		known  map[string]string
		engine *Engine
		reason string // "" for allow
	}{
		{name: "create contact", body: createContact},
		{name: "create contact without disposition", body: strings.Replace(createContact, ` MessageDisposition="SaveOnly"`, "", 1)},
		{name: "create event without invitations", body: createEvent},
		{name: "create event with invitations the policy allows", body: strings.Replace(createEvent, "SendToNone", "SendToAllAndSaveCopy", 1), engine: invites},
		{name: "create event with invitations", body: strings.Replace(createEvent, "SendToNone", "SendToAllAndSaveCopy", 1), reason: ReasonEWSMeeting},
		{name: "create event with invitations to some", body: strings.Replace(createEvent, "SendToNone", "SendOnlyToAll", 1), engine: invites, reason: ReasonEWSMeeting},
		{name: "send only message", body: `<m:CreateItem MessageDisposition="SendOnly"><m:Items><t:Message><t:Subject>hi</t:Subject><t:ToRecipients><t:Mailbox><t:EmailAddress>x@evil.example</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Message></m:Items></m:CreateItem>`, reason: ReasonEWSSendsMail},
		{name: "send and save copy into contacts", body: strings.Replace(createContact, "SaveOnly", "SendAndSaveCopy", 1), reason: ReasonEWSSendsMail},
		{name: "disposition spelled with spaces", body: strings.Replace(createContact, `"SaveOnly"`, `" SaveOnly"`, 1), reason: ReasonEWSSendsMail},
		{name: "saved message in contacts", body: strings.Replace(strings.Replace(createContact, "t:Contact>", "t:Message>", -1), "<t:GivenName>Ada</t:GivenName><t:Surname>Lovelace</t:Surname>\n    <t:EmailAddresses><t:Entry Key=\"EmailAddress1\">ada@example.com</t:Entry></t:EmailAddresses>", "", 1), reason: ReasonEWSItemClass},
		{name: "create without saved folder", body: `<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:Contact><t:GivenName>A</t:GivenName></t:Contact></m:Items></m:CreateItem>`, reason: ReasonEWSTargetFolder},
		{name: "calendar item into contacts", body: strings.Replace(createEvent, `Id="calendar"`, `Id="contacts"`, 1), reason: ReasonEWSItemClass},
		{name: "contact into inbox", body: strings.Replace(createContact, `Id="contacts"`, `Id="inbox"`, 1), reason: ReasonEWSFolder},
		{name: "accept item response object", body: `<m:CreateItem MessageDisposition="SaveOnly"><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items><t:AcceptItem><t:ReferenceItemId Id="AAMkC1="/></t:AcceptItem></m:Items></m:CreateItem>`, known: contactsID, reason: ReasonEWSItemIDForm},
		{name: "update known contact", body: updateContact, known: contactsID},
		{name: "update unknown item", body: updateContact, reason: ReasonEWSItemUnknown},
		{name: "update and send", body: strings.Replace(updateContact, `ConflictResolution="AutoResolve"`, `ConflictResolution="AutoResolve" MessageDisposition="SendAndSaveCopy"`, 1), known: contactsID, reason: ReasonEWSSendsMail},
		{name: "update with cancellations", body: strings.Replace(updateContact, `SendMeetingInvitationsOrCancellations="SendToNone"`, `SendMeetingInvitationsOrCancellations="SendToChangedAndSaveCopy"`, 1), known: contactsID, reason: ReasonEWSMeeting},
		{name: "update saving elsewhere", body: strings.Replace(updateContact, "<m:ItemChanges>", `<m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:ItemChanges>`, 1), known: contactsID, reason: ReasonEWSMove},
		{name: "delete known", body: deleteItem, known: contactsID},
		{name: "hard delete known", body: strings.Replace(deleteItem, "MoveToDeletedItems", "HardDelete", 1), known: contactsID},
		{name: "delete unknown", body: deleteItem, reason: ReasonEWSItemUnknown},
		{name: "delete with cancellations", body: strings.Replace(deleteItem, `SendMeetingCancellations="SendToNone"`, `SendMeetingCancellations="SendOnlyToAll"`, 1), known: contactsID, reason: ReasonEWSMeeting},
		{name: "get known", body: getItem, known: contactsID},
		{name: "get one known one not", body: strings.Replace(getItem, `<t:ItemId Id="AAMkC1="/>`, `<t:ItemId Id="AAMkC1="/><t:ItemId Id="AAMkInbox="/>`, 1), known: contactsID, reason: ReasonEWSItemUnknown},
		{name: "send item", body: `<m:SendItem SaveItemToFolder="false"><m:ItemIds><t:ItemId Id="AAMkC1="/></m:ItemIds></m:SendItem>`, known: contactsID, reason: ReasonEWSSendsMail},
		{name: "move between allowed folders", body: `<m:MoveItem><m:ToFolderId><t:DistinguishedFolderId Id="calendar"/></m:ToFolderId><m:ItemIds><t:ItemId Id="AAMkC1="/></m:ItemIds></m:MoveItem>`, known: contactsID},
		{name: "move to inbox", body: `<m:MoveItem><m:ToFolderId><t:DistinguishedFolderId Id="inbox"/></m:ToFolderId><m:ItemIds><t:ItemId Id="AAMkC1="/></m:ItemIds></m:MoveItem>`, known: contactsID, reason: ReasonEWSFolder},
		{name: "copy to folder id", body: `<m:CopyItem><m:ToFolderId><t:FolderId Id="AAMkInbox"/></m:ToFolderId><m:ItemIds><t:ItemId Id="AAMkC1="/></m:ItemIds></m:CopyItem>`, known: contactsID, reason: ReasonEWSFolderID},
		{name: "find shallow", body: `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>`},
		{name: "find deep", body: `<m:FindItem Traversal="Deep"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>`, reason: ReasonEWSTraversal},
		{name: "find in two folders", body: `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`, reason: ReasonEWSTargetFolder},
		{name: "get folder", body: `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>`},
		{name: "get occurrence of a known master", body: `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds><t:OccurrenceItemId RecurringMasterId="AAMkM1=" InstanceIndex="3"/></m:ItemIds></m:GetItem>`, known: map[string]string{"AAMkM1=": "calendar"}},
		{name: "get occurrence of an unknown master", body: `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds><t:OccurrenceItemId RecurringMasterId="AAMkM1=" InstanceIndex="3"/></m:ItemIds></m:GetItem>`, reason: ReasonEWSItemUnknown},
		{name: "update occurrence of a known master", body: `<m:UpdateItem ConflictResolution="AutoResolve" SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange><t:OccurrenceItemId RecurringMasterId="AAMkM1=" InstanceIndex="3"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:CalendarItem><t:Subject>x</t:Subject></t:CalendarItem></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`, known: map[string]string{"AAMkM1=": "calendar"}},
		{name: "cancel occurrence of a known master", body: `<m:DeleteItem DeleteType="MoveToDeletedItems" SendMeetingCancellations="SendToNone"><m:ItemIds><t:OccurrenceItemId RecurringMasterId="AAMkM1=" InstanceIndex="3"/></m:ItemIds></m:DeleteItem>`, known: map[string]string{"AAMkM1=": "calendar"}},
		{name: "cancel occurrence with cancellations", body: `<m:DeleteItem DeleteType="MoveToDeletedItems" SendMeetingCancellations="SendToAllAndSaveCopy"><m:ItemIds><t:OccurrenceItemId RecurringMasterId="AAMkM1=" InstanceIndex="3"/></m:ItemIds></m:DeleteItem>`, known: map[string]string{"AAMkM1=": "calendar"}, reason: ReasonEWSMeeting},
		{name: "master by an occurrence id", body: `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds><t:RecurringMasterItemId OccurrenceId="AAMkM1="/></m:ItemIds></m:GetItem>`, known: map[string]string{"AAMkM1=": "calendar"}, reason: ReasonEWSItemIDForm},
		{name: "sync with unknown ignore id", body: `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId><m:Ignore><t:ItemId Id="AAMkInbox="/></m:Ignore><m:MaxChangesReturned>10</m:MaxChangesReturned></m:SyncFolderItems>`, reason: ReasonEWSItemUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseEWS(strings.NewReader(ewsEnvelope(impAlice, tt.body)), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			r.ItemFolders = tt.known
			e, dest := full, ex
			if tt.engine != nil {
				e, dest = tt.engine, iex
			}
			d := e.DecideEWS(dest, alice, r)
			if tt.reason == "" {
				if !d.Allow || d.WouldDeny {
					t.Fatalf("DecideEWS = %+v, want allow", d)
				}
				return
			}
			if d.Allow || d.Reason != tt.reason {
				t.Fatalf("DecideEWS = %+v, want deny %q", d, tt.reason)
			}
		})
	}
}

func TestCompileEWSPolicyErrors(t *testing.T) {
	const line = "ews: {operations: [SyncFolderItems, GetItem], folders: [contacts, Calendar]}"
	tests := []struct{ name, ews, want string }{
		{name: "send item", ews: "ews: {operations: [SendItem], folders: [contacts]}", want: "SendItem sends mail"},
		{name: "unsupported operation", ews: "ews: {operations: [GetAttachment], folders: [contacts]}", want: `operation "GetAttachment" is not supported`},
		{name: "bad meeting mode", ews: "ews: {operations: [CreateItem], folders: [calendar], send_meeting_invitations: [SendToEveryone]}", want: `invalid meeting-message mode "SendToEveryone"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Load(writePolicy(t, strings.Replace(basePolicy, line, tt.ews, 1)))
			if err == nil {
				_, err = Compile(p)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestExplainEWSChecksOperationAndFolders(t *testing.T) {
	e := mustEngine(t, ewsFullPolicy)
	for _, tt := range []struct {
		op      string
		folders []string
		allow   bool
	}{
		{"CreateItem", []string{"contacts"}, true},
		{"GetItem", nil, true},
		{"SyncFolderItems", []string{"inbox"}, false},
		{"SendItem", nil, false},
	} {
		x, err := e.Explain(Query{Client: "sync", Source: "127.0.0.1", Method: "POST", URL: "https://mail.corp.example/EWS/Exchange.asmx",
			Subject: "alice@corp.example", EWSOperation: tt.op, EWSFolders: tt.folders})
		if err != nil {
			t.Fatal(err)
		}
		if x.Allow != tt.allow {
			t.Errorf("%s %v: %+v", tt.op, tt.folders, x)
		}
	}
}

func FuzzParseEWS(f *testing.F) {
	f.Add(ewsEnvelope(impAlice, syncCalendar), int64(1<<20))
	f.Add(ewsEnvelope("", `<m:GetItem/><m:GetItem/>`), int64(1<<20))
	f.Add(`<!DOCTYPE x><Envelope/>`, int64(100))
	f.Add(`<Envelope><Body><A><DistinguishedFolderId Id="X"><Mailbox><EmailAddress>a</EmailAddress></Mailbox></DistinguishedFolderId></A></Body></Envelope>`, int64(200))
	for _, body := range []string{createContact, createEvent, updateContact, deleteItem, getItem} {
		f.Add(ewsEnvelope(impAlice, body), int64(1<<20))
	}
	f.Add(ewsEnvelope(foreignImp, getItem), int64(1<<20))
	f.Add(ewsEnvelope(impAlice+`<t:SerializedSecurityContext><t:UserSid>S-1</t:UserSid></t:SerializedSecurityContext>`, getItem), int64(1<<20))
	f.Add(ewsEnvelope(impAlice+`<t:ManagementRole/>`, getItem), int64(1<<20))
	f.Add(ewsEnvelope(`<t:ExchangeImpersonation><t:ConnectingSID><t:PrincipalName>a</t:PrincipalName><t:PrimarySmtpAddress>alice@corp.example</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`, getItem), int64(1<<20))
	f.Add(ewsEnvelope(impAlice, `<m:CreateItem MessageDisposition="SaveOnly" MessageDisposition="SendOnly"/>`), int64(1<<20))
	f.Add(ewsEnvelope(impAlice, `<m:CreateItem m:MessageDisposition="SendOnly"/>`), int64(1<<20))
	f.Fuzz(func(t *testing.T, doc string, max int64) {
		r, err := ParseEWS(strings.NewReader(doc), max)
		if err != nil {
			return
		}
		if r.Operation == "" || int64(len(doc)) > max {
			t.Fatalf("accepted %+v from %d bytes with limit %d", r, len(doc), max)
		}
		for _, f := range r.Folders {
			if f != strings.ToLower(f) {
				t.Fatalf("folder %q not lower case", f)
			}
		}
		if len(r.FolderRefs) > len(r.Folders) || len(r.TargetIDs) > len(r.ItemIDs) || r.ItemFolders != nil {
			t.Fatalf("inconsistent request %+v", r)
		}
		if r.Impersonation != "" && !strings.Contains(doc, "ExchangeImpersonation") {
			t.Fatalf("impersonation %q without a header", r.Impersonation)
		}
	})
}

// The shipped example policy allows the EWS connector's series calls on a
// master relayed to the subject, and refuses them on any other.
func TestExamplePolicyAllowsSeriesCalls(t *testing.T) {
	pp, _ := copyExample(t)
	p, err := Load(pp)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	dest, ok := e.HostAllowed("mail.corp.example", 443, mustClient(t, e, "sync"))
	if !ok {
		t.Fatal("the example policy does not let the sync client reach Exchange")
	}
	occ := `<t:OccurrenceItemId RecurringMasterId="AAMkM1=" InstanceIndex="4"/>`
	calls := []string{
		`<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items><t:CalendarItem><t:Subject>S</t:Subject><t:Start>2026-11-02T08:00:00Z</t:Start><t:End>2026-11-02T08:30:00Z</t:End><t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek><t:FirstDayOfWeek>Monday</t:FirstDayOfWeek></t:WeeklyRecurrence><t:NoEndRecurrence><t:StartDate>2026-11-02</t:StartDate></t:NoEndRecurrence></t:Recurrence><t:StartTimeZone Id="W. Europe Standard Time"/><t:EndTimeZone Id="W. Europe Standard Time"/></t:CalendarItem></m:Items></m:CreateItem>`,
		`<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape><t:BodyType>Text</t:BodyType></m:ItemShape><m:ItemIds>` + occ + occ + `</m:ItemIds></m:GetItem>`,
		`<m:UpdateItem ConflictResolution="NeverOverwrite" SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange><t:ItemId Id="AAMkM1=" ChangeKey="CK"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="calendar:Recurrence"/><t:CalendarItem><t:Recurrence><t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence><t:NoEndRecurrence><t:StartDate>2026-11-02</t:StartDate></t:NoEndRecurrence></t:Recurrence></t:CalendarItem></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`,
		`<m:UpdateItem ConflictResolution="AutoResolve" SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange>` + occ + `<t:Updates><t:SetItemField><t:FieldURI FieldURI="calendar:Start"/><t:CalendarItem><t:Start>2026-11-24T09:00:00Z</t:Start></t:CalendarItem></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`,
		`<m:DeleteItem DeleteType="MoveToDeletedItems" SendMeetingCancellations="SendToNone"><m:ItemIds>` + occ + `</m:ItemIds></m:DeleteItem>`,
	}
	for i, body := range calls {
		for _, known := range []bool{true, false} {
			r, err := ParseEWS(strings.NewReader(ewsEnvelope(impAlice, body)), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if known {
				r.ItemFolders = map[string]string{"AAMkM1=": "calendar"}
			}
			d := e.DecideEWS(dest, "alice@corp.example", r)
			switch {
			case known || i == 0:
				if !d.Allow || d.WouldDeny {
					t.Errorf("call %d (master known %v): %+v, want allow", i, known, d)
				}
			case d.Allow || d.Reason != ReasonEWSItemUnknown:
				t.Errorf("call %d on an unknown master: %+v, want deny %q", i, d, ReasonEWSItemUnknown)
			}
		}
	}
}
