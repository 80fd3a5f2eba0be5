package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// forge builds a record line that is internally consistent (own hash
// recomputed) and chains to prev, as an attacker with the writer's code would.
func forge(t testing.TB, seq uint64, prev string, path string) []byte {
	t.Helper()
	r := sample(999)
	r.Request.Path = path
	r.Time, r.ID, r.Seq, r.Prev = mustTime("2026-01-01T00:00:00Z"), "forged", seq, prev
	line, err := newEncoder().encode(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

func hashOf(t testing.TB, line []byte) string {
	t.Helper()
	var v struct{ Hash string }
	if err := json.Unmarshal(line, &v); err != nil {
		t.Fatal(err)
	}
	return v.Hash
}

func TestTamperDetected(t *testing.T) {
	const n, k = 40, 20 // tamper around seq k; line index k-1 holds seq k
	layouts := map[string]func(o *Options){
		"single":  func(o *Options) {},
		"rotated": func(o *Options) { o.RotateSize = 2500 },
		"gzipped": func(o *Options) { o.RotateSize = 2500; o.Gzip = true },
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, lines []logLine) []logLine
		seq    uint64
		reason string
	}{
		{"changed byte", func(t *testing.T, l []logLine) []logLine {
			l[k-1].text = bytes.Replace(l[k-1].text, []byte("contacts/"), []byte("contactz/"), 1)
			return l
		}, k, "hash mismatch"},
		{"changed seq digit", func(t *testing.T, l []logLine) []logLine {
			l[k-1].text = bytes.Replace(l[k-1].text, []byte(`"seq":20,`), []byte(`"seq":21,`), 1)
			return l
		}, k, "hash mismatch"},
		{"removed", func(t *testing.T, l []logLine) []logLine {
			return append(l[:k-1:k-1], l[k:]...)
		}, k, "removed"},
		{"reordered", func(t *testing.T, l []logLine) []logLine {
			l[k-1].text, l[k].text = l[k].text, l[k-1].text
			return l
		}, k, "removed or reordered"},
		{"inserted", func(t *testing.T, l []logLine) []logLine {
			f := logLine{file: l[k-1].file, text: forge(t, k, hashOf(t, l[k-2].text), "/forged")}
			return append(l[:k-1:k-1], append([]logLine{f}, l[k-1:]...)...)
		}, k, "inserted"},
		{"replaced with recomputed hash", func(t *testing.T, l []logLine) []logLine {
			l[k-1].text = forge(t, k, hashOf(t, l[k-2].text), "/forged")
			return l
		}, k + 1, "prev does not match"},
		{"truncated tail", func(t *testing.T, l []logLine) []logLine {
			last := &l[len(l)-1]
			last.text = last.text[:len(last.text)/2]
			return l
		}, n, "truncated tail"},
	}
	for lname, layout := range layouts {
		for _, c := range cases {
			t.Run(lname+"/"+c.name, func(t *testing.T) {
				o := logOpts(t)
				layout(&o)
				files := makeLog(t, o, n)
				if lname != "single" && len(files) < 3 {
					t.Fatalf("layout did not rotate: %v", files)
				}
				if res := mustVerify(t, files, VerifyOptions{}); !res.Intact {
					t.Fatalf("untampered log not intact: %v", res.Problem)
				}
				writeLines(t, files, c.tamper(t, readLines(t, files)))
				res := mustVerify(t, files, VerifyOptions{})
				if res.Intact || res.Problem == nil {
					t.Fatalf("tampered log verified intact: %+v", res)
				}
				if res.Problem.Seq != c.seq || !strings.Contains(res.Problem.Reason, c.reason) {
					t.Fatalf("problem = %v; want seq %d with %q", res.Problem, c.seq, c.reason)
				}
			})
		}
	}
}

func TestTruncatedMiddleFile(t *testing.T) {
	o := logOpts(t)
	o.RotateSize = 2500
	files := makeLog(t, o, 30)
	b := readFile(t, files[0])
	writeFile(t, files[0], b[:len(b)-10])
	res := mustVerify(t, files, VerifyOptions{})
	if res.Intact || !strings.Contains(res.Problem.Reason, "incomplete record") {
		t.Fatalf("truncated middle file: %+v %v", res, res.Problem)
	}
}

func signerT(t testing.TB) *Ed25519Signer {
	t.Helper()
	pemKey, err := GenerateEd25519Key()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewEd25519Signer(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verifierFor(t testing.TB, s Signer) *Ed25519Verifier {
	t.Helper()
	pub, err := s.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewEd25519Verifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// rechain rewrites record seq k's path and recomputes every hash and prev
// from there on, as someone with write access but without the key would.
func rechain(t *testing.T, lines []logLine, k int) []logLine {
	t.Helper()
	enc := newEncoder()
	prev := ""
	for i := range lines {
		var r Record
		if err := json.Unmarshal(bytes.TrimSpace(lines[i].text), &r); err != nil {
			t.Fatal(err)
		}
		if i == k-1 {
			r.Request.Path = "/rewritten"
		}
		r.Seq, r.Prev = uint64(i+1), prev
		out, err := enc.encode(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		lines[i].text = out
		prev = r.Hash
	}
	return lines
}

func TestCheckpoints(t *testing.T) {
	s := signerT(t)
	v := verifierFor(t, s)
	o := logOpts(t)
	o.Signer, o.CheckpointEvery = s, 10
	files := makeLog(t, o, 45)

	res := mustVerify(t, files, VerifyOptions{Verifier: v})
	if !res.Intact || res.Checkpoints < 4 || res.SignedThrough < 45 {
		t.Fatalf("signed log: %+v %v", res, res.Problem)
	}

	t.Run("wrong key", func(t *testing.T) {
		res := mustVerify(t, files, VerifyOptions{Verifier: verifierFor(t, signerT(t))})
		if res.Intact || !strings.Contains(res.Problem.Reason, "unknown signing key") {
			t.Fatalf("verified with another key: %+v", res.Problem)
		}
	})

	t.Run("rewritten chain", func(t *testing.T) {
		dir := t.TempDir()
		cp := filepath.Join(dir, "audit.jsonl")
		writeFile(t, cp, readFile(t, files[0]))
		writeLines(t, []string{cp}, rechain(t, readLines(t, []string{cp}), 5))
		// Every hash is consistent again: without a key only the
		// checkpoint heads can tell.
		res := mustVerify(t, []string{cp}, VerifyOptions{})
		if res.Intact || !strings.Contains(res.Problem.Reason, "checkpoint head") {
			t.Fatalf("unsigned verify of a rewritten chain: %+v", res.Problem)
		}
		// Fix the heads too (the attacker cannot fix the signatures).
		lines := readLines(t, []string{cp})
		hashes := map[uint64]string{}
		enc := newEncoder()
		prev := ""
		for i := range lines {
			var r Record
			json.Unmarshal(bytes.TrimSpace(lines[i].text), &r)
			if r.Kind == KindCheckpoint {
				c, _ := strconv.ParseUint(r.Detail["count"], 10, 64)
				r.Detail["head"] = hashes[c]
			}
			r.Prev = prev
			lines[i].text, _ = enc.encode(nil, &r)
			prev, hashes[r.Seq] = r.Hash, r.Hash
		}
		writeLines(t, []string{cp}, lines)
		if res := mustVerify(t, []string{cp}, VerifyOptions{}); !res.Intact {
			t.Fatalf("test setup: rewritten chain should pass without a key: %v", res.Problem)
		}
		res = mustVerify(t, []string{cp}, VerifyOptions{Verifier: v})
		if res.Intact || !strings.Contains(res.Problem.Reason, "bad signature") {
			t.Fatalf("rewritten chain passed signature check: %+v", res.Problem)
		}
	})

	t.Run("checkpoints stripped", func(t *testing.T) {
		dir := t.TempDir()
		cp := filepath.Join(dir, "audit.jsonl")
		var kept []logLine
		for _, l := range readLines(t, files) {
			if !bytes.Contains(l.text, []byte(`"kind":"checkpoint"`)) {
				kept = append(kept, logLine{0, l.text})
			}
		}
		writeLines(t, []string{cp}, rechain(t, kept, 5))
		res := mustVerify(t, []string{cp}, VerifyOptions{Verifier: v})
		if res.Intact || !strings.Contains(res.Problem.Reason, "no signed checkpoint") {
			t.Fatalf("log without checkpoints passed with --pubkey: %+v", res.Problem)
		}
	})

	t.Run("max unsigned", func(t *testing.T) {
		o2 := logOpts(t)
		o2.Signer, o2.CheckpointEvery = s, 10
		makeLog(t, o2, 25) // checkpoints at most 11 records apart
		// Someone restarts the writer without signing: 15 unsigned records.
		makeLog(t, Options{Path: o2.Path}, 15)
		res := mustVerify(t, []string{o2.Path}, VerifyOptions{Verifier: v})
		// 15 records plus the final checkpoint record itself.
		if !res.Intact || res.Unsigned != 16 {
			t.Fatalf("without a limit: %+v %v", res, res.Problem)
		}
		res = mustVerify(t, []string{o2.Path}, VerifyOptions{Verifier: v, MaxUnsigned: 12})
		if res.Intact || !strings.Contains(res.Problem.Reason, "after the last signed checkpoint") {
			t.Fatalf("unsigned tail over the limit: %+v", res.Problem)
		}
		res = mustVerify(t, []string{o2.Path}, VerifyOptions{Verifier: v, MaxUnsigned: 5})
		if res.Intact || !strings.Contains(res.Problem.Reason, "not covered by a signed checkpoint") {
			t.Fatalf("gap between checkpoints over the limit: %+v", res.Problem)
		}
	})
}

func TestSignerPEMErrors(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty":      nil,
		"garbage":    []byte("not pem"),
		"wrong type": []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
	} {
		if _, err := NewEd25519Signer(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := NewEd25519Verifier(in); err == nil && name != "wrong type" {
			t.Errorf("%s: verifier accepted", name)
		}
	}
	// A signing-key parse error must not echo the key bytes.
	bad := []byte("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n")
	_, err := NewEd25519Signer(bad)
	if err == nil || strings.Contains(err.Error(), "c2VjcmV0") || strings.Contains(err.Error(), "secret-key-material") {
		t.Fatalf("error leaks key material or is nil: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	o := Options{Path: filepath.Join(dir, "seed.jsonl")}
	w := openT(f, o)
	for _, r := range hardRecords() {
		w.Write(context.Background(), r)
	}
	writeN(f, w, 0, 6)
	w.Close()
	valid, err := os.ReadFile(o.Path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, uint(0), byte(1))
	f.Add(valid, uint(len(valid)-1), byte('x'))
	f.Add([]byte("{}\n"), uint(5), byte(0x80))
	f.Add([]byte(`{"seq":1,"prev":"","hash":"`+strings.Repeat("0", 64)+`"}`+"\n"), uint(3), byte(2))
	p := filepath.Join(dir, "fuzz.jsonl")
	f.Fuzz(func(t *testing.T, raw []byte, off uint, x byte) {
		// Arbitrary bytes: any verdict, no panic, and an intact verdict
		// must be self-consistent.
		os.WriteFile(p, raw, 0o600)
		res, err := Verify(context.Background(), []string{p}, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Intact == (res.Problem != nil) {
			t.Fatalf("intact=%v with problem %v", res.Intact, res.Problem)
		}
		// One changed byte in a valid log is always detected.
		if x == 0 {
			return
		}
		m := bytes.Clone(valid)
		m[off%uint(len(m))] ^= x
		os.WriteFile(p, m, 0o600)
		res, err = Verify(context.Background(), []string{p}, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Intact {
			t.Fatalf("byte %d ^ %#x: damaged log verified intact", off%uint(len(m)), x)
		}
	})
}

// failingSigner fails on demand, like an unreachable Vault.
type failingSigner struct {
	*Ed25519Signer
	mu   sync.Mutex
	fail bool
}

func (f *failingSigner) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, errors.New("vault unreachable (injected)")
	}
	return f.Ed25519Signer.Sign(ctx, msg)
}

func TestCheckpointIntervalAndSignerOutage(t *testing.T) {
	s := &failingSigner{Ed25519Signer: signerT(t), fail: true}
	o := logOpts(t)
	o.Signer, o.CheckpointInterval = s, 10*time.Millisecond
	w := openT(t, o)
	// Signing fails: records are still written, the log stays healthy.
	writeN(t, w, 0, 5)
	time.Sleep(50 * time.Millisecond)
	if err := w.Healthy(); err != nil {
		t.Fatalf("signer outage made the log unhealthy: %v", err)
	}
	s.mu.Lock()
	s.fail = false
	s.mu.Unlock()
	// The interval alone produces a checkpoint covering the records.
	waitFor(t, "interval checkpoint", func() bool {
		b, _ := os.ReadFile(o.Path)
		return bytes.Contains(b, []byte(`"kind":"checkpoint"`))
	})
	w.Close()
	res := mustVerify(t, []string{o.Path}, VerifyOptions{Verifier: verifierFor(t, s)})
	if !res.Intact || res.SignedThrough < 5 {
		t.Fatalf("%+v %v", res, res.Problem)
	}
}

// Issue 9 finding 5: a tail rewritten and re-hashed after the checkpoints
// covering it were deleted fails verification by default: the allowed
// unsigned stretch is the (signed) cadence the checkpoints record.
func TestRewrittenTailWithoutCheckpointsFailsByDefault(t *testing.T) {
	s := signerT(t)
	v := verifierFor(t, s)
	o := logOpts(t)
	o.Signer, o.CheckpointEvery = s, 10
	files := makeLog(t, o, 100)
	lines := readLines(t, files)
	// The checkpoint records say their cadence.
	for _, l := range lines {
		if bytes.Contains(l.text, []byte(`"kind":"checkpoint"`)) &&
			(!bytes.Contains(l.text, []byte(`"every":"10"`)) || !bytes.Contains(l.text, []byte(`"interval_ms":"0"`))) {
			t.Fatalf("checkpoint without its cadence: %s", l.text)
		}
	}
	if res := mustVerify(t, files, VerifyOptions{Verifier: v}); !res.Intact || res.UnsignedLimit == "" {
		t.Fatalf("honest log: %+v %v", res, res.Problem)
	}
	// The attacker keeps the first 30 records and their checkpoints, drops
	// every later checkpoint and rewrites the rest, recomputing the hashes.
	var kept []logLine
	for i, l := range lines {
		if i >= 32 && bytes.Contains(l.text, []byte(`"kind":"checkpoint"`)) {
			continue
		}
		kept = append(kept, logLine{0, l.text})
	}
	cp := filepath.Join(t.TempDir(), "audit.jsonl")
	writeLines(t, []string{cp}, rechain(t, kept, 50))
	if res := mustVerify(t, []string{cp}, VerifyOptions{}); !res.Intact {
		t.Fatalf("test setup: the rewrite must be consistent without a key: %v", res.Problem)
	}
	res := mustVerify(t, []string{cp}, VerifyOptions{Verifier: v})
	if res.Intact || !strings.Contains(res.Problem.Reason, "after the last signed checkpoint") ||
		!strings.Contains(res.Problem.Reason, "cadence") {
		t.Fatalf("rewritten unsigned tail passed --pubkey: %+v %v", res, res.Problem)
	}
	// An explicit opt-out still exists, and says nothing is bounded.
	if res := mustVerify(t, []string{cp}, VerifyOptions{Verifier: v, NoUnsignedLimit: true}); !res.Intact {
		t.Fatalf("no limit: %v", res.Problem)
	}
	// A checkpoint's cadence is under its signature: raising it breaks it.
	var forged []logLine
	for _, l := range readLines(t, files) {
		forged = append(forged, logLine{0, bytes.Replace(l.text, []byte(`"every":"10"`), []byte(`"every":"99999"`), 1)})
	}
	fp := filepath.Join(t.TempDir(), "audit.jsonl")
	writeLines(t, []string{fp}, rehash(t, forged))
	if res := mustVerify(t, []string{fp}, VerifyOptions{}); !res.Intact {
		t.Fatalf("test setup: the forged cadence must be consistent without a key: %v", res.Problem)
	}
	if res := mustVerify(t, []string{fp}, VerifyOptions{Verifier: v}); res.Intact || !strings.Contains(res.Problem.Reason, "signature") {
		t.Fatalf("raised cadence accepted: %v", res.Problem)
	}
}

// The interval cadence bounds the unsigned tail by the records' times.
func TestUnsignedTailOverIntervalFails(t *testing.T) {
	s := signerT(t)
	v := verifierFor(t, s)
	o := logOpts(t)
	now := mustTime("2026-03-01T10:00:00Z")
	var mu sync.Mutex
	o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o.Signer, o.CheckpointInterval = s, time.Hour // the ticker never fires in this test
	makeLog(t, o, 5)                              // Close signs a final checkpoint
	// The writer restarts without signing and runs for three hours.
	o2 := Options{Path: o.Path, Now: o.Now}
	w := openT(t, o2)
	for i := 0; i < 4; i++ {
		mu.Lock()
		now = now.Add(time.Hour)
		mu.Unlock()
		writeN(t, w, i, 1)
	}
	w.Close()
	res := mustVerify(t, []string{o.Path}, VerifyOptions{Verifier: v})
	if res.Intact || !strings.Contains(res.Problem.Reason, "after the last signed checkpoint") {
		t.Fatalf("3h unsigned tail with a 1h cadence: %+v %v", res, res.Problem)
	}
}

// rehash recomputes every hash, prev and checkpoint head after lines were
// edited, as an attacker without the signing key would.
func rehash(t *testing.T, lines []logLine) []logLine {
	t.Helper()
	enc := newEncoder()
	hashes := map[uint64]string{}
	prev := ""
	for i := range lines {
		var r Record
		if err := json.Unmarshal(bytes.TrimSpace(lines[i].text), &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind == KindCheckpoint {
			c, _ := strconv.ParseUint(r.Detail["count"], 10, 64)
			r.Detail["head"] = hashes[c]
		}
		r.Prev = prev
		lines[i].text, _ = enc.encode(nil, &r)
		prev, hashes[r.Seq] = r.Hash, r.Hash
	}
	return lines
}
