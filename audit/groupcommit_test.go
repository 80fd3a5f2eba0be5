package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gateOps counts fdatasyncs through the fileOps seam and can hold them at a
// gate (as a slow disk would) and make them fail (as a failing disk would).
type gateOps struct {
	osOps
	syncs atomic.Int64 // fdatasyncs started

	mu   sync.Mutex
	gate chan struct{} // while non-nil, fdatasyncs wait for it to close
	fail error
}

func (g *gateOps) hold() {
	g.mu.Lock()
	g.gate = make(chan struct{})
	g.mu.Unlock()
}

func (g *gateOps) release() {
	g.mu.Lock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
	g.mu.Unlock()
}

func (g *gateOps) setFail(err error) {
	g.mu.Lock()
	g.fail = err
	g.mu.Unlock()
}

func (g *gateOps) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := g.osOps.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &gateFile{file: f, ops: g}, nil
}

type gateFile struct {
	file
	ops *gateOps
}

func (f *gateFile) Datasync() error {
	f.ops.syncs.Add(1)
	f.ops.mu.Lock()
	gate := f.ops.gate
	f.ops.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.ops.mu.Lock()
	err := f.ops.fail
	f.ops.mu.Unlock()
	if err != nil {
		return err
	}
	return f.file.Datasync()
}

// writeConcurrently starts n writers of one record each and returns their
// results once all have returned.
func writeConcurrently(w *Writer, n int) (recs []*Record, errs []error, wait func()) {
	recs, errs = make([]*Record, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		recs[i] = sample(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.Write(context.Background(), recs[i])
		}()
	}
	return recs, errs, wg.Wait
}

// chainedSeq is the seq of the last record in the chain (accepted).
func chainedSeq(w *Writer) uint64 {
	s, _ := w.Head()
	return s
}

// TestGroupCommitSharesFdatasync: records accepted while fdatasyncs are in
// flight share the next one. The disk is held at a gate until every record
// is accepted, so the count does not depend on scheduling.
func TestGroupCommitSharesFdatasync(t *testing.T) {
	const writers = 64
	ops := &gateOps{}
	o := logOpts(t)
	w, err := open(context.Background(), o, ops)
	if err != nil {
		t.Fatal(err)
	}
	ops.hold()
	_, errs, wait := writeConcurrently(w, writers)
	waitFor(t, "every record accepted", func() bool { return chainedSeq(w) == writers })
	if n := ops.syncs.Load(); n > defaultMaxFlights {
		t.Fatalf("%d fdatasyncs started at once, want at most %d in flight", n, defaultMaxFlights)
	}
	ops.release()
	wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	// At most every slot held one group, and everything accepted meanwhile
	// went in the next one.
	if n := ops.syncs.Load(); n > defaultMaxFlights+1 {
		t.Fatalf("%d fdatasyncs for %d records accepted while the disk was busy, want at most %d", n, writers, defaultMaxFlights+1)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	res := mustVerify(t, []string{o.Path}, VerifyOptions{})
	if !res.Intact || res.Records != writers {
		t.Fatalf("verify: %+v %v", res, res.Problem)
	}
}

// TestFailedFdatasyncFailsEveryWaiter: when the fdatasync covering a group
// fails, every writer waiting on it (and on the flights after it) is told
// its record is not durable; the records stay in memory, in order, and are
// written once the disk works again, as Write documents.
func TestFailedFdatasyncFailsEveryWaiter(t *testing.T) {
	const writers = 48
	for _, flights := range []int{1, defaultMaxFlights} {
		t.Run(fmt.Sprintf("flights=%d", flights), func(t *testing.T) {
			ops := &gateOps{}
			o := logOpts(t)
			o.retryMin, o.retryMax = time.Millisecond, 5*time.Millisecond
			o.maxFlights = flights
			w, err := open(context.Background(), o, ops)
			if err != nil {
				t.Fatal(err)
			}
			writeN(t, w, 1000, 2) // durable before the failure
			ops.hold()
			recs, errs, wait := writeConcurrently(w, writers)
			waitFor(t, "every record accepted", func() bool { return chainedSeq(w) == writers+2 })
			ops.setFail(errDiskFull)
			ops.release()
			wait()
			for i, err := range errs {
				if err == nil {
					t.Fatalf("writer %d (seq %d) was told its record is durable after the fdatasync failed", i, recs[i].Seq)
				}
				if errors.Is(err, ErrClosed) || errors.Is(err, ErrBacklogFull) || !errors.Is(err, errDiskFull) {
					t.Fatalf("writer %d: %v, want the disk error with the record retained", i, err)
				}
			}
			if herr := w.Healthy(); herr == nil || !errors.Is(herr, errDiskFull) {
				t.Fatalf("Healthy = %v, want the disk error", herr)
			}
			ops.setFail(nil)
			waitFor(t, "recovery", func() bool { return w.Healthy() == nil })
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			res := mustVerify(t, []string{o.Path}, VerifyOptions{})
			if !res.Intact || res.Records != writers+2 {
				t.Fatalf("after recovery: %+v %v", res, res.Problem)
			}
			// Each retained record is in the log once, as the writer
			// chained it.
			lines := bytes.Split(bytes.TrimSuffix(readFile(t, o.Path), []byte("\n")), []byte("\n"))
			for _, r := range recs {
				if got := lines[r.Seq-1]; !bytes.Contains(got, []byte(`"hash":"`+r.Hash+`"`)) {
					t.Fatalf("line %d is not the record returned as seq %d", r.Seq, r.Seq)
				}
			}
		})
	}
}

// TestRecordsInSeqOrder: with many concurrent writers the file holds the
// records in seq order, each exactly as the writer reported it, byte for
// byte what the canonical encoder makes of it.
func TestRecordsInSeqOrder(t *testing.T) {
	for _, mode := range []string{FsyncAlways, FsyncBatch} {
		t.Run(mode, func(t *testing.T) {
			o := logOpts(t)
			o.Fsync = mode
			w := openT(t, o)
			const writers, each = 16, 40
			got := make([][]*Record, writers)
			var wg sync.WaitGroup
			for g := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						r := sample(g*each + i)
						if err := w.Write(context.Background(), r); err != nil {
							t.Error(err)
							return
						}
						c := *r
						got[g] = append(got[g], &c)
					}
				}()
			}
			wg.Wait()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			lines := bytes.SplitAfter(readFile(t, o.Path), []byte("\n"))
			lines = lines[:len(lines)-1] // after the last newline
			if len(lines) != writers*each {
				t.Fatalf("%d lines, want %d", len(lines), writers*each)
			}
			for i, l := range lines {
				var seq struct{ Seq uint64 }
				if err := json.Unmarshal(l, &seq); err != nil || seq.Seq != uint64(i+1) {
					t.Fatalf("line %d holds seq %d (%v): records out of order", i+1, seq.Seq, err)
				}
			}
			enc := newEncoder()
			for g := range got {
				var last uint64
				for _, r := range got[g] {
					if r.Seq <= last {
						t.Fatalf("writer %d: seq %d after %d", g, r.Seq, last)
					}
					last = r.Seq
					want, _ := enc.encode(nil, r)
					if !bytes.Equal(lines[r.Seq-1], want) {
						t.Fatalf("seq %d on disk:\n%s\nencoder:\n%s", r.Seq, lines[r.Seq-1], want)
					}
				}
			}
		})
	}
}

// TestBatchTickerFlushesAndStops: the batch flusher flushes a full batch
// without waiting for its ticker, flushes a lone record by the ticker, and
// leaves no goroutine behind after Close.
func TestBatchTickerFlushesAndStops(t *testing.T) {
	before := runtime.NumGoroutine()
	o := logOpts(t)
	o.Fsync = FsyncBatch
	o.BatchMax = 8
	o.BatchInterval = time.Hour // only a full batch can be flushed
	w := openT(t, o)
	writeN(t, w, 0, 8)
	waitFor(t, "a full batch durable", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.durableSeq == 8
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	o.BatchInterval = time.Millisecond
	w = openT(t, o)
	writeN(t, w, 8, 1)
	waitFor(t, "a lone record durable by the ticker", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.durableSeq == 9
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the writer's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	if res := mustVerify(t, []string{o.Path}, VerifyOptions{}); !res.Intact || res.Records != 9 {
		t.Fatalf("verify: %+v %v", res, res.Problem)
	}
}

// TestZeroFilledTail: zero bytes after the last record (reserved space a
// crash left visible) are not tampering: verify accepts the log, and the
// writer drops them on open without a repair record. A torn record before
// zeros is still a torn tail.
func TestZeroFilledTail(t *testing.T) {
	cases := []struct {
		name     string
		tail     []byte
		intact   bool // verify before reopening
		repaired bool // an audit_repair record is written
	}{
		{"zeros", make([]byte, 1<<16), true, false},
		{"one zero", []byte{0}, true, false},
		{"torn then zeros", append([]byte(`{"time":"2026-01-01T00:00:00Z","id":"x","seq":6,"ki`), make([]byte, 4096)...), false, true},
		{"zeros then bytes", append(make([]byte, 4096), 'x'), false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := logOpts(t)
			makeLog(t, o, 5)
			full, _ := os.ReadFile(o.Path)
			os.WriteFile(o.Path, append(bytes.Clone(full), tc.tail...), 0o600)

			res := mustVerify(t, []string{o.Path}, VerifyOptions{})
			if res.Intact != tc.intact {
				t.Fatalf("verify intact = %v, want %v (%v)", res.Intact, tc.intact, res.Problem)
			}
			if tc.intact && res.Records != 5 {
				t.Fatalf("verify counted %d records, want 5", res.Records)
			}
			if !tc.intact && (res.Problem.Seq != 6 || !strings.Contains(res.Problem.Reason, "truncated tail")) {
				t.Fatalf("verify problem %v, want a truncated tail at seq 6", res.Problem)
			}

			w := openT(t, o)
			writeN(t, w, 5, 2)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			after := readFile(t, o.Path)
			if !bytes.HasPrefix(after, full) || bytes.IndexByte(after, 0) >= 0 {
				t.Fatal("reopening did not cut the log back to its last record")
			}
			res = mustVerify(t, []string{o.Path}, VerifyOptions{})
			var repairs []*Record
			Query(context.Background(), []string{o.Path}, Filter{Kinds: []string{KindConfig}}, func(_ []byte, r *Record) error {
				repairs = append(repairs, r)
				return nil
			})
			want := uint64(7)
			if tc.repaired {
				want = 8
				if len(repairs) != 1 || repairs[0].Detail["truncated_bytes"] != strconv.Itoa(len(tc.tail)) {
					t.Fatalf("repair records %+v, want one for %d bytes", repairs, len(tc.tail))
				}
			} else if len(repairs) != 0 {
				t.Fatalf("zero tail reported as a repair: %+v", repairs[0].Detail)
			}
			if !res.Intact || res.LastSeq != want {
				t.Fatalf("after reopen: %+v %v", res, res.Problem)
			}
		})
	}
}

// TestZerosBeforeUnacknowledgedRecords: reserved blocks that a crash left
// unconverted read as zeros even when records after them reached the disk.
// None of those records was acknowledged (acknowledgement is in file
// order), so the writer cuts the log at the line the zeros start in,
// documents the cut, and continues from the last whole record before it.
func TestZerosBeforeUnacknowledgedRecords(t *testing.T) {
	o := logOpts(t)
	makeLog(t, o, 8)
	b := readFile(t, o.Path)
	lines := bytes.SplitAfter(b, []byte("\n"))
	keep := len(bytes.Join(lines[:5], nil))
	// Record 6 is zeros from its second half on, records 7 and 8 intact.
	mid := keep + len(lines[5])/2
	copy(b[mid:keep+len(lines[5])], make([]byte, keep+len(lines[5])-mid))
	os.WriteFile(o.Path, b, 0o600)

	w := openT(t, o)
	writeN(t, w, 100, 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	after := readFile(t, o.Path)
	if !bytes.HasPrefix(after, b[:keep]) {
		t.Fatal("records before the zeros were changed")
	}
	res := mustVerify(t, []string{o.Path}, VerifyOptions{})
	if !res.Intact || res.LastSeq != 7 {
		t.Fatalf("after reopen: %+v %v", res, res.Problem)
	}
	var repair *Record
	Query(context.Background(), []string{o.Path}, Filter{Kinds: []string{KindConfig}}, func(_ []byte, r *Record) error {
		repair = r
		return nil
	})
	if repair == nil || repair.Seq != 6 || repair.Detail["truncated_at"] != strconv.Itoa(keep) ||
		repair.Detail["truncated_bytes"] != strconv.Itoa(len(b)-keep) {
		t.Fatalf("repair record: %+v", repair)
	}
}

// TestZeroTailOnlyInLastFile: a rotated file never has reserved space
// left in it, so zeros at its end are an incomplete file.
func TestZeroTailOnlyInLastFile(t *testing.T) {
	o := logOpts(t)
	o.RotateSize = 1 // every write rotates
	files := makeLog(t, o, 3)
	if len(files) < 2 {
		t.Fatalf("files %v, want rotated ones", files)
	}
	b, _ := os.ReadFile(files[0])
	os.WriteFile(files[0], append(b, 0, 0, 0), 0o600)
	res := mustVerify(t, files, VerifyOptions{})
	if res.Intact || !strings.Contains(res.Problem.Reason, "incomplete record") {
		t.Fatalf("verify: %+v %v", res, res.Problem)
	}
}

// TestLargeGroup: a group larger than maxInflightBytes (a batch backlog)
// is written as one plain append, and the log stays whole.
func TestLargeGroup(t *testing.T) {
	o := logOpts(t)
	o.Fsync = FsyncBatch
	o.BatchInterval, o.BatchMax = time.Hour, 1<<30 // flushed by Close only
	w := openT(t, o)
	big := strings.Repeat("x", 4096)
	n := maxInflightBytes/4096 + 16
	for i := range n {
		r := sample(i)
		r.Detail = map[string]string{"pad": big}
		if err := w.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(o.Path); st.Size() <= maxInflightBytes {
		t.Fatalf("log of %d bytes does not exercise a large group", st.Size())
	}
	if res := mustVerify(t, []string{o.Path}, VerifyOptions{}); !res.Intact || res.Records != uint64(n) {
		t.Fatalf("verify: %+v %v", res, res.Problem)
	}
}
