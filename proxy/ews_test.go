package proxy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
