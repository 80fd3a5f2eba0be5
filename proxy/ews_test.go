package proxy_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/emulate/ews"
	"github.com/syncgate/syncgate/internal/testpki"
)

const ewsPolicy = `  - name: ews
    hosts: [mail.test.example]
    tls: {ca_bundle: upstream}
    clients: [sync, sidecar]
    ews: {operations: [SyncFolderItems, GetItem], folders: [contacts, calendar]}
`

func soap(op, folder, impersonate string) string {
	hdr := `<t:RequestServerVersion Version="Exchange2016"/>`
	if impersonate != "" {
		hdr += `<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>` + impersonate + `</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`
	}
	body := fmt.Sprintf(`<m:%[1]s><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="%[2]s"/></m:SyncFolderId><m:MaxChangesReturned>100</m:MaxChangesReturned></m:%[1]s>`, op, folder)
	return `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<soap:Header>` + hdr + `</soap:Header><soap:Body>` + body + `</soap:Body></soap:Envelope>`
}

func TestEWSOperationsAndImpersonation(t *testing.T) {
	h := newPKI(t)
	up := newUpstream(t, upstreamOpts{cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"mail.test.example"}}).TLS})
	h.start(harnessOpts{policy: basePolicy + ewsPolicy, hosts: hostsFor("mail.test.example", up)})
	cases := []struct {
		name, op, folder, imp, subject string
		status                         int
	}{
		{"allowed", "SyncFolderItems", "contacts", "alice@corp.example", "alice@corp.example", 200},
		{"operation off the list", "CreateItem", "contacts", "alice@corp.example", "alice@corp.example", 403},
		{"folder off the list", "SyncFolderItems", "inbox", "alice@corp.example", "alice@corp.example", 403},
		{"impersonating someone else", "SyncFolderItems", "contacts", "bob@corp.example", "alice@corp.example", 403},
		{"no impersonation", "SyncFolderItems", "contacts", "", "alice@corp.example", 403},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(h.dir, fmt.Sprintf("ews%d.xml", i))
			if err := os.WriteFile(f, []byte(soap(c.op, c.folder, c.imp)), 0o644); err != nil {
				t.Fatal(err)
			}
			before := up.count()
			r := curl(t, append(h.viaPlain(), "-H", "Content-Type: text/xml; charset=utf-8", "-H", "Syncgate-Subject: "+c.subject,
				"--data-binary", "@"+f, "http://mail.test.example/EWS/Exchange.asmx")...)
			if r.status != c.status {
				t.Fatalf("status %d body %s", r.status, r.body)
			}
			if reached := up.count() > before; reached != (c.status == 200) {
				t.Fatalf("upstream reached: %v", reached)
			}
			rec := h.lastHTTP()
			if rec.Request.Operation != c.op {
				t.Errorf("audited operation %q", rec.Request.Operation)
			}
			if c.status == 200 && up.last().Body != len(soap(c.op, c.folder, c.imp)) {
				t.Errorf("upstream got %d body bytes", up.last().Body)
			}
		})
	}
}

// The tests below put the EWS emulator (emulate/ews, an Exchange 2016 CAS
// that honours impersonation grants, ChangeKeys and meeting messages)
// behind the gateway and send SOAP in the shapes of EWS's messages.xsd and
// types.xsd through the plain listener, as the sync engine does.

const (
	ewsSvcUser = `CORP\svc-sync`
	ewsSvcPass = "s3cret-Pa55!"
	ewsAlice   = "alice@corp.example"
	ewsBob     = "bob@corp.example"
)

// ewsSyncPolicy is the EWS destination the sync engine needs.
const ewsSyncPolicy = `  - name: exchange
    hosts: [mail.test.example]
    tls: {ca_bundle: upstream}
    clients: [sync, sidecar]
    ews: {operations: [SyncFolderItems, FindItem, GetItem, CreateItem, UpdateItem, DeleteItem], folders: [%s]}
`

type ewsEnv struct {
	h   *harness
	up  *upstream
	emu *ews.Server
}

// newEWSEnv starts the emulator with mailboxes for alice and bob (both
// impersonable by the service account) and a gateway in front of it whose
// policy lists folders. The upstream handler adds the service account's
// Basic credentials, as the gateway's credential broker would.
func newEWSEnv(t *testing.T, folders string) *ewsEnv {
	t.Helper()
	h := newPKI(t)
	emu := ews.New(ews.Options{Host: "mail.test.example"})
	for _, err := range []error{
		emu.AddServiceAccount(ewsSvcUser, ewsSvcPass),
		emu.AddMailbox(ewsAlice, "Alice"), emu.AddMailbox(ewsBob, "Bob"),
		emu.GrantImpersonation(ewsSvcUser, ewsAlice), emu.GrantImpersonation(ewsSvcUser, ewsBob),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	up := newUpstream(t, upstreamOpts{cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"mail.test.example"}}).TLS,
		handler: func(w http.ResponseWriter, r *http.Request) {
			r.SetBasicAuth(ewsSvcUser, ewsSvcPass)
			emu.Handler().ServeHTTP(w, r)
		}})
	h.start(harnessOpts{policy: basePolicy + fmt.Sprintf(ewsSyncPolicy, folders), hosts: hostsFor("mail.test.example", up)})
	return &ewsEnv{h: h, up: up, emu: emu}
}

// ewsEnv builds an envelope: RequestServerVersion, then header (usually
// an ExchangeImpersonation), then body.
func ewsDoc(header, body string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<soap:Header><t:RequestServerVersion Version="Exchange2016"/>` + header + `</soap:Header>
<soap:Body>` + body + `</soap:Body></soap:Envelope>`
}

func ewsImp(who string) string {
	return `<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>` + who + `</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`
}

// call posts doc acting as subject and reports the result and whether the
// request reached Exchange.
func (e *ewsEnv) call(t *testing.T, subject, doc string, headers ...string) (curlResult, bool) {
	t.Helper()
	f, err := os.CreateTemp(e.h.dir, "ews-*.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(doc); err != nil {
		t.Fatal(err)
	}
	f.Close()
	args := append(e.h.viaPlain(), "-H", "Syncgate-Subject: "+subject)
	ct := "Content-Type: text/xml; charset=utf-8"
	for _, hv := range headers {
		if strings.HasPrefix(hv, "Content-Type:") {
			ct = hv
		}
		args = append(args, "-H", hv)
	}
	if !slices.Contains(headers, ct) {
		args = append(args, "-H", ct)
	}
	before := e.up.count()
	r := curl(t, append(args, "--data-binary", "@"+f.Name(), "http://mail.test.example/EWS/Exchange.asmx")...)
	return r, e.up.count() > before
}

var ewsItemIDRe = regexp.MustCompile(`<t:ItemId Id="([^"]+)" ChangeKey="([^"]+)"/>`)

// ewsIDs returns the ItemId/ChangeKey pairs of a response.
func ewsIDs(body string) [][2]string {
	var out [][2]string
	for _, m := range ewsItemIDRe.FindAllStringSubmatch(body, -1) {
		out = append(out, [2]string{m[1], m[2]})
	}
	return out
}

func syncFolder(folder string) string {
	return `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="` + folder + `"/></m:SyncFolderId><m:MaxChangesReturned>512</m:MaxChangesReturned></m:SyncFolderItems>`
}

func getItem(id string) string {
	return `<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id="` + id + `"/></m:ItemIds></m:GetItem>`
}

func updateJobTitle(id, ck, title string) string {
	return `<m:UpdateItem ConflictResolution="AutoResolve" SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange><t:ItemId Id="` + id + `" ChangeKey="` + ck + `"/>` +
		`<t:Updates><t:SetItemField><t:FieldURI FieldURI="contacts:JobTitle"/><t:Contact><t:JobTitle>` + title + `</t:JobTitle></t:Contact></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`
}

func deleteItem(id, deleteType string) string {
	return `<m:DeleteItem DeleteType="` + deleteType + `" SendMeetingCancellations="SendToNone"><m:ItemIds><t:ItemId Id="` + id + `"/></m:ItemIds></m:DeleteItem>`
}

func createContact(attrs, folder string) string {
	saved := ""
	if folder != "" {
		saved = `<m:SavedItemFolderId><t:DistinguishedFolderId Id="` + folder + `"/></m:SavedItemFolderId>`
	}
	return `<m:CreateItem` + attrs + `>` + saved + `<m:Items><t:Contact><t:GivenName>Grace</t:GivenName>` +
		`<t:EmailAddresses><t:Entry Key="EmailAddress1">grace@navy.example</t:Entry></t:EmailAddresses><t:Surname>Hopper</t:Surname></t:Contact></m:Items></m:CreateItem>`
}

func createEvent(invitations, folder string) string {
	return `<m:CreateItem SendMeetingInvitations="` + invitations + `"><m:SavedItemFolderId><t:DistinguishedFolderId Id="` + folder + `"/></m:SavedItemFolderId>` +
		`<m:Items><t:CalendarItem><t:Subject>Quarterly review</t:Subject><t:Start>2026-03-02T10:00:00Z</t:Start><t:End>2026-03-02T11:00:00Z</t:End>` +
		`<t:RequiredAttendees><t:Attendee><t:Mailbox><t:EmailAddress>partner@outside.example</t:EmailAddress></t:Mailbox></t:Attendee></t:RequiredAttendees></t:CalendarItem></m:Items></m:CreateItem>`
}

// sendMail is the finding's request: CreateItem SendOnly of a t:Message,
// no folder (messages.xsd CreateItemType, types.xsd MessageType).
const sendMail = `<m:CreateItem MessageDisposition="SendOnly"><m:Items><t:Message><t:Subject>Invoice</t:Subject><t:Body BodyType="Text">pay here</t:Body>` +
	`<t:ToRecipients><t:Mailbox><t:EmailAddress>victim@outside.example</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Message></m:Items></m:CreateItem>`

// TestEWSItemIDsAndCreateThroughGateway walks the sync engine's EWS calls
// and the attacks of issue 9 finding 1 in order: ids are usable only once
// the gateway has relayed them from an allowed folder for that subject.
func TestEWSItemIDsAndCreateThroughGateway(t *testing.T) {
	e := newEWSEnv(t, "contacts, calendar")
	seeded, err := e.emu.AddContact(ewsAlice, ews.Contact{GivenName: "Ada", Surname: "Lovelace", Emails: map[string]string{"EmailAddress1": "ada@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	var created, ck string    // the contact CreateItem makes; the seeded contact's ChangeKey
	var event, eventCK string // the event CreateItem makes, and its ChangeKey
	steps := []struct {
		name    string
		subject string
		doc     func() string
		status  int
		reason  string // in the 403 body
		check   func(t *testing.T, body string)
	}{
		{name: "GetItem of an id the gateway never relayed", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), getItem(seeded)) },
			status: 403, reason: "ews item id not relayed from an allowed folder for this subject"},
		{name: "UpdateItem of an id the gateway never relayed", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), updateJobTitle(seeded, "x", "Owned")) },
			status: 403, reason: "ews item id not relayed"},
		{name: "DeleteItem of an id the gateway never relayed", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), deleteItem(seeded, "HardDelete")) },
			status: 403, reason: "ews item id not relayed"},
		{name: "SyncFolderItems on contacts relays the id", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), syncFolder("contacts")) },
			status: 200, check: func(t *testing.T, body string) {
				if ids := ewsIDs(body); len(ids) != 1 || ids[0][0] != seeded {
					t.Fatalf("sync returned %v", ids)
				}
			}},
		{name: "GetItem of the relayed id", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), getItem(seeded)) },
			status: 200, check: func(t *testing.T, body string) {
				if !strings.Contains(body, "Lovelace") || !strings.Contains(body, `ResponseClass="Success"`) {
					t.Fatalf("GetItem: %s", body)
				}
				ck = ewsIDs(body)[0][1]
			}},
		{name: "same id for another subject", subject: ewsBob, doc: func() string { return ewsDoc(ewsImp(ewsBob), getItem(seeded)) },
			status: 403, reason: "ews item id not relayed"},
		{name: "UpdateItem of the relayed id", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), updateJobTitle(seeded, ck, "Analyst")) },
			status: 200, check: wantNoError},
		{name: "CreateItem SendOnly message", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), sendMail) },
			status: 403, reason: "ews request would send mail"},
		{name: "CreateItem contact without SavedItemFolderId", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), createContact(` MessageDisposition="SaveOnly"`, "")) },
			status: 403, reason: "ews operation must name its target folder"},
		{name: "CreateItem CalendarItem into contacts", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), createEvent("SendToNone", "contacts")) },
			status: 403, reason: "ews item class not allowed in the target folder"},
		{name: "CreateItem with invitations", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), createEvent("SendToAllAndSaveCopy", "calendar")) },
			status: 403, reason: "ews request would send meeting messages"},
		{name: "CreateItem contact into contacts", subject: ewsAlice, doc: func() string {
			return ewsDoc(ewsImp(ewsAlice), createContact(` MessageDisposition="SaveOnly"`, "contacts"))
		},
			status: 200, check: func(t *testing.T, body string) {
				wantNoError(t, body)
				created = ewsIDs(body)[0][0]
			}},
		{name: "GetItem of the created contact", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), getItem(created)) },
			status: 200, check: func(t *testing.T, body string) {
				if !strings.Contains(body, "Hopper") {
					t.Fatalf("GetItem: %s", body)
				}
			}},
		{name: "CreateItem event without invitations", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), createEvent("SendToNone", "calendar")) },
			status: 200, check: func(t *testing.T, body string) {
				wantNoError(t, body)
				event, eventCK = ewsIDs(body)[0][0], ewsIDs(body)[0][1]
			}},
		{name: "UpdateItem of the created event", subject: ewsAlice, doc: func() string {
			return ewsDoc(ewsImp(ewsAlice), `<m:UpdateItem ConflictResolution="AutoResolve" SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange>`+
				`<t:ItemId Id="`+event+`" ChangeKey="`+eventCK+`"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="calendar:Location"/>`+
				`<t:CalendarItem><t:Location>Room 4</t:Location></t:CalendarItem></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
		}, status: 200, check: wantNoError},
		{name: "HardDelete of the created event", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), deleteItem(event, "HardDelete")) },
			status: 200, check: wantNoError},
		{name: "DeleteItem of the relayed id", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), deleteItem(seeded, "MoveToDeletedItems")) },
			status: 200, check: wantNoError},
		{name: "a deleted id is forgotten", subject: ewsAlice, doc: func() string { return ewsDoc(ewsImp(ewsAlice), getItem(seeded)) },
			status: 403, reason: "ews item id not relayed"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r, reached := e.call(t, s.subject, s.doc())
			if r.status != s.status {
				t.Fatalf("status %d, want %d; body %s", r.status, s.status, r.body)
			}
			if reached != (s.status == 200) {
				t.Fatalf("upstream reached: %v", reached)
			}
			if s.reason != "" && !strings.Contains(r.body, s.reason) {
				t.Fatalf("body %s does not give the reason %q", r.body, s.reason)
			}
			if s.reason != "" && !strings.Contains(e.h.lastHTTP().Decision.Reason, s.reason) {
				t.Fatalf("audit reason %q", e.h.lastHTTP().Decision.Reason)
			}
			if s.check != nil {
				s.check(t, r.body)
			}
		})
	}
	if inv := e.emu.Invitations(); len(inv) != 0 {
		t.Errorf("Exchange sent meeting messages: %+v", inv)
	}
}

func wantNoError(t *testing.T, body string) {
	t.Helper()
	if !strings.Contains(body, "<m:ResponseCode>NoError</m:ResponseCode>") || strings.Contains(body, `ResponseClass="Error"`) {
		t.Fatalf("Exchange answered %s", body)
	}
}

// TestEWSItemIDsFollowThePolicy: an id relayed from a folder that a reload
// removes from the policy is refused, and one Exchange holds outside the
// listed folders can never be learned.
func TestEWSItemIDsFollowThePolicy(t *testing.T) {
	e := newEWSEnv(t, "contacts, calendar")
	event, err := e.emu.AddCalendarItem(ewsAlice, ews.CalendarItem{Subject: "1:1", Start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := e.call(t, ewsAlice, ewsDoc(ewsImp(ewsAlice), syncFolder("calendar"))); r.status != 200 {
		t.Fatalf("sync calendar: %d %s", r.status, r.body)
	}
	if r, _ := e.call(t, ewsAlice, ewsDoc(ewsImp(ewsAlice), getItem(event))); r.status != 200 {
		t.Fatalf("GetItem: %d %s", r.status, r.body)
	}
	pf := filepath.Join(e.h.dir, "contacts-only.yaml")
	if err := os.WriteFile(pf, []byte(basePolicy+fmt.Sprintf(ewsSyncPolicy, "contacts")), 0o644); err != nil {
		t.Fatal(err)
	}
	e.h.srv.SetPolicy(mustCompile(t, pf))
	for name, doc := range map[string]string{
		"GetItem":    getItem(event),
		"DeleteItem": deleteItem(event, "HardDelete"),
		"sync":       syncFolder("calendar"),
	} {
		r, reached := e.call(t, ewsAlice, ewsDoc(ewsImp(ewsAlice), doc))
		if r.status != 403 || reached {
			t.Errorf("%s of a calendar item after calendar left the policy: %d (reached %v) %s", name, r.status, reached, r.body)
		}
	}
}

// TestEWSEnvelopeTricks are issue 9 finding 2: envelopes that Exchange
// reads differently from a local-name parser.
func TestEWSEnvelopeTricks(t *testing.T) {
	e := newEWSEnv(t, "contacts, calendar")
	tests := []struct {
		name, doc, reason string
		headers           []string
	}{
		{name: "foreign-namespace ExchangeImpersonation",
			doc:    ewsDoc(`<x:ExchangeImpersonation xmlns:x="urn:evil"><t:ConnectingSID><t:PrimarySmtpAddress>`+ewsAlice+`</t:PrimarySmtpAddress></t:ConnectingSID></x:ExchangeImpersonation>`, syncFolder("contacts")),
			reason: "EWS request refused: ExchangeImpersonation in a foreign namespace"},
		{name: "ExchangeImpersonation without a namespace",
			doc:    ewsDoc(`<ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>`+ewsAlice+`</t:PrimarySmtpAddress></t:ConnectingSID></ExchangeImpersonation>`, syncFolder("contacts")),
			reason: "EWS request refused: ExchangeImpersonation in a foreign namespace"},
		{name: "unknown header", doc: ewsDoc(ewsImp(ewsAlice)+`<t:ManagementRole><t:UserRoles><t:Role>MyContacts</t:Role></t:UserRoles></t:ManagementRole>`, syncFolder("contacts")),
			reason: "EWS request refused: SOAP header not allowed"},
		{name: "SerializedSecurityContext", doc: ewsDoc(`<t:SerializedSecurityContext><t:UserSid>S-1-5-21-1-2-3-500</t:UserSid><t:PrimarySmtpAddress>`+ewsAlice+`</t:PrimarySmtpAddress></t:SerializedSecurityContext>`, syncFolder("contacts")),
			reason: "EWS request refused: SerializedSecurityContext header not allowed"},
		{name: "ConnectingSID with two children", doc: ewsDoc(`<t:ExchangeImpersonation><t:ConnectingSID><t:PrincipalName>admin@corp.example</t:PrincipalName><t:PrimarySmtpAddress>`+ewsAlice+`</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`, syncFolder("contacts")),
			reason: "EWS request refused: ConnectingSID must hold exactly one child"},
		{name: "duplicate attribute", doc: ewsDoc(ewsImp(ewsAlice), `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="contacts" Id="inbox"/></m:SyncFolderId><m:MaxChangesReturned>512</m:MaxChangesReturned></m:SyncFolderItems>`),
			reason: "EWS request refused: duplicate attribute"},
		{name: "qualified MessageDisposition", doc: ewsDoc(ewsImp(ewsAlice), createContact(` m:MessageDisposition="SendOnly"`, "contacts")),
			reason: "EWS request refused: attribute in a foreign namespace"},
		{name: "gzip-encoded body", doc: ewsDoc(ewsImp(ewsAlice), syncFolder("contacts")), headers: []string{"Content-Encoding: gzip"},
			reason: "EWS request body must not be content-encoded"},
		{name: "UTF-16 charset", doc: ewsDoc(ewsImp(ewsAlice), syncFolder("contacts")), headers: []string{"Content-Type: text/xml; charset=utf-16"},
			reason: "EWS request must be UTF-8"},
		{name: "SOAPAction of another operation", doc: ewsDoc(ewsImp(ewsAlice), syncFolder("contacts")), headers: []string{`SOAPAction: "http://schemas.microsoft.com/exchange/services/2006/messages/SendItem"`},
			reason: "SOAPAction does not match the EWS operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, reached := e.call(t, ewsAlice, tt.doc, tt.headers...)
			if r.status != 403 || reached {
				t.Fatalf("status %d, upstream reached %v: %s", r.status, reached, r.body)
			}
			if !strings.Contains(r.body, tt.reason) {
				t.Fatalf("body %s does not give the reason %q", r.body, tt.reason)
			}
			if got := e.h.lastHTTP().Decision.Reason; got != tt.reason {
				t.Fatalf("audit reason %q", got)
			}
		})
	}
	// The well-formed counterparts pass.
	for name, hv := range map[string][]string{
		"plain":               nil,
		"matching SOAPAction": {`SOAPAction: "http://schemas.microsoft.com/exchange/services/2006/messages/SyncFolderItems"`},
	} {
		if r, reached := e.call(t, ewsAlice, ewsDoc(ewsImp(ewsAlice)+`<t:MailboxCulture>en-US</t:MailboxCulture>`, syncFolder("contacts")), hv...); r.status != 200 || !reached {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
}
