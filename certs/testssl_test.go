package certs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/syncgate/syncgate/internal/testpki"
)

type testsslFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
}

// TestListenerTestssl runs testssl.sh against a listener built from
// TLSConfig. It is slow, so it runs only with SYNCGATE_TESTSSL=1 (CI sets it).
func TestListenerTestssl(t *testing.T) {
	if os.Getenv("SYNCGATE_TESTSSL") != "1" {
		t.Skip("set SYNCGATE_TESTSSL=1 to run testssl.sh (slow)")
	}
	bin, err := exec.LookPath("testssl")
	if err != nil {
		if bin, err = exec.LookPath("testssl.sh"); err != nil {
			t.Fatal("testssl.sh is not installed: apt-get install testssl.sh")
		}
	}
	dir := t.TempDir()
	ca := testpki.NewCA(t, "testssl CA")
	// A year of validity so the expiry check judges the configuration, not
	// the test certificate's short life.
	// It names an OCSP responder (stapled by the listener) and a CRL, as a
	// production certificate would.
	issueWithRevocationInfo(t, ca, dir, "gw", ocspResponder(t, ca), 365*24*time.Hour)
	caFile := ca.WriteCert(t, dir, "ca.pem")
	l, err := NewListener(context.Background(), ListenerConfig{CertFile: "gw.pem", KeyFile: "gw.key"}, dir, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := serve(t, l.TLSConfig())

	// A bound, not a performance assertion: testssl.sh takes under a minute
	// on an idle machine and over four on a loaded 2-core one; it only has
	// to end within the package's share of CI's 15-minute test timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	jsonFile := filepath.Join(dir, "testssl.json")
	cmd := exec.CommandContext(ctx, bin, "--quiet", "--color", "0", "--warnings", "off", "--fast", "--sneaky",
		"--connect-timeout", "5", "--openssl-timeout", "10", "--add-ca", caFile,
		"-p", "-E", "-f", "-S", "-U", "--jsonfile", jsonFile, addr)
	out, err := cmd.CombinedOutput()
	t.Logf("testssl.sh output:\n%s", out)
	if ctx.Err() != nil {
		t.Fatalf("testssl.sh did not finish within 9 minutes")
	}
	// testssl exits non-zero for findings too; the JSON is what we judge.
	raw, rerr := os.ReadFile(jsonFile)
	if rerr != nil {
		t.Fatalf("testssl.sh wrote no JSON (exit %v): %v", err, rerr)
	}
	var findings []testsslFinding
	if err := json.Unmarshal(raw, &findings); err != nil {
		t.Fatalf("parse testssl JSON: %v", err)
	}
	problems := judgeTestssl(findings)
	for _, p := range problems {
		t.Error(p)
	}
}

// judgeTestssl returns what is wrong with a testssl.sh run: a protocol
// below TLS 1.2 offered, a cipher without forward secrecy or AEAD, or any
// finding rated HIGH or CRITICAL.
func judgeTestssl(fs []testsslFinding) []string {
	var out []string
	seen := map[string]bool{}
	ciphers := 0
	for _, f := range fs {
		seen[f.ID] = true
		switch f.ID {
		case "SSLv2", "SSLv3", "TLS1", "TLS1_1":
			if !strings.Contains(f.Finding, "not offered") {
				out = append(out, fmt.Sprintf("%s: %s", f.ID, f.Finding))
			}
		}
		if strings.HasPrefix(f.ID, "cipher-") || strings.HasPrefix(f.ID, "cipher_x") {
			ciphers++
			fields := strings.Fields(f.Finding)
			name := ""
			for _, x := range fields {
				if strings.Contains(x, "-") || strings.HasPrefix(x, "TLS_") {
					name = x
					break
				}
			}
			aead := strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20") || strings.Contains(name, "CCM")
			fsKex := strings.HasPrefix(name, "ECDHE-") || strings.HasPrefix(name, "DHE-") || strings.HasPrefix(name, "TLS_")
			if !aead || !fsKex {
				out = append(out, fmt.Sprintf("cipher without AEAD or forward secrecy offered: %s", f.Finding))
			}
		}
		if f.Severity == "HIGH" || f.Severity == "CRITICAL" {
			out = append(out, fmt.Sprintf("%s [%s]: %s", f.ID, f.Severity, f.Finding))
		}
	}
	for _, id := range []string{"SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2"} {
		if !seen[id] {
			out = append(out, "testssl.sh reported nothing for "+id+": the run did not check protocols")
		}
	}
	if ciphers == 0 {
		out = append(out, "testssl.sh listed no ciphers: the run did not check them")
	}
	return out
}

func TestJudgeTestssl(t *testing.T) {
	good := []testsslFinding{
		{ID: "SSLv2", Finding: "not offered"}, {ID: "SSLv3", Finding: "not offered"},
		{ID: "TLS1", Finding: "not offered"}, {ID: "TLS1_1", Finding: "not offered"}, {ID: "TLS1_2", Finding: "offered"},
		{ID: "cipher-tls1_2_xc02b", Severity: "OK", Finding: "TLSv1.2   xc02b   ECDHE-ECDSA-AES128-GCM-SHA256     ECDH 253   AESGCM      128      TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
		{ID: "cipher-tls1_3_x1301", Severity: "OK", Finding: "TLSv1.3   x1301   TLS_AES_128_GCM_SHA256            ECDH 253   AESGCM      128      TLS_AES_128_GCM_SHA256"},
	}
	if p := judgeTestssl(good); len(p) != 0 {
		t.Fatalf("good run judged bad: %v", p)
	}
	for name, bad := range map[string]testsslFinding{
		"tls1.0":  {ID: "TLS1", Finding: "offered (deprecated)"},
		"cbc":     {ID: "cipher-tls1_2_xc013", Finding: "TLSv1.2   xc013   ECDHE-RSA-AES128-SHA   ECDH 253   AES   128   TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"},
		"rsa kex": {ID: "cipher-tls1_2_x9c", Finding: "TLSv1.2   x9c   AES128-GCM-SHA256   RSA   AESGCM   128   TLS_RSA_WITH_AES_128_GCM_SHA256"},
		"high":    {ID: "BREACH", Severity: "HIGH", Finding: "potentially VULNERABLE"},
	} {
		if p := judgeTestssl(append(append([]testsslFinding{}, good...), bad)); len(p) == 0 {
			t.Errorf("%s: bad run judged good", name)
		}
	}
}
