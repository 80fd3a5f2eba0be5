package audit

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// sample returns a realistic http record; i varies its contents.
func sample(i int) *Record {
	allow := i%5 != 0
	r := &Record{
		Kind:    KindHTTP,
		Client:  &Client{Name: []string{"sync", "batch"}[i%2], IP: "127.0.0.1", Identity: "spiffe://corp.example/sync"},
		Subject: fmt.Sprintf("user%d@corp.example", i%7),
		Request: &Request{Method: "GET", Host: "graph.microsoft.com", Port: 443,
			Path: fmt.Sprintf("/v1.0/users/user%d@corp.example/contacts/%d", i%7, i), Bytes: int64(i)},
		Decision:   &Decision{Allow: allow, Mode: "enforce", Rule: "graph#0", Destination: "graph"},
		Response:   &Response{Status: 200, Bytes: int64(100 + i)},
		DurationMS: float64(i%100) + 0.125,
	}
	if !allow {
		r.Decision.Rule = ""
		r.Decision.Reason = "no rule matches path"
		r.Response.Status = 403
		r.Upstream = nil
	} else {
		r.Upstream = &Upstream{IP: "20.190.1.1", TLSVersion: "1.3", Cipher: "TLS_AES_128_GCM_SHA256", CABundle: "microsoft"}
		r.Credential = &Credential{Name: "graph-app", TokenFP: "a1b2c3d4"}
	}
	return r
}

func openT(t testing.TB, o Options) *Writer {
	t.Helper()
	w, err := Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return w
}

func writeN(t testing.TB, w *Writer, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := w.Write(context.Background(), sample(i)); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
	}
}

// makeLog writes n records with o and returns the log's files. With
// CheckpointEvery, it waits for each checkpoint to be durable before
// writing on, so the log's shape does not depend on scheduling: a
// checkpoint covers exactly every CheckpointEvery-th record.
func makeLog(t testing.TB, o Options, n int) []string {
	t.Helper()
	w := openT(t, o)
	if o.CheckpointEvery > 0 {
		ckpts := func() int {
			b, _ := os.ReadFile(o.Path)
			return bytes.Count(b, []byte(`"kind":"checkpoint"`))
		}
		base := ckpts()
		for i := 0; i < n; i++ {
			writeN(t, w, i, 1)
			if (i+1)%o.CheckpointEvery == 0 {
				want := base + (i+1)/o.CheckpointEvery
				waitFor(t, fmt.Sprintf("checkpoint %d", want), func() bool { return ckpts() >= want })
			}
		}
	} else {
		writeN(t, w, 0, n)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	files, err := Files(o.Path)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func mustVerify(t testing.TB, files []string, o VerifyOptions) *VerifyResult {
	t.Helper()
	res, err := Verify(context.Background(), files, o)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return res
}

// readFile returns a log file's bytes, un-gzipped.
func readFile(t testing.TB, name string) []byte {
	t.Helper()
	rc, err := openLog(name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFile replaces a log file, gzipping when its name says so.
func writeFile(t testing.TB, name string, data []byte) {
	t.Helper()
	if strings.HasSuffix(name, ".gz") {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
		data = buf.Bytes()
	}
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

type logLine struct {
	file int
	text []byte // with newline
}

func readLines(t testing.TB, files []string) []logLine {
	t.Helper()
	var out []logLine
	for i, f := range files {
		for _, l := range bytes.SplitAfter(readFile(t, f), []byte("\n")) {
			if len(l) > 0 {
				out = append(out, logLine{i, bytes.Clone(l)})
			}
		}
	}
	return out
}

func writeLines(t testing.TB, files []string, lines []logLine) {
	t.Helper()
	per := make([][]byte, len(files))
	for _, l := range lines {
		per[l.file] = append(per[l.file], l.text...)
	}
	for i, f := range files {
		writeFile(t, f, per[i])
	}
}

// logOpts are options for a log in a fresh temp dir.
func logOpts(t testing.TB) Options {
	return Options{Path: filepath.Join(t.TempDir(), "audit.jsonl")}
}

// syncBuffer is a goroutine-safe bytes.Buffer for capturing logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func testLogger() zerolog.Logger { return zerolog.New(io.Discard) }
