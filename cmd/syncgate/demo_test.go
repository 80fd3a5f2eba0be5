package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs `syncgate demo` in-process: emulators, gateway, the calls.
// The demo is what `make demo` shows a new user, so it must keep working,
// and it must never print or log a secret.
func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	var out strings.Builder
	if err := runDemo(context.Background(), &out, dir, false, false); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	// The last pass writes nothing for anyone.
	last := text[strings.LastIndex(text, "Pass 3"):]
	for _, line := range strings.Split(last, "\n")[2:8] {
		if f := strings.Fields(line); len(f) < 6 || f[2] != "0" || f[3] != "0" || f[4] != "0" {
			t.Errorf("pass 3 wrote: %q", line)
		}
	}
	// Pass 2 creates carol's Exchange series in Salesforce as one item (one
	// create, no update or delete: the moved and the cancelled occurrence
	// travel in it).
	pass2 := text[strings.Index(text, "Pass 2"):strings.LastIndex(text, "Pass 3")]
	if f := fieldsOf(pass2, "carol@corp.example  events"); len(f) < 5 || f[2] != "1" || f[3] != "0" || f[4] != "0" {
		t.Errorf("pass 2 for carol's events: %q, want one create", f)
	}
	for _, want := range []string{
		"Graph: alice's contacts, as alice           200 OK",
		"Salesforce: SOQL for contacts, as alice     200 OK",
		"EWS: SyncFolderItems on alice's contacts    200 OK",
		"path not in normal form",
		"ews impersonation does not match subject",
		"chain intact",
		"Pass 1: first sync",
		"carol@corp.example  events    4",
		"conflict  contacts  crm_to_mail",
		"delete    events    mail_to_crm  deleted in mail",
		"Outlook: the user creates a weekly series (begun four weeks ago), moves next week's occurrence and cancels the one after",
		"create    events    mail_to_crm  new in mail",
		"Exchange (on-premises): carol creates a weekly series (begun three weeks ago), moves next week's occurrence and cancels the one after",
		"records (one per item action, each naming its gateway calls), chain intact",
		// The intercept CA vouches only for the demo policy's hosts.
		"name constraints: permitted DNS corp.my.salesforce.com, graph.microsoft.com, login.microsoftonline.com",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	// Every secret the seed created must stay out of the output and the log.
	auditLog, _ := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	syncAudit, _ := os.ReadFile(filepath.Join(dir, "sync-audit.jsonl"))
	syncCfg, _ := os.ReadFile(filepath.Join(dir, "syncgate-sync.yaml"))
	if len(syncAudit) == 0 || len(syncCfg) == 0 {
		t.Fatal("the demo wrote no sync audit or sync config")
	}
	auditLog = append(append(auditLog, syncAudit...), syncCfg...)
	for _, f := range []string{"microsoft-client-secret", "ews-password", "google-sa.key", "salesforce-app.key"} {
		b, err := os.ReadFile(filepath.Join(dir, "seed", f))
		if err != nil {
			t.Fatal(err)
		}
		secret := strings.TrimSpace(string(b))
		if strings.Contains(f, ".key") {
			// the base64 body of the key, line by line
			for _, line := range strings.Split(secret, "\n")[1:3] {
				if strings.Contains(text, line) || strings.Contains(string(auditLog), line) {
					t.Errorf("%s leaked", f)
				}
			}
			continue
		}
		if strings.Contains(text, secret) || strings.Contains(string(auditLog), secret) {
			t.Errorf("%s leaked", f)
		}
	}
}

// fieldsOf returns the fields of text's first line that starts with prefix.
func fieldsOf(text, prefix string) []string {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			return strings.Fields(line)
		}
	}
	return nil
}
