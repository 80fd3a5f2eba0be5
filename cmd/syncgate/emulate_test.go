package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/emulate"
)

// emuOutput is the command's stdout, read while the command still writes.
type emuOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *emuOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *emuOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

var listeningRE = regexp.MustCompile(`emulators listening on https://(127\.0\.0\.1:\d+)`)

// startEmulateCLI runs `syncgate emulate` in-process until the test ends
// and returns the address it printed and its output so far.
func startEmulateCLI(t *testing.T, args ...string) (addr string, stdout, stderr *emuOutput) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr = &emuOutput{}, &emuOutput{}
	cmd := newRootCmd()
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetArgs(append([]string{"emulate", "--addr", "127.0.0.1:0"}, args...))
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("emulate after its context ended: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("emulate did not stop when its context ended")
		}
	})
	// Wait for the banner (printed once the listener is bound), or for the
	// command to fail early.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningRE.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], stdout, stderr
		}
		select {
		case err := <-done:
			done <- err // let Cleanup see it too
			t.Fatalf("emulate exited early: %v\n%s%s", err, stdout, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("emulate printed no address:\n%s%s", stdout, stderr)
	return "", nil, nil
}

func clientTrusting(t *testing.T, caFile, addr string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		// As the gateway's network.hosts does: every name to the listener.
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestEmulateCLIServesHostsWithItsCA(t *testing.T) {
	dir := t.TempDir()
	caDir, seedDir := filepath.Join(dir, "ca"), filepath.Join(dir, "seed")
	addr, stdout, stderr := startEmulateCLI(t, "--ca-dir", caDir, "--seed", seedDir, "--fake-clock")

	caFile := filepath.Join(caDir, "root-ca.pem")
	out := stdout.String()
	if !strings.Contains(out, caFile) {
		t.Errorf("output does not name the CA file %s:\n%s", caFile, out)
	}
	for _, h := range emulate.New(emulate.Options{}).Hosts() {
		if !strings.Contains(out, "    "+h+": \""+addr+"\"") {
			t.Errorf("output lacks the network.hosts line for %s:\n%s", h, out)
		}
	}

	c := clientTrusting(t, caFile, addr)
	res, err := c.Get("https://vault.emulator.local/v1/sys/health")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("vault health: %d", res.StatusCode)
	}

	// The seed is live in the served emulators: a Graph token by the
	// seeded client secret.
	var seeded emulate.Seeded
	b, err := os.ReadFile(filepath.Join(seedDir, emulate.SeededFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &seeded); err != nil {
		t.Fatal(err)
	}
	secret := readTrimmed(t, seeded.Microsoft.ClientSecretFile)
	res, err = c.PostForm(seeded.Microsoft.TokenURL, url.Values{"grant_type": {"client_credentials"},
		"client_id": {seeded.Microsoft.ClientID}, "client_secret": {secret}, "scope": {seeded.Microsoft.Scope}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("graph token with the seeded secret: %d %s", res.StatusCode, body)
	}

	// --fake-clock: the admin API moves time.
	res, err = c.Post("https://"+addr+"/_emulator/clock/advance", "application/json", strings.NewReader(`{"seconds":86400}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"fake":true`) {
		t.Fatalf("clock advance: %d %s", res.StatusCode, body)
	}

	// Nothing secret reached the terminal.
	printed := stdout.String() + stderr.String()
	for _, f := range []string{seeded.Microsoft.ClientSecretFile, seeded.EWS.PasswordFile, seeded.Vault.TokenFile,
		seeded.Microsoft.KeyFile, seeded.Google.KeyFile, seeded.Salesforce.KeyFile} {
		for _, line := range strings.Split(readTrimmed(t, f), "\n") {
			if strings.HasPrefix(line, "-----") || len(line) < 16 {
				continue
			}
			if strings.Contains(printed, line) {
				t.Errorf("output contains secret material from %s", filepath.Base(f))
				break
			}
		}
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600 (%v)", f, fi.Mode().Perm(), err)
		}
	}
}

func TestEmulateCLIUntrustedClientFails(t *testing.T) {
	addr, _, _ := startEmulateCLI(t, "--ca-dir", filepath.Join(t.TempDir(), "ca"))
	// A client trusting a different emulate CA must not connect.
	other := filepath.Join(t.TempDir(), "other")
	if _, _, err := emulate.EnsureCerts(other, []string{"graph.microsoft.com"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	c := clientTrusting(t, filepath.Join(other, "root-ca.pem"), addr)
	if res, err := c.Get("https://graph.microsoft.com/v1.0/users"); err == nil {
		res.Body.Close()
		t.Fatal("a client trusting another CA reached the emulator")
	}
}

func TestEmulateCLIBadAddress(t *testing.T) {
	_, stderr, code := runCLI(t, "emulate", "--addr", "127.0.0.1:notaport", "--ca-dir", filepath.Join(t.TempDir(), "ca"))
	if code == 0 || !strings.Contains(stderr, "listen") {
		t.Fatalf("bad address: code %d, %s", code, stderr)
	}
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
