package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/certs"
)

// Issue 9 finding 5: `audit verify --pubkey` fails, by default, a log whose
// tail was rewritten and re-hashed after the checkpoints covering it were
// deleted, and says why.
func TestAuditVerifyPubkeyCatchesRewrittenTail(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "ckpt.key")
	pub, _, code := runCLI(t, "audit", "keygen", "--out", keyFile)
	if code != 0 {
		t.Fatalf("keygen: %d", code)
	}
	pubFile := filepath.Join(dir, "ckpt.pub")
	os.WriteFile(pubFile, []byte(pub), 0o644)
	signer, err := audit.NewEd25519SignerFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "audit.jsonl")
	// Two runs of the writer; each ends with a signed checkpoint.
	makeAuditLog(t, 10, audit.Options{Path: path, Signer: signer, CheckpointEvery: 10})
	makeAuditLog(t, 90, audit.Options{Path: path, Signer: signer, CheckpointEvery: 10})
	out, _, code := runCLI(t, "audit", "verify", "--pubkey", pubFile, path)
	if code != 0 || !strings.Contains(out, "cadence") {
		t.Fatalf("honest log: %d %q", code, out)
	}

	// Keep the first run and its checkpoint; drop every later checkpoint,
	// rewrite a record and recompute the chain.
	raw, _ := os.ReadFile(path)
	lines := bytes.SplitAfter(raw, []byte("\n"))
	var kept [][]byte
	ckpts := 0
	for _, l := range lines {
		if len(l) == 0 {
			continue
		}
		if bytes.Contains(l, []byte(`"kind":"checkpoint"`)) {
			if ckpts++; ckpts > 1 {
				continue
			}
		}
		kept = append(kept, l)
	}
	seqRe := regexp.MustCompile(`"seq":\d+`)
	prevRe := regexp.MustCompile(`"prev":"[0-9a-f]*"`)
	hashRe := regexp.MustCompile(`"hash":"[0-9a-f]{64}"`)
	prev := ""
	var forged bytes.Buffer
	for i, l := range kept {
		l = seqRe.ReplaceAll(l, []byte(`"seq":`+strconv.Itoa(i+1)))
		l = prevRe.ReplaceAll(l, []byte(`"prev":"`+prev+`"`))
		if i == 50 {
			l = bytes.Replace(l, []byte("/contacts"), []byte("/contactz"), 1)
		}
		h, err := audit.HashLine(l)
		if err != nil {
			t.Fatal(err)
		}
		l = hashRe.ReplaceAll(l, []byte(`"hash":"`+h+`"`))
		forged.Write(l)
		prev = h
	}
	fp := filepath.Join(t.TempDir(), "audit.jsonl")
	os.WriteFile(fp, forged.Bytes(), 0o600)
	if out, _, code := runCLI(t, "audit", "verify", fp); code != 0 {
		t.Fatalf("test setup: the forged chain must be consistent: %q", out)
	}
	out, _, code = runCLI(t, "audit", "verify", "--pubkey", pubFile, fp)
	if code != auditExitBroken || !strings.Contains(out, "BROKEN") || !strings.Contains(out, "after the last signed checkpoint") {
		t.Fatalf("rewritten tail: code %d out %q", code, out)
	}
	if _, _, code := runCLI(t, "audit", "verify", "--pubkey", pubFile, "--max-unsigned", "-1", fp); code != 0 {
		t.Fatalf("--max-unsigned -1: code %d", code)
	}
}

// serveConfigWithTLS adds a TLS listener on a free port to e's config and
// points plain_listen at plain.
// Ports given as 127.0.0.1:0 are chosen by the kernel when the gateway
// listens (gw.Addr, gw.PlainAddr), so parallel tests cannot take them first.
func (e *serveEnv) configWithTLS(t *testing.T, plain, tlsAddr string) (cfgPath string) {
	t.Helper()
	b, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "plain_listen: "+e.plain, "plain_listen: "+plain, 1)
	cfg = strings.Replace(cfg, "metrics: {listen: "+e.metrics+"}", "metrics: {listen: 127.0.0.1:0}", 1)
	cfg = "listen: " + tlsAddr + "\ntls: {cert_file: gw/" + certs.ListenerFile + ", key_file: gw/" + certs.ListenerKeyFile + "}\n" + cfg
	cfgPath = filepath.Join(e.dir, "serve-tls.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath
}

// getVia sends a GET through the plain listener at addr.
func getVia(t *testing.T, addr, path string) int {
	t.Helper()
	s := tryGet(addr, path, 10*time.Second)
	if s == 0 {
		t.Fatalf("no answer from %s", addr)
	}
	return s
}

// startGateway must not leave the TLS listener open when a later listener
// cannot be opened.
func TestStartGatewayClosesListenersOnFailure(t *testing.T) {
	e := newServeEnv(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tlsAddr := mustFreePorts(t, 1)[0]
	path := e.configWithTLS(t, busy.Addr().String(), tlsAddr)
	cfg, err := loadServeConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := startGateway(context.Background(), cfg, zerolog.Nop()); err == nil {
		t.Fatal("started with plain_listen on a busy port")
	}
	ln, err := net.Listen("tcp", tlsAddr)
	if err != nil {
		t.Fatalf("the TLS listener leaked: %v", err)
	}
	ln.Close()
}

// A listener that dies for good stops the serve loop with an error at once
// (the process exits non-zero and its supervisor restarts it).
func TestServeLoopExitsWhenListenerDies(t *testing.T) {
	e := newServeEnv(t)
	path := e.configWithTLS(t, "127.0.0.1:0", "127.0.0.1:0")
	cfg, err := loadServeConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := startGateway(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serveLoop(context.Background(), gw, make(chan os.Signal)) }()
	if s := getVia(t, gw.PlainAddr, "/ok"); s != 200 {
		t.Fatalf("status %d", s)
	}
	gw.listeners[0].Close() // the TLS listener dies under the gateway
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "accept") {
			t.Fatalf("serve loop ended with %v", err)
		}
	case <-time.After(20 * time.Second):
		gw.Close()
		t.Fatal("serve loop still running 20s after its listener died")
	}
}

// Running out of file descriptors under a connection flood is temporary:
// the gateway keeps accepting once descriptors are free again, and the
// process stays up.
func TestServeSurvivesDescriptorExhaustion(t *testing.T) {
	bin := syncgateBinary(t)
	e := newServeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A hard limit of 64 descriptors (Go raises the soft limit to the hard one).
	cmd := exec.CommandContext(ctx, "sh", "-c", `ulimit -n 64 && exec "$0" serve --config "$1"`, bin, e.cfg)
	var logs lockedBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()
	if err := waitReady(ctx, "http://"+e.metrics+"/readyz"); err != nil {
		t.Fatal(err)
	}
	var flood []net.Conn
	for i := 0; i < 100; i++ {
		c, err := net.Dial("tcp", e.plain)
		if err != nil {
			break
		}
		flood = append(flood, c)
	}
	// Wait until the gateway has run out (its log says so), then free them.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "too many open files") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling the process's log
	}
	if !strings.Contains(logs.String(), "too many open files") {
		t.Fatalf("the flood did not exhaust descriptors; log:\n%s", logs.String())
	}
	t.Logf("descriptors exhausted after %d connections, %v", len(flood), time.Until(deadline))
	for _, c := range flood {
		c.Close()
	}
	freed := time.Now()
	var status int
	for time.Now().Before(deadline) {
		if status = tryGet(e.plain, "/ok", 2*time.Second); status == 200 {
			break
		}
	}
	if status != 200 {
		t.Fatalf("gateway does not serve after the flood: %d; log:\n%s", status, logs.String())
	}
	t.Logf("serving again %v after the flood ended", time.Since(freed).Round(time.Millisecond))
	select {
	case err := <-exited:
		t.Fatalf("process exited: %v; log:\n%s", err, logs.String())
	default:
	}
}

// tryGet sends a GET through a plain listener; 0 when there is no answer
// within timeout.
func tryGet(addr, path string, timeout time.Duration) int {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	fmt.Fprintf(c, "GET http://graph.microsoft.com%s HTTP/1.1\r\nHost: graph.microsoft.com\r\nConnection: close\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Finding 13: every private key file the gateway reads is refused when group
// or others may read it, with the secrets key's message.
func TestServeRefusesOpenPrivateKeys(t *testing.T) {
	e := newServeEnv(t)
	path := e.configWithTLS(t, "127.0.0.1:0", "127.0.0.1:0")
	keyFile := filepath.Join(e.dir, "ckpt.key")
	pem, err := audit.GenerateEd25519Key()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(keyFile, pem, 0o600)
	up := filepath.Join(e.dir, "up")
	b, _ := os.ReadFile(path)
	cfg := strings.Replace(string(b), "audit: {path: audit.jsonl, fsync: always}",
		"audit: {path: audit.jsonl, fsync: always, checkpoint: {every: 100, key_file: ckpt.key}}", 1) +
		"client_certs: {up-mtls: {cert_file: up/" + certs.ListenerFile + ", key_file: up/" + certs.ListenerKeyFile + "}}\n"
	os.WriteFile(path, []byte(cfg), 0o644)
	start := func() error {
		c, err := loadServeConfig(path)
		if err != nil {
			return err
		}
		gw, err := startGateway(context.Background(), c, zerolog.Nop())
		if err == nil {
			gw.Close()
		}
		return err
	}
	if err := start(); err != nil {
		t.Fatalf("with 0600 keys: %v", err)
	}
	for name, f := range map[string]string{
		"intercept CA key":      filepath.Join(e.dir, "gw", certs.InterceptKey),
		"listener key":          filepath.Join(e.dir, "gw", certs.ListenerKeyFile),
		"audit signing key":     keyFile,
		"upstream client key":   filepath.Join(up, certs.ListenerKeyFile),
		"group-readable CA key": filepath.Join(e.dir, "gw", certs.InterceptKey),
	} {
		t.Run(name, func(t *testing.T) {
			mode := os.FileMode(0o644)
			if strings.HasPrefix(name, "group") {
				mode = 0o640
			}
			os.Chmod(f, mode)
			defer os.Chmod(f, 0o600)
			err := start()
			if err == nil || !strings.Contains(err.Error(), f+": mode") || !strings.Contains(err.Error(), "is readable by others; chmod 600 it") {
				t.Fatalf("started with a %v key: %v", mode, err)
			}
		})
	}
}

// Finding 15: every log line names its component once.
func TestLogLinesHaveOneComponent(t *testing.T) {
	e := newServeEnv(t)
	path := e.configWithTLS(t, "127.0.0.1:0", "127.0.0.1:0")
	cfg, err := loadServeConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	gw, err := startGateway(context.Background(), cfg, newLogger(&logs, "debug"))
	if err != nil {
		t.Fatal(err)
	}
	if s := getVia(t, gw.PlainAddr, "/ok"); s != 200 {
		t.Fatalf("status %d", s)
	}
	// A refused client handshake (proxy), a rejected reload (gateway).
	if c, err := net.Dial("tcp", gw.Addr); err == nil {
		c.Write([]byte("GARBAGE\r\n\r\n"))
		io.Copy(io.Discard, c)
		c.Close()
	}
	e.writePolicy(t, "version: 1\nnot: valid\n")
	_ = gw.reload(context.Background())
	gw.Close()
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if n := strings.Count(line, `"component":`); n != 1 {
			t.Errorf("%d component keys in %s", n, line)
		}
		if i := strings.Index(line, `"component":"`); i >= 0 {
			rest := line[i+len(`"component":"`):]
			seen[rest[:strings.IndexByte(rest, '"')]] = true
		}
	}
	for _, c := range []string{"gateway", "proxy"} {
		if !seen[c] {
			t.Errorf("no log line from %s in:\n%s", c, logs.String())
		}
	}
}

// A secret written into the wrong field of the serve config or the policy
// never reaches the log or the config audit record through a YAML error.
func TestYAMLErrorsDoNotEchoValues(t *testing.T) {
	e := newServeEnv(t)
	e.cfg = e.configWithTLS(t, "127.0.0.1:0", "127.0.0.1:0")
	cfg, err := loadServeConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	gw, err := startGateway(context.Background(), cfg, newLogger(&logs, "debug"))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	good, _ := os.ReadFile(e.cfg)
	const secret = "hunter2-Sup3rS3cret"
	for i, bad := range []string{
		string(good) + "limits: {max_header_bytes: '" + secret + "'}\n",
		string(good) + "limits: {header_timeout: '" + secret + "'}\n",
		string(good) + "limits: {max_conns_per_client: ['" + secret + "']}\n",
	} {
		os.WriteFile(e.cfg, []byte(bad), 0o644)
		if err := gw.reload(context.Background()); err == nil {
			t.Fatalf("case %d: bad config accepted", i)
		} else if strings.Contains(err.Error(), secret) {
			t.Fatalf("case %d: reload error echoes the value: %v", i, err)
		}
		if _, err := loadServeConfig(e.cfg); err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "line") {
			t.Fatalf("case %d: load error %v", i, err)
		}
	}
	os.WriteFile(e.cfg, good, 0o644)
	e.writePolicy(t, "version: 1\nmode: enforce\nclients:\n  - name: sidecar\n    sources: '"+secret+"'\n")
	if err := gw.reload(context.Background()); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("policy reload error: %v", err)
	}
	gw.Close()
	auditLog, _ := os.ReadFile(e.audit)
	if !strings.Contains(string(auditLog), `"event":"reload"`) {
		t.Fatalf("no reload records in the audit log")
	}
	if strings.Contains(string(auditLog), secret) || strings.Contains(logs.String(), secret) {
		t.Fatalf("the value reached the audit log or the log:\n%s\n%s", auditLog, logs.String())
	}
}
