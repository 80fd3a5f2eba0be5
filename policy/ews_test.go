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

func TestParseEWS(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want EWSRequest
	}{
		{name: "sync folder items", doc: ewsEnvelope(impAlice, syncCalendar),
			want: EWSRequest{Operation: "SyncFolderItems", Folders: []string{"calendar"}, Impersonation: "alice@corp.example"}},
		{name: "smtp address and default namespace", doc: `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Header>
<ExchangeImpersonation xmlns="http://schemas.microsoft.com/exchange/services/2006/types"><ConnectingSID><SmtpAddress> Bob@Corp.Example </SmtpAddress></ConnectingSID></ExchangeImpersonation></Header>
<Body><GetItem xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"><ItemShape/><ItemIds><ItemId Id="AAMk" xmlns="http://schemas.microsoft.com/exchange/services/2006/types"/></ItemIds></GetItem></Body></Envelope>`,
			want: EWSRequest{Operation: "GetItem", Impersonation: "Bob@Corp.Example"}},
		{name: "create item with folders and mailbox", doc: ewsEnvelope(impAlice, `<m:CreateItem SendMeetingInvitations="SendToNone">
  <m:SavedItemFolderId><t:DistinguishedFolderId Id="Contacts"><t:Mailbox><t:EmailAddress>bob@corp.example</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:SavedItemFolderId>
  <m:Items><t:Contact><t:GivenName>A</t:GivenName></t:Contact></m:Items></m:CreateItem>`),
			want: EWSRequest{Operation: "CreateItem", Folders: []string{"contacts"}, Impersonation: "alice@corp.example", Mailboxes: []string{"bob@corp.example"}}},
		{name: "folder id", doc: ewsEnvelope("", `<m:FindItem Traversal="Shallow"><m:ParentFolderIds><t:FolderId Id="AAMkAD=" ChangeKey="AQ"/><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>`),
			want: EWSRequest{Operation: "FindItem", Folders: []string{"calendar"}, FolderIDs: []string{"AAMkAD="}}},
		{name: "principal name is not an address", doc: ewsEnvelope(`<t:ExchangeImpersonation><t:ConnectingSID><t:PrincipalName>alice</t:PrincipalName></t:ConnectingSID></t:ExchangeImpersonation>`, `<m:GetItem/>`),
			want: EWSRequest{Operation: "GetItem"}},
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

func TestParseEWSRejects(t *testing.T) {
	big := ewsEnvelope(impAlice, syncCalendar)
	tests := []struct {
		name, doc, want string
		max             int64
	}{
		{name: "two operations", doc: ewsEnvelope(impAlice, `<m:GetItem/><m:DeleteItem/>`), want: "more than one operation"},
		{name: "no operation", doc: ewsEnvelope(impAlice, ``), want: "no operation"},
		{name: "doctype", doc: `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "alice@corp.example">]>` + ewsEnvelope(impAlice, `<m:GetItem/>`), want: "DOCTYPE"},
		{name: "entity", doc: strings.Replace(ewsEnvelope(impAlice, `<m:GetItem/>`), "alice@corp.example", "&a;", 1), want: "entity"},
		{name: "oversize", doc: big, max: int64(len(big) - 1), want: "larger than limit"},
		{name: "two impersonations", doc: ewsEnvelope(impAlice+impAlice, `<m:GetItem/>`), want: "more than one ExchangeImpersonation"},
		{name: "two addresses", doc: ewsEnvelope(`<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>a@x</t:PrimarySmtpAddress><t:SmtpAddress>b@x</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`, `<m:GetItem/>`), want: "more than one impersonation address"},
		{name: "markup in address", doc: ewsEnvelope(`<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>a<b/>@x</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`, `<m:GetItem/>`), want: "unexpected element"},
		{name: "two bodies", doc: strings.Replace(ewsEnvelope("", `<m:GetItem/>`), "</soap:Envelope>", "<soap:Body><m:DeleteItem/></soap:Body></soap:Envelope>", 1), want: "unexpected Body"},
		{name: "header after body", doc: strings.Replace(ewsEnvelope("", `<m:GetItem/>`), "</soap:Envelope>", "<soap:Header/></soap:Envelope>", 1), want: "unexpected Header"},
		{name: "second root", doc: ewsEnvelope("", `<m:GetItem/>`) + `<soap:Envelope/>`, want: "single Envelope"},
		{name: "wrong root", doc: `<GetItem/>`, want: "want a single Envelope"},
		{name: "no body", doc: `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/></soap:Envelope>`, want: "no Body"},
		{name: "truncated", doc: ewsEnvelope(impAlice, syncCalendar)[:300], want: "ews:"},
		{name: "folder without id", doc: ewsEnvelope("", `<m:GetFolder><m:FolderIds><t:DistinguishedFolderId/></m:FolderIds></m:GetFolder>`), want: "without Id"},
		{name: "empty", doc: ``, want: "no Envelope"},
		{name: "text outside", doc: `junk` + ewsEnvelope("", `<m:GetItem/>`), want: "text outside"},
		{name: "deep", doc: ewsEnvelope("", `<m:GetItem>`+strings.Repeat("<a>", 100)+strings.Repeat("</a>", 100)+`</m:GetItem>`), want: "too deep"},
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
		r := &EWSRequest{Operation: "SyncFolderItems", Folders: []string{"calendar"}, Impersonation: alice}
		if mod != nil {
			mod(r)
		}
		return r
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
		{name: "folder listed in other case", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Folders = []string{"contacts", "calendar"} })},
		{name: "own mailbox", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Mailboxes = []string{alice} })},
		{name: "no folders", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Operation, r.Folders = "GetItem", nil })},
		{name: "operation off list", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Operation = "DeleteItem" }), reason: ReasonEWSOperation},
		{name: "operation case", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Operation = "syncfolderitems" }), reason: ReasonEWSOperation},
		{name: "folder off list", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Folders = []string{"calendar", "inbox"} }), reason: ReasonEWSFolder},
		{name: "folder id", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.FolderIDs = []string{"AAMk"} }), reason: ReasonEWSFolderID},
		{name: "impersonation mismatch", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Impersonation = "bob@corp.example" }), reason: ReasonEWSImpersonation},
		{name: "impersonation missing", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Impersonation = "" }), reason: ReasonEWSNoImpersonation},
		{name: "no subject", dest: ex, subject: "", req: req(nil), reason: ReasonSubjectRequired},
		{name: "other mailbox", dest: ex, subject: alice, req: req(func(r *EWSRequest) { r.Mailboxes = []string{"bob@corp.example"} }), reason: ReasonEWSMailboxMismatch},
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
	if d := mon.DecideEWS(ex, alice, req(nil)); d.Allow {
		t.Fatalf("monitor engine accepted another engine's Dest: %+v", d)
	}
}

func FuzzParseEWS(f *testing.F) {
	f.Add(ewsEnvelope(impAlice, syncCalendar), int64(1<<20))
	f.Add(ewsEnvelope("", `<m:GetItem/><m:GetItem/>`), int64(1<<20))
	f.Add(`<!DOCTYPE x><Envelope/>`, int64(100))
	f.Add(`<Envelope><Body><A><DistinguishedFolderId Id="X"><Mailbox><EmailAddress>a</EmailAddress></Mailbox></DistinguishedFolderId></A></Body></Envelope>`, int64(200))
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
	})
}
