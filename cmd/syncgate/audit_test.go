package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/audit"
)

var auditBase = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// auditRecord is record i of the test log: clients alternate, every third
// is denied, the first ten are two days old.
func auditRecord(i int) *audit.Record {
	client := []string{"sync", "batch"}[i%2]
	allow := i%3 != 0
	r := &audit.Record{
		Time: auditBase.Add(time.Duration(i) * time.Minute), Kind: audit.KindHTTP,
		Client:   &audit.Client{Name: client, IP: "127.0.0.1"},
		Subject:  fmt.Sprintf("u%d@corp.example", i%4),
		Request:  &audit.Request{Method: "GET", Host: "graph.microsoft.com", Port: 443, Path: fmt.Sprintf("/v1.0/users/u%d/contacts", i)},
		Decision: &audit.Decision{Allow: allow, Mode: "enforce", Destination: []string{"graph", "google"}[i%2], Rule: "r1"},
		Response: &audit.Response{Status: 200},
	}
	if i < 10 {
		r.Time = auditBase.Add(-48 * time.Hour).Add(time.Duration(i) * time.Minute)
	}
	if !allow {
		r.Decision.Rule, r.Decision.Reason, r.Response.Status = "", fmt.Sprintf("=cmd|reason %d", i%2), 403
	}
	return r
}

func gunzipped(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(name, ".gz") {
		return b
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func makeAuditLog(t *testing.T, n int, o audit.Options) (string, []*audit.Record) {
	t.Helper()
	if o.Path == "" {
		o.Path = filepath.Join(t.TempDir(), "audit.jsonl")
	}
	w, err := audit.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*audit.Record
	for i := 0; i < n; i++ {
		r := auditRecord(i)
		if err := w.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return o.Path, recs
}

func TestAuditVerifyCLI(t *testing.T) {
	path, _ := makeAuditLog(t, 30, audit.Options{RotateSize: 2000, Gzip: true})
	out, errs, code := runCLI(t, "audit", "verify", path)
	if code != 0 || !strings.Contains(out, "intact: 30 records, seq 1..30") {
		t.Fatalf("intact log: code %d out %q err %q", code, out, errs)
	}
	// Damage record 12 in whichever (possibly gzipped) file holds it.
	files, _ := audit.Files(path)
	damaged := false
	for _, f := range files {
		b := gunzipped(t, f)
		if !bytes.Contains(b, []byte(`"seq":12,`)) {
			continue
		}
		// Seq 12 is auditRecord(11).
		nb := bytes.Replace(b, []byte("users/u11/"), []byte("users/u99/"), 1)
		if bytes.Equal(nb, b) {
			t.Fatal("test setup: nothing replaced")
		}
		b = nb
		if strings.HasSuffix(f, ".gz") {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(b)
			zw.Close()
			b = z.Bytes()
		}
		os.WriteFile(f, b, 0o600)
		damaged = true
	}
	if !damaged {
		t.Fatal("seq 12 not found")
	}
	out, _, code = runCLI(t, "audit", "verify", path)
	if code != auditExitBroken || !strings.Contains(out, "BROKEN at seq 12") || !strings.Contains(out, "hash mismatch") {
		t.Fatalf("damaged log: code %d out %q", code, out)
	}
	out, _, code = runCLI(t, "audit", "verify", "--json", path)
	var res audit.VerifyResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != auditExitBroken || res.Intact || res.Problem.Seq != 12 {
		t.Fatalf("--json: code %d %v %+v", code, err, res)
	}
	if _, _, code := runCLI(t, "audit", "verify", filepath.Join(t.TempDir(), "missing.jsonl")); code != auditExitUsage {
		t.Fatalf("missing file: code %d, want %d", code, auditExitUsage)
	}
}

func TestAuditVerifyPubkeyCLI(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "ckpt.key")
	pub, _, code := runCLI(t, "audit", "keygen", "--out", keyFile)
	if code != 0 || !strings.Contains(pub, "BEGIN PUBLIC KEY") {
		t.Fatalf("keygen: %d %q", code, pub)
	}
	if _, _, code := runCLI(t, "audit", "keygen", "--out", keyFile); code == 0 {
		t.Fatal("keygen overwrote an existing key")
	}
	st, _ := os.Stat(keyFile)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
	exported, _, code := runCLI(t, "audit", "pubkey", "--key", keyFile)
	if code != 0 || exported != pub {
		t.Fatalf("pubkey export differs from keygen output: %q vs %q", exported, pub)
	}
	pubFile := filepath.Join(dir, "ckpt.pub")
	os.WriteFile(pubFile, []byte(pub), 0o644)

	signer, err := audit.NewEd25519SignerFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	path, _ := makeAuditLog(t, 25, audit.Options{Signer: signer, CheckpointEvery: 10})
	out, _, code := runCLI(t, "audit", "verify", "--pubkey", pubFile, path)
	if code != 0 || !strings.Contains(out, "signed:") {
		t.Fatalf("signed log: %d %q", code, out)
	}
	otherKey := filepath.Join(dir, "other.key")
	otherPub, _, _ := runCLI(t, "audit", "keygen", "--out", otherKey)
	otherFile := filepath.Join(dir, "other.pub")
	os.WriteFile(otherFile, []byte(otherPub), 0o644)
	out, _, code = runCLI(t, "audit", "verify", "--pubkey", otherFile, path)
	if code != auditExitBroken || !strings.Contains(out, "unknown signing key") {
		t.Fatalf("verify with the wrong key: %d %q", code, out)
	}
	if _, _, code := runCLI(t, "audit", "verify", "--vault", path); code != auditExitUsage {
		t.Fatalf("--vault: code %d", code)
	}
}

func TestAuditQueryCLI(t *testing.T) {
	path, recs := makeAuditLog(t, 40, audit.Options{RotateSize: 3000, Gzip: true})
	count := func(pred func(r *audit.Record) bool) int {
		n := 0
		for _, r := range recs {
			if pred(r) {
				n++
			}
		}
		return n
	}
	since := auditBase.Add(-time.Hour).Format(time.RFC3339)
	cases := []struct {
		args []string
		want func(r *audit.Record) bool
	}{
		{nil, func(*audit.Record) bool { return true }},
		{[]string{"--decision", "deny"}, func(r *audit.Record) bool { return !r.Decision.Allow }},
		{[]string{"--decision", "allow", "--client", "sync"}, func(r *audit.Record) bool { return r.Decision.Allow && r.Client.Name == "sync" }},
		{[]string{"--subject", "u1@corp.example,u2@corp.example"}, func(r *audit.Record) bool { return r.Subject == "u1@corp.example" || r.Subject == "u2@corp.example" }},
		{[]string{"--since", since}, func(r *audit.Record) bool { return !r.Time.Before(auditBase.Add(-time.Hour)) }},
		{[]string{"--since", since, "--until", auditBase.Add(20 * time.Minute).Format(time.RFC3339)}, func(r *audit.Record) bool {
			return !r.Time.Before(auditBase.Add(-time.Hour)) && r.Time.Before(auditBase.Add(20*time.Minute))
		}},
		{[]string{"--destination", "google", "--status", "403"}, func(r *audit.Record) bool { return r.Decision.Destination == "google" && r.Response.Status == 403 }},
		{[]string{"--kind", "config"}, func(r *audit.Record) bool { return false }},
		{[]string{"--host", "graph.microsoft.com", "--rule", "r1"}, func(r *audit.Record) bool { return r.Decision.Rule == "r1" }},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			out, errs, code := runCLI(t, append(append([]string{"audit", "query"}, c.args...), path)...)
			if code != 0 {
				t.Fatalf("code %d: %s", code, errs)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if out == "" {
				lines = nil
			}
			want := count(c.want)
			if len(lines) != want {
				t.Fatalf("%d lines, want %d", len(lines), want)
			}
			for _, l := range lines {
				if _, err := audit.HashLine([]byte(l)); err != nil {
					t.Fatalf("output line is not a verbatim record: %v", err)
				}
			}
		})
	}

	out, _, code := runCLI(t, "audit", "query", "--format", "csv", "--decision", "deny", path)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != 1+count(func(r *audit.Record) bool { return !r.Decision.Allow }) {
		t.Fatalf("csv: code %d err %v rows %d", code, err, len(rows))
	}
	if strings.Join(rows[0], ",") != strings.Join(audit.TableColumns, ",") {
		t.Fatalf("csv header %v", rows[0])
	}
	for _, row := range rows[1:] {
		if reason := row[len(row)-1]; strings.HasPrefix(reason, "=") {
			t.Fatalf("csv cell starts a formula: %q", reason)
		}
	}
	out, _, code = runCLI(t, "audit", "query", "--format", "table", "--client", "batch", path)
	if code != 0 || !strings.HasPrefix(out, "TIME") || strings.Count(out, "\n") != 1+count(func(r *audit.Record) bool { return r.Client.Name == "batch" }) {
		t.Fatalf("table: code %d\n%s", code, out)
	}
	for _, bad := range [][]string{{"--decision", "maybe"}, {"--since", "yesterday"}, {"--format", "xml"}, {"--status", "abc"}} {
		if _, _, code := runCLI(t, append(append([]string{"audit", "query"}, bad...), path)...); code != auditExitUsage {
			t.Errorf("%v: code %d, want %d", bad, code, auditExitUsage)
		}
	}
}

func TestAuditSummaryCLI(t *testing.T) {
	path, recs := makeAuditLog(t, 30, audit.Options{})
	out, _, code := runCLI(t, "audit", "summary", "--format", "json", "--since", auditBase.Add(-time.Hour).Format(time.RFC3339), path)
	var s audit.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil || code != 0 {
		t.Fatalf("summary json: %v %d %q", err, code, out)
	}
	want := map[string]int{}
	denies := 0
	for _, r := range recs {
		if r.Time.Before(auditBase.Add(-time.Hour)) {
			continue
		}
		want[r.Client.Name]++
		if !r.Decision.Allow {
			denies++
		}
	}
	if fmt.Sprint(s.ByClient) != fmt.Sprint(want) || s.ByDecision["deny"] != denies || len(s.Denials) != denies {
		t.Fatalf("summary %+v, want clients %v denies %d", s, want, denies)
	}
	out, _, code = runCLI(t, "audit", "summary", path)
	for _, sect := range []string{"by destination", "by decision", "by client", "deny reasons", "=cmd|reason 1"} {
		if !strings.Contains(out, sect) || code != 0 {
			t.Fatalf("text summary lacks %q:\n%s", sect, out)
		}
	}
}

// The log verifies while another goroutine is still writing to it: the
// reader sees whole records only, or a torn tail it reports as such.
func TestAuditVerifyWhileWriting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w, err := audit.Open(context.Background(), audit.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			w.Write(context.Background(), auditRecord(i))
		}
	}()
	for i := 0; i < 5; i++ {
		out, _, code := runCLI(t, "audit", "verify", path)
		if code != 0 && !strings.Contains(out, "truncated tail") {
			t.Fatalf("concurrent verify: %d %s", code, out)
		}
	}
	wg.Wait()
	w.Close()
}
