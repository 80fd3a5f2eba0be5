package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/audit"
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
