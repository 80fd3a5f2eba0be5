package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func TestWriteConcurrentVerifies(t *testing.T) {
	for _, mode := range []string{FsyncAlways, FsyncBatch} {
		t.Run(mode, func(t *testing.T) {
			o := logOpts(t)
			o.Fsync = mode
			w := openT(t, o)
			const writers, each = 8, 50
			var wg sync.WaitGroup
			errs := make(chan error, writers*each)
			for g := 0; g < writers; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						r := sample(g*each + i)
						if err := w.Write(context.Background(), r); err != nil {
							errs <- err
							return
						}
						if r.Seq == 0 || len(r.Hash) != 64 || r.ID == "" || r.Time.IsZero() {
							errs <- fmt.Errorf("Write did not fill the record: %+v", r)
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			res := mustVerify(t, []string{o.Path}, VerifyOptions{})
			if !res.Intact || res.Records != writers*each || res.FirstSeq != 1 || res.LastSeq != writers*each {
				t.Fatalf("verify: %+v problem=%v", res, res.Problem)
			}
		})
	}
}

func TestReopenContinuesChain(t *testing.T) {
	o := logOpts(t)
	makeLog(t, o, 5)
	w := openT(t, o)
	if seq, _ := w.Head(); seq != 5 {
		t.Fatalf("head after reopen = %d, want 5", seq)
	}
	writeN(t, w, 5, 5)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	res := mustVerify(t, []string{o.Path}, VerifyOptions{})
	if !res.Intact || res.LastSeq != 10 {
		t.Fatalf("verify: %+v %v", res, res.Problem)
	}
}

func TestWriteRejectsBadRecords(t *testing.T) {
	w := openT(t, logOpts(t))
	defer w.Close()
	for name, r := range map[string]*Record{
		"nil":        nil,
		"no kind":    {},
		"checkpoint": {Kind: KindCheckpoint},
	} {
		if err := w.Write(context.Background(), r); err == nil {
			t.Errorf("%s: Write accepted it", name)
		}
	}
}

func TestQueryStringNeverLogged(t *testing.T) {
	o := logOpts(t)
	w := openT(t, o)
	r := sample(1)
	r.Request.Path = "/oauth2/token?client_secret=hunter2&code=s3cr3t#frag"
	if err := w.Write(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b, _ := os.ReadFile(o.Path)
	for _, s := range []string{"hunter2", "s3cr3t", "client_secret", "frag"} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("log contains %q: %s", s, b)
		}
	}
	if !bytes.Contains(b, []byte(`"path":"/oauth2/token"`)) {
		t.Errorf("path not kept without its query: %s", b)
	}
}

// canonical re-serialises a parsed JSON value per the documented rule,
// independently of the writer: members in the order they appear, no
// whitespace, minimal string escapes with lowercase \u00xx, numbers in their
// shortest decimal form.
func canonical(t *testing.T, dec *json.Decoder, out *bytes.Buffer, top bool) {
	t.Helper()
	tok, err := dec.Token()
	if err != nil {
		t.Fatal(err)
	}
	switch v := tok.(type) {
	case json.Delim:
		if v != '{' {
			t.Fatalf("unexpected %v (records hold no arrays)", v)
		}
		out.WriteByte('{')
		first := true
		for dec.More() {
			kt, _ := dec.Token()
			k := kt.(string)
			if top && k == "hash" {
				var skip json.RawMessage
				dec.Decode(&skip)
				continue
			}
			if !first {
				out.WriteByte(',')
			}
			first = false
			canonString(out, k)
			out.WriteByte(':')
			canonical(t, dec, out, false)
		}
		dec.Token()
		out.WriteByte('}')
	case string:
		canonString(out, v)
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			t.Fatal(err)
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			out.WriteString(strconv.FormatInt(int64(f), 10))
		} else {
			out.WriteString(strconv.FormatFloat(f, 'f', -1, 64))
		}
	case bool:
		out.WriteString(strconv.FormatBool(v))
	case nil:
		out.WriteString("null")
	}
}

func canonString(out *bytes.Buffer, s string) {
	out.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			out.WriteByte('\\')
			out.WriteRune(r)
		case r == '\b':
			out.WriteString(`\b`)
		case r == '\f':
			out.WriteString(`\f`)
		case r == '\n':
			out.WriteString(`\n`)
		case r == '\r':
			out.WriteString(`\r`)
		case r == '\t':
			out.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(out, `\u%04x`, r)
		default:
			out.WriteRune(r)
		}
	}
	out.WriteByte('"')
}

// hardRecords exercise escaping and number formatting.
func hardRecords() []*Record {
	r1 := sample(3)
	r1.Subject = "ünï \"quoted\" back\\slash\ttab\x01ctl\x7fdel 日本 \u2028"
	r1.Request.Path = "/a b/<x>&y/" + string([]byte{0xff, 0xfe}) // invalid UTF-8
	r1.DurationMS = 1234.56789
	r2 := &Record{Kind: KindConfig, DurationMS: 0.0004, Detail: map[string]string{"z": "last", "a": "first", "event": "reload"}}
	r3 := sample(4)
	r3.DurationMS = 0.001
	r3.Request.Bytes = 1 << 40
	return []*Record{r1, r2, r3, sample(5)}
}

func TestHashRuleIndependent(t *testing.T) {
	o := logOpts(t)
	w := openT(t, o)
	for _, r := range hardRecords() {
		if err := w.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	raw, err := os.ReadFile(o.Path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
	if len(lines) != 4 {
		t.Fatalf("got %d lines", len(lines))
	}
	prev := ""
	for i, line := range lines {
		if !utf8.Valid(line) {
			t.Fatalf("line %d is not valid UTF-8", i+1)
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var body bytes.Buffer
		canonical(t, dec, &body, true)
		var rec struct{ Hash, Prev string }
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body.Bytes())
		if got := hex.EncodeToString(sum[:]); got != rec.Hash {
			t.Errorf("line %d: independent hash %s != recorded %s\nbody: %s", i+1, got, rec.Hash, body.Bytes())
		}
		if rec.Prev != prev {
			t.Errorf("line %d: prev %q, want %q", i+1, rec.Prev, prev)
		}
		prev = rec.Hash
		// The canonical body is the line minus its hash member, byte for byte.
		if want := append(bytes.Clone(line[:len(line)-hashSuffixLen]), '}'); !bytes.Equal(body.Bytes(), want) {
			t.Errorf("line %d not canonical:\n got %s\nwant %s", i+1, want, body.Bytes())
		}
	}
	jq, err := exec.LookPath("jq")
	if err != nil {
		t.Skip("jq not installed; the jq half of this test needs it (apt-get install -y jq)")
	}
	// The documented auditor recipe, run for real.
	script := `jq -c 'del(.hash)' "$1" | while IFS= read -r l; do printf '%s' "$l" | sha256sum | cut -d' ' -f1; done`
	out, err := exec.Command("bash", "-c", script, "x", o.Path).CombinedOutput()
	if err != nil {
		t.Fatalf("jq recipe: %v\n%s", err, out)
	}
	_ = jq
	got := strings.Fields(string(out))
	for i, line := range lines {
		var rec struct{ Hash string }
		json.Unmarshal(line, &rec)
		if i >= len(got) || got[i] != rec.Hash {
			t.Errorf("line %d: jq recipe hash %v != %s", i+1, got, rec.Hash)
		}
	}
}

func TestTornTailRepair(t *testing.T) {
	o := logOpts(t)
	makeLog(t, o, 10)
	full, _ := os.ReadFile(o.Path)
	// A crash mid-write: half of what would have been record 11.
	torn := []byte(`{"time":"2026-01-01T00:00:00Z","id":"x","seq":11,"kind":"ht`)
	os.WriteFile(o.Path, append(bytes.Clone(full), torn...), 0o600)

	res := mustVerify(t, []string{o.Path}, VerifyOptions{})
	if res.Intact || res.Problem == nil || res.Problem.Seq != 11 || !strings.Contains(res.Problem.Reason, "truncated tail") {
		t.Fatalf("verify of torn log: %+v %v", res, res.Problem)
	}

	w := openT(t, o)
	writeN(t, w, 10, 3)
	w.Close()
	res = mustVerify(t, []string{o.Path}, VerifyOptions{})
	if !res.Intact || res.LastSeq != 14 {
		t.Fatalf("after repair: %+v %v", res, res.Problem)
	}
	var repair *Record
	Query(context.Background(), []string{o.Path}, Filter{Kinds: []string{KindConfig}}, func(_ []byte, r *Record) error {
		repair = r
		return nil
	})
	if repair == nil || repair.Seq != 11 || repair.Detail["event"] != "audit_repair" || repair.Detail["truncated_bytes"] != strconv.Itoa(len(torn)) {
		t.Fatalf("repair record: %+v", repair)
	}
	after, _ := os.ReadFile(o.Path)
	if !bytes.HasPrefix(after, full) {
		t.Fatal("repair changed records before the torn tail")
	}
}

func TestOpenRefusesDamagedLastRecord(t *testing.T) {
	o := logOpts(t)
	makeLog(t, o, 3)
	b, _ := os.ReadFile(o.Path)
	b = bytes.Replace(b, []byte("contacts/2"), []byte("contacts/9"), 1)
	os.WriteFile(o.Path, b, 0o600)
	if w, err := Open(context.Background(), o); err == nil {
		w.Close()
		t.Fatal("Open continued a chain whose last record is damaged")
	}
}

func TestRotationGzipRetention(t *testing.T) {
	o := logOpts(t)
	o.RotateSize = 3000
	o.Gzip = true
	files := makeLog(t, o, 60)
	if len(files) < 4 {
		t.Fatalf("expected rotation, got files %v", files)
	}
	for _, f := range files[:len(files)-1] {
		if !strings.HasSuffix(f, ".gz") {
			t.Errorf("rotated file %s not gzipped", f)
		}
	}
	res := mustVerify(t, files, VerifyOptions{})
	if !res.Intact || res.Records != 60 {
		t.Fatalf("verify rotated: %+v %v", res, res.Problem)
	}
	// A shell glob lists the active file first; ExpandFiles restores order.
	exp, err := ExpandFiles(append([]string{o.Path}, files[:len(files)-1]...))
	if err != nil || strings.Join(exp, ",") != strings.Join(files, ",") {
		t.Fatalf("ExpandFiles = %v, %v; want %v", exp, err, files)
	}
	// Files out of order break the chain.
	swapped := append([]string{files[1], files[0]}, files[2:]...)
	if res := mustVerify(t, swapped, VerifyOptions{}); res.Intact {
		t.Fatal("files out of order verified intact")
	}

	// Retention: keep two rotated files; the chain then starts later.
	o.RetainCount = 2
	w := openT(t, o)
	writeN(t, w, 60, 30)
	w.Close()
	files, _ = Files(o.Path)
	if len(files) != 3 {
		t.Fatalf("retention kept %v", files)
	}
	if res := mustVerify(t, files, VerifyOptions{}); res.Intact || !strings.Contains(res.Problem.Reason, "not 1") {
		t.Fatalf("partial chain verified without AllowPartial: %+v", res)
	}
	if res := mustVerify(t, files, VerifyOptions{AllowPartial: true}); !res.Intact || res.LastSeq != 90 {
		t.Fatalf("partial chain: %+v %v", res, res.Problem)
	}
}

func TestRotationByAge(t *testing.T) {
	o := logOpts(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o.RotateAge = time.Hour
	w := openT(t, o)
	writeN(t, w, 0, 3)
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	writeN(t, w, 3, 3)
	w.Close()
	files, _ := Files(o.Path)
	if len(files) < 2 {
		t.Fatalf("no age rotation: %v", files)
	}
	if res := mustVerify(t, files, VerifyOptions{}); !res.Intact {
		t.Fatalf("%v", res.Problem)
	}
}

// faultOps fails writes and fsyncs while failing is set, like a full disk.
type faultOps struct {
	osOps
	mu      sync.Mutex
	failing error
	partial bool // write half the bytes before failing
}

func (f *faultOps) set(err error) {
	f.mu.Lock()
	f.failing = err
	f.mu.Unlock()
}

func (f *faultOps) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failing
}

func (f *faultOps) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	fl, err := f.osOps.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{file: fl, ops: f}, nil
}

type faultFile struct {
	file
	ops *faultOps
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.ops.get(); err != nil {
		if f.ops.partial && len(p) > 1 {
			n, _ := f.file.WriteAt(p[:len(p)/2], off)
			return n, err
		}
		return 0, err
	}
	return f.file.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	if err := f.ops.get(); err != nil {
		return err
	}
	return f.file.Sync()
}

func (f *faultFile) Datasync() error {
	if err := f.ops.get(); err != nil {
		return err
	}
	return f.file.Datasync()
}

var errDiskFull = errors.New("no space left on device (injected)")

func TestFaultRetainsAndRecovers(t *testing.T) {
	for _, mode := range []string{FsyncAlways, FsyncBatch} {
		t.Run(mode, func(t *testing.T) {
			o := logOpts(t)
			o.Fsync = mode
			o.retryMin, o.retryMax = time.Millisecond, 5*time.Millisecond
			ops := &faultOps{partial: true}
			w, err := open(context.Background(), o, ops)
			if err != nil {
				t.Fatal(err)
			}
			writeN(t, w, 0, 5)
			// Durable means fsynced and counted by the writer, not merely
			// present in the file (a batch is written before its fsync).
			waitFor(t, "first records durable", func() bool {
				w.mu.Lock()
				defer w.mu.Unlock()
				return w.durableSeq == 5 && w.healthErr == nil
			})
			durable, _ := os.ReadFile(o.Path)
			if n := bytes.Count(durable, []byte("\n")); n != 5 {
				t.Fatalf("%d lines after 5 durable records", n)
			}

			ops.set(errDiskFull)
			// In batch mode the first failing record is accepted before the
			// flush fails; the writer reports it from then on.
			var failed []uint64
			for i := 5; i < 15; i++ {
				r := sample(i)
				err := w.Write(context.Background(), r)
				if err != nil {
					if errors.Is(err, ErrClosed) || errors.Is(err, ErrBacklogFull) {
						t.Fatalf("record refused instead of retained: %v", err)
					}
					failed = append(failed, r.Seq)
				}
				if mode == FsyncBatch && i == 5 {
					waitFor(t, "unhealthy", func() bool { return w.Healthy() != nil })
				}
			}
			if mode == FsyncAlways && len(failed) != 10 {
				t.Fatalf("always mode: %d of 10 writes reported an error", len(failed))
			}
			if len(failed) == 0 {
				t.Fatal("no Write reported the disk failure")
			}
			herr := w.Healthy()
			if herr == nil || !strings.Contains(herr.Error(), "no space left") {
				t.Fatalf("Healthy = %v, want the disk error", herr)
			}
			// The durable prefix is untouched. What a failing write left
			// after it (a retry may write part of several held records)
			// is not durable, and is cut off when the writer recovers:
			// counting lines here would race the retry loop.
			if b, _ := os.ReadFile(o.Path); !bytes.HasPrefix(b, durable) {
				t.Fatalf("the durable records were changed during the failure")
			}

			ops.set(nil)
			waitFor(t, "recovery", func() bool { return w.Healthy() == nil })
			writeN(t, w, 15, 5)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			res := mustVerify(t, []string{o.Path}, VerifyOptions{})
			if !res.Intact || res.Records != 20 {
				t.Fatalf("after recovery: %+v %v", res, res.Problem)
			}
			// Held records landed in order, before the later ones.
			var seqs []uint64
			var paths []string
			Query(context.Background(), []string{o.Path}, Filter{}, func(_ []byte, r *Record) error {
				seqs = append(seqs, r.Seq)
				paths = append(paths, r.Request.Path)
				return nil
			})
			for i, s := range seqs {
				if s != uint64(i+1) || !strings.HasSuffix(paths[i], "/"+strconv.Itoa(i)) {
					t.Fatalf("record %d: seq %d path %s", i, s, paths[i])
				}
			}
		})
	}
}

func fileLines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}

func TestCloseReportsUnwritten(t *testing.T) {
	o := logOpts(t)
	ops := &faultOps{}
	w, err := open(context.Background(), o, ops)
	if err != nil {
		t.Fatal(err)
	}
	ops.set(errDiskFull)
	if err := w.Write(context.Background(), sample(1)); err == nil {
		t.Fatal("Write succeeded on a failing disk")
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "could not be written") {
		t.Fatalf("Close = %v, want an error naming unwritten records", err)
	}
	if err := w.Write(context.Background(), sample(2)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
}

func TestBacklogBounded(t *testing.T) {
	o := logOpts(t)
	o.MaxBacklog = 3
	ops := &faultOps{}
	w, err := open(context.Background(), o, ops)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ops.set(errDiskFull)
	for i := 0; i < 3; i++ {
		w.Write(context.Background(), sample(i))
	}
	if err := w.Write(context.Background(), sample(3)); !errors.Is(err, ErrBacklogFull) {
		t.Fatalf("4th write while 3 wait: %v, want ErrBacklogFull", err)
	}
	ops.set(nil)
}

// TestFullFilesystem fills a real (tmpfs) filesystem.
func TestFullFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs (%v: %s); full-disk variant skipped", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	o := Options{Path: filepath.Join(dir, "audit.jsonl"), retryMin: time.Millisecond, retryMax: 10 * time.Millisecond}
	w := openT(t, o)
	writeN(t, w, 0, 5)
	// Fill the rest of the filesystem.
	filler := filepath.Join(dir, "filler")
	f, _ := os.Create(filler)
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	var failedAt int
	for i := 5; i < 200; i++ {
		if err := w.Write(context.Background(), sample(i)); err != nil {
			failedAt = i
			break
		}
	}
	if failedAt == 0 {
		t.Fatal("writes kept succeeding on a full filesystem")
	}
	herr := w.Healthy()
	if herr == nil || !strings.Contains(herr.Error(), "no space") {
		t.Fatalf("Healthy = %v", herr)
	}
	os.Remove(filler)
	waitFor(t, "recovery after freeing space", func() bool { return w.Healthy() == nil })
	writeN(t, w, failedAt+1, 3)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	res := mustVerify(t, []string{o.Path}, VerifyOptions{})
	if !res.Intact || res.Records != uint64(failedAt+1+3) {
		t.Fatalf("after full disk: records=%d want %d, %v", res.Records, failedAt+4, res.Problem)
	}
}

const crashEnv = "AUDIT_CRASH_CHILD"

// TestCrashChild is the child half of TestCrashRecovery.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process for TestCrashRecovery")
	}
	w, err := Open(context.Background(), Options{Path: path})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		r := sample(i)
		if err := w.Write(context.Background(), r); err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println(r.Seq) // acknowledged: durable
	}
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	// After the kill, zeroTail is appended as a filesystem may show space
	// that was extended or reserved but never written after a power loss.
	for _, zeroTail := range []int{0, 8192} {
		t.Run(fmt.Sprintf("zero_tail=%d", zeroTail), func(t *testing.T) { crashRecovery(t, zeroTail) })
	}
}

func crashRecovery(t *testing.T, zeroTail int) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]bool{}
	buf := make([]byte, 0, 1<<16)
	tmp := make([]byte, 4096)
	for len(acked) < 300 {
		n, err := stdout.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			if s, err := strconv.ParseUint(string(buf[:i]), 10, 64); err == nil {
				acked[s] = true
			} else {
				t.Logf("child: %s", buf[:i])
			}
			buf = buf[i+1:]
		}
		if err != nil {
			t.Fatalf("child stopped early: %v", err)
		}
	}
	cmd.Process.Kill() // SIGKILL mid-stream
	// Drain whatever acks were already on their way.
	rest, _ := io.ReadAll(stdout)
	for _, l := range strings.Fields(string(buf) + string(rest)) {
		if s, err := strconv.ParseUint(l, 10, 64); err == nil {
			acked[s] = true
		}
	}
	cmd.Wait()
	if zeroTail > 0 {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(make([]byte, zeroTail))
		f.Close()
	}

	w := openT(t, Options{Path: path})
	writeN(t, w, 0, 1)
	w.Close()
	res := mustVerify(t, []string{path}, VerifyOptions{})
	if !res.Intact {
		t.Fatalf("after crash and reopen: %v", res.Problem)
	}
	present := map[uint64]bool{}
	Query(context.Background(), []string{path}, Filter{Kinds: []string{KindHTTP}}, func(_ []byte, r *Record) error {
		present[r.Seq] = true
		return nil
	})
	for s := range acked {
		if !present[s] {
			t.Errorf("acknowledged seq %d missing after crash", s)
		}
	}
	t.Logf("acked %d, log holds %d records", len(acked), res.Records)
}

func TestSecondWriterRefused(t *testing.T) {
	o := logOpts(t)
	w := openT(t, o)
	if w2, err := Open(context.Background(), o); err == nil {
		w2.Close()
		t.Fatal("a second writer opened the same log")
	}
	w.Close()
	w3 := openT(t, o) // free again after Close
	w3.Close()
}
