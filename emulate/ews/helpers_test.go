package ews

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/emulate/clock"
	"github.com/syncgate/syncgate/internal/testpki"
)

const (
	svcUser = `CORP\svc-sync`
	svcPass = "s3cret-Pa55!"
	alice   = "alice@corp.example"
	bob     = "bob@corp.example"
	carol   = "carol@corp.example" // has a mailbox, not granted
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

type env struct {
	srv    *Server
	clk    *clock.Fake
	client *http.Client
}

// newEnv serves the emulator over real TLS on 127.0.0.1 with a certificate
// for mail.corp.example; the client dials every host to that listener.
func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	clk := clock.NewFake(t0)
	o.Clock = clk
	srv := New(o)
	must(t, srv.AddServiceAccount(svcUser, svcPass))
	for _, m := range []string{alice, bob, carol} {
		must(t, srv.AddMailbox(m, strings.Split(m, "@")[0]))
	}
	must(t, srv.GrantImpersonation(svcUser, alice))
	must(t, srv.GrantImpersonation(svcUser, bob))
	_, client, _ := testpki.ServeHosts(t, srv.Handler(), srv.Hosts()...)
	return &env{srv: srv, clk: clk, client: client}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func envelope(impersonate, body string) string {
	h := `<t:RequestServerVersion Version="Exchange2016"/>`
	if impersonate != "" {
		h += `<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>` + impersonate + `</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`
	}
	return `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="` + NSMessages + `" xmlns:t="` + NSTypes + `">
<soap:Header>` + h + `</soap:Header><soap:Body>` + body + `</soap:Body></soap:Envelope>`
}

type soapResp struct {
	status int
	header http.Header
	raw    string
	root   *Node
}

func (e *env) post(t testing.TB, user, pass, payload string) soapResp {
	t.Helper()
	req, err := http.NewRequest("POST", "https://mail.corp.example"+Path, strings.NewReader(payload))
	must(t, err)
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	res, err := e.client.Do(req)
	must(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := soapResp{status: res.StatusCode, header: res.Header, raw: string(b)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/xml") {
		root, err := parseTree(b)
		if err != nil {
			t.Fatalf("response is not XML: %v\n%s", err, b)
		}
		out.root = root
	}
	return out
}

// call sends an operation as the service account impersonating who.
func (e *env) call(t testing.TB, who, body string) soapResp {
	t.Helper()
	return e.post(t, svcUser, svcPass, envelope(who, body))
}

func find(n *Node, local string) *Node {
	var hit *Node
	n.Walk(func(k *Node) {
		if hit == nil && k.Local == local && k.Space != NSSoap {
			hit = k
		}
	})
	return hit
}

func findAll(n *Node, local string) []*Node {
	var out []*Node
	n.Walk(func(k *Node) {
		if k.Local == local {
			out = append(out, k)
		}
	})
	return out
}

func attr(n *Node, name string) string {
	v, _ := n.AttrValue(name)
	return v
}

// codes returns ResponseClass:ResponseCode of every response message.
func (r soapResp) codes(t testing.TB) []string {
	t.Helper()
	if r.status != 200 || r.root == nil {
		t.Fatalf("want 200 SOAP response, got %d\n%s", r.status, r.raw)
	}
	var out []string
	for _, n := range r.root.Child(NSSoap, "Body").Kids[0].Child(NSMessages, "ResponseMessages").Kids {
		out = append(out, attr(n, "ResponseClass")+":"+n.Child(NSMessages, "ResponseCode").Text)
	}
	return out
}

// fault returns the EWS response code of a SOAP fault.
func (r soapResp) fault(t testing.TB) string {
	t.Helper()
	if r.status != 500 || r.root == nil {
		t.Fatalf("want 500 SOAP fault, got %d\n%s", r.status, r.raw)
	}
	f := r.root.Child(NSSoap, "Body").Child(NSSoap, "Fault")
	if f == nil {
		t.Fatalf("no soap:Fault in\n%s", r.raw)
	}
	return find(f, "ResponseCode").Text
}

func syncReq(folder, state string, max int) string {
	st := ""
	if state != "" {
		st = "<m:SyncState>" + state + "</m:SyncState>"
	}
	return `<m:SyncFolderItems><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="` + folder + `"/></m:SyncFolderId>` +
		st + `<m:MaxChangesReturned>` + strconv.Itoa(max) + `</m:MaxChangesReturned></m:SyncFolderItems>`
}
