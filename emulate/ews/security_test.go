package ews

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestBasicAuthRequired(t *testing.T) {
	e := newEnv(t, Options{})
	payload := envelope(alice, syncReq("contacts", "", 10))
	for _, tc := range []struct{ name, user, pass string }{
		{"no credentials", "", ""},
		{"wrong password", svcUser, "guess"},
		{"unknown user", `CORP\mallory`, svcPass},
		{"empty password", svcUser, ""},
	} {
		r := e.post(t, tc.user, tc.pass, payload)
		if r.status != 401 || r.header.Get("WWW-Authenticate") != `Basic realm="mail.corp.example"` {
			t.Errorf("%s: %d %q", tc.name, r.status, r.header.Get("WWW-Authenticate"))
		}
		if tc.pass != "" && strings.Contains(r.raw, tc.pass) {
			t.Errorf("%s: response echoes the password", tc.name)
		}
	}
}

func TestImpersonationEnforced(t *testing.T) {
	e := newEnv(t, Options{})
	bobItem, err := e.srv.AddContact(bob, Contact{Surname: "Private"})
	must(t, err)

	if c := e.call(t, "", syncReq("contacts", "", 10)).codes(t); c[0] != "Error:ErrorMissingEmailAddress" {
		t.Errorf("no impersonation header: %v", c)
	}
	if code := e.call(t, carol, syncReq("contacts", "", 10)).fault(t); code != "ErrorImpersonateUserDenied" {
		t.Errorf("ungranted mailbox: %s", code)
	}
	r := e.call(t, "nobody@corp.example", syncReq("contacts", "", 10))
	if code := r.fault(t); code != "ErrorNonExistentMailbox" || find(r.root, "Value") == nil {
		t.Errorf("missing mailbox: %s\n%s", code, r.raw)
	}
	// an item of bob's is invisible while acting as alice
	for _, body := range []string{getItemXML(bobItem), `<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="` + bobItem + `"/></m:ItemIds></m:DeleteItem>`,
		updateXML("AlwaysOverwrite", bobItem, "", setField("contacts:Surname", `<t:Surname>pwned</t:Surname>`))} {
		if c := e.call(t, alice, body).codes(t); c[0] != "Error:ErrorItemNotFound" {
			t.Errorf("cross-mailbox access: %v", c)
		}
	}
	// naming bob's folder while impersonating alice
	r = e.call(t, alice, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"><t:Mailbox><t:EmailAddress>bob@corp.example</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:ParentFolderIds></m:FindItem>`)
	if c := r.codes(t); c[0] != "Error:ErrorAccessDenied" || strings.Contains(r.raw, "Private") {
		t.Errorf("delegate folder: %v", c)
	}
	items, _ := e.srv.Items(bob, "contacts")
	if len(items) != 1 || items[0].Deleted || items[0].Props["Surname"] != "Private" {
		t.Fatalf("bob's item changed: %+v", items)
	}
	// SmtpAddress form of ConnectingSID
	alt := strings.Replace(envelope(alice, syncReq("contacts", "", 10)), "PrimarySmtpAddress", "SmtpAddress", 2)
	if c := e.post(t, svcUser, svcPass, alt).codes(t); c[0] != "Success:NoError" {
		t.Errorf("SmtpAddress: %v", c)
	}
	e.srv.RevokeImpersonation(svcUser, alice)
	if code := e.call(t, alice, syncReq("contacts", "", 10)).fault(t); code != "ErrorImpersonateUserDenied" {
		t.Errorf("after revoke: %s", code)
	}
	must(t, e.srv.GrantImpersonation(svcUser, "*"))
	if c := e.call(t, carol, syncReq("contacts", "", 10)).codes(t); c[0] != "Success:NoError" {
		t.Errorf("org-wide grant: %v", c)
	}
}

func TestServerBusy(t *testing.T) {
	e := newEnv(t, Options{RateLimit: 2, RateWindow: time.Minute})
	for i := 0; i < 2; i++ {
		if c := e.call(t, alice, syncReq("contacts", "", 10)).codes(t); c[0] != "Success:NoError" {
			t.Fatalf("call %d: %v", i, c)
		}
	}
	e.clk.Advance(15 * time.Second)
	r := e.call(t, alice, syncReq("contacts", "", 10))
	if code := r.fault(t); code != "ErrorServerBusy" {
		t.Fatalf("over budget: %s", code)
	}
	v := find(r.root, "Value")
	if v == nil || attr(v, "Name") != "BackOffMilliseconds" || v.Text != "45000" {
		t.Fatalf("BackOffMilliseconds:\n%s", r.raw)
	}
	e.clk.Advance(45 * time.Second)
	if c := e.call(t, alice, syncReq("contacts", "", 10)).codes(t); c[0] != "Success:NoError" {
		t.Fatalf("after back-off: %v", c)
	}
	e.srv.SetFaults(Faults{ServerBusy: 1, BackOff: 1500 * time.Millisecond})
	r = e.call(t, alice, syncReq("contacts", "", 10))
	if code := r.fault(t); code != "ErrorServerBusy" || find(r.root, "Value").Text != "1500" {
		t.Fatalf("injected busy:\n%s", r.raw)
	}
}

func TestMalformedRequests(t *testing.T) {
	e := newEnv(t, Options{MaxRequestBytes: 64 << 10})
	cases := []struct{ name, payload, want string }{
		{"not xml", "hello", "ErrorSchemaValidation"},
		{"doctype", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>` + envelope(alice, syncReq("contacts", "", 1))[len(`<?xml version="1.0" encoding="utf-8"?>`):], "ErrorSchemaValidation"},
		{"soap 1.2", strings.Replace(envelope(alice, syncReq("contacts", "", 1)), NSSoap, "http://www.w3.org/2003/05/soap-envelope", 1), "ErrorSchemaValidation"},
		{"two operations", envelope(alice, syncReq("contacts", "", 1)+syncReq("calendar", "", 1)), "ErrorSchemaValidation"},
		{"unknown version", strings.Replace(envelope(alice, syncReq("contacts", "", 1)), "Exchange2016", "Exchange2099", 1), "ErrorInvalidServerVersion"},
		{"unsupported operation", envelope(alice, `<m:ResolveNames ReturnFullContactData="true"><m:UnresolvedEntry>a</m:UnresolvedEntry></m:ResolveNames>`), "ErrorInvalidRequest"},
		{"no shape", envelope(alice, `<m:GetItem><m:ItemIds><t:ItemId Id="AAAAAAAAAAAA"/></m:ItemIds></m:GetItem>`), "ErrorSchemaValidation"},
	}
	for _, tc := range cases {
		if code := e.post(t, svcUser, svcPass, tc.payload).fault(t); code != tc.want {
			t.Errorf("%s: %s", tc.name, code)
		}
	}
	big := envelope(alice, `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds>`+strings.Repeat(`<t:ItemId Id="AAAAAAAAAAAA"/>`, 3000)+`</m:ItemIds></m:GetItem>`)
	if r := e.post(t, svcUser, svcPass, big); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: %d", r.status)
	}
	req, _ := http.NewRequest("GET", "https://mail.corp.example"+Path, nil)
	req.SetBasicAuth(svcUser, svcPass)
	if res, err := e.client.Do(req); err != nil || res.StatusCode != 405 {
		t.Errorf("GET: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	for _, u := range []string{"https://mail.corp.example/EWS/Other.asmx", "https://evil.example" + Path} {
		rr := httptest.NewRecorder()
		req := httptest.NewRequest("POST", u, strings.NewReader(envelope(alice, syncReq("contacts", "", 1))))
		req.SetBasicAuth(svcUser, svcPass)
		e.srv.Handler().ServeHTTP(rr, req)
		if rr.Code != 404 {
			t.Errorf("%s: %d", u, rr.Code)
		}
	}
}

func TestParseRequest(t *testing.T) {
	body := `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="calendar"/></m:SyncFolderId><m:MaxChangesReturned>5</m:MaxChangesReturned></m:SyncFolderItems>`
	req, err := ParseRequest(strings.NewReader(envelope(alice, body)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if req.Operation != "SyncFolderItems" || req.Version != "Exchange2016" || req.Impersonation.Address() != alice || strings.Join(req.DistinguishedFolders(), ",") != "calendar" {
		t.Fatalf("parsed %+v", req)
	}
	bad := []string{
		"",
		`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>`,
		`<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>`,
		envelope(alice, body) + "<extra/>",
		`<soap:Envelope xmlns:soap="` + NSSoap + `"><soap:Body><?php echo 1; ?><m:GetItem xmlns:m="` + NSMessages + `"/></soap:Body></soap:Envelope>`,
		`<soap:Envelope xmlns:soap="` + NSSoap + `"><soap:Body><GetItem/></soap:Body></soap:Envelope>`,
		`<soap:Envelope xmlns:soap="` + NSSoap + `"><soap:Body>` + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</soap:Body></soap:Envelope>`,
		`<soap:Envelope xmlns:soap="` + NSSoap + `"><soap:Body><m:GetItem xmlns:m="` + NSMessages + `">&unknown;</m:GetItem></soap:Body></soap:Envelope>`,
		`<soap:Envelope xmlns:soap="` + NSSoap + `"><soap:Header><t:ExchangeImpersonation xmlns:t="` + NSTypes + `"/></soap:Header><soap:Body><m:GetItem xmlns:m="` + NSMessages + `"/></soap:Body></soap:Envelope>`,
	}
	for _, in := range bad {
		if _, err := ParseRequest(strings.NewReader(in), 1<<20); err == nil {
			t.Errorf("accepted %q", truncate(in, 80))
		}
	}
	if _, err := ParseRequest(strings.NewReader(envelope(alice, body)), 100); err != ErrTooLarge {
		t.Errorf("size limit: %v", err)
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add(envelope(alice, syncReq("contacts", "", 5)))
	f.Add(envelope("", `<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id="AAMk" ChangeKey="x"/></m:ItemIds></m:GetItem>`))
	f.Add(`<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>`)
	f.Add(`<soap:Envelope xmlns:soap="` + NSSoap + `"><soap:Body/></soap:Envelope>`)
	srv := New(Options{})
	_ = srv.AddServiceAccount("u", "p")
	_ = srv.AddMailbox(alice, "a")
	_ = srv.GrantImpersonation("u", "*")
	f.Fuzz(func(t *testing.T, in string) {
		req, err := ParseRequest(strings.NewReader(in), 1<<16)
		if err != nil {
			return
		}
		if req.Body == nil || req.Operation == "" {
			t.Fatal("accepted a request without an operation")
		}
		_ = req.DistinguishedFolders()
		// Whatever parses must be handled without panicking.
		rr := httptest.NewRecorder()
		hr := httptest.NewRequest("POST", "https://mail.corp.example"+Path, strings.NewReader(in))
		hr.SetBasicAuth("u", "p")
		srv.Handler().ServeHTTP(rr, hr)
		if rr.Code != 200 && rr.Code != 500 {
			t.Fatalf("status %d", rr.Code)
		}
	})
}

func TestAdminAPI(t *testing.T) {
	srv := New(Options{})
	ts := httptest.NewServer(srv.Admin())
	defer ts.Close()
	post := func(path string, v any) int {
		b, _ := json.Marshal(v)
		res, err := http.Post(ts.URL+path, "application/json", bytes.NewReader(b))
		must(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	steps := []struct {
		path string
		body any
		want int
	}{
		{"/accounts", map[string]string{"username": "svc", "password": "pw"}, 204},
		{"/accounts", map[string]string{"username": "svc"}, 400},
		{"/mailboxes", map[string]string{"smtp": alice, "display_name": "Alice"}, 204},
		{"/mailboxes", map[string]string{"smtp": "not-an-address"}, 400},
		{"/grants", map[string]string{"username": "svc", "smtp": alice}, 204},
		{"/grants", map[string]string{"username": "ghost", "smtp": alice}, 400},
		{"/mailboxes/" + alice + "/contacts", Contact{GivenName: "A", Surname: "B", Emails: map[string]string{"EmailAddress1": "a@b"}}, 201},
		{"/mailboxes/" + alice + "/contacts", Contact{Emails: map[string]string{"Bogus": "a@b"}}, 400},
		{"/mailboxes/" + alice + "/calendar", CalendarItem{Subject: "S", Start: t0, End: t0.Add(time.Hour)}, 201},
		{"/mailboxes/" + alice + "/calendar", CalendarItem{Subject: "S", Start: t0, End: t0.Add(-time.Hour)}, 400},
		{"/faults", map[string]any{"server_busy": 1, "invalidate_sync_states": true}, 204},
		{"/faults", map[string]any{"latency_ms": -5}, 400},
	}
	for _, s := range steps {
		if got := post(s.path, s.body); got != s.want {
			t.Errorf("POST %s %v: %d, want %d", s.path, s.body, got, s.want)
		}
	}
	res, err := http.Get(ts.URL + "/mailboxes/" + alice + "/contacts")
	must(t, err)
	var items []ItemInfo
	_ = json.NewDecoder(res.Body).Decode(&items)
	res.Body.Close()
	if len(items) != 1 || items[0].Props["DisplayName"] != "A B" || items[0].Emails["EmailAddress1"] != "a@b" {
		t.Fatalf("list: %+v", items)
	}
	if srv.generation != 1 || srv.faults.ServerBusy != 1 {
		t.Fatalf("faults not applied: gen=%d busy=%d", srv.generation, srv.faults.ServerBusy)
	}
}

func BenchmarkParseRequest(b *testing.B) {
	in := envelope(alice, syncReq("contacts", "", 100))
	for b.Loop() {
		if _, err := ParseRequest(strings.NewReader(in), 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSyncFolderItems512(b *testing.B) {
	srv := New(Options{})
	_ = srv.AddServiceAccount("u", "p")
	_ = srv.AddMailbox(alice, "a")
	_ = srv.GrantImpersonation("u", alice)
	for i := 0; i < 512; i++ {
		if _, err := srv.AddContact(alice, Contact{GivenName: "G", Surname: "S", Emails: map[string]string{"EmailAddress1": "x@y"}}); err != nil {
			b.Fatal(err)
		}
	}
	payload := envelope(alice, syncReq("contacts", "", 512))
	h := srv.Handler()
	for b.Loop() {
		rr := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "https://mail.corp.example"+Path, strings.NewReader(payload))
		req.SetBasicAuth("u", "p")
		h.ServeHTTP(rr, req)
		if rr.Code != 200 {
			b.Fatal(rr.Code)
		}
	}
}
