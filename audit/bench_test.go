package audit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWriter measures records per second through a real file with a
// fixed number of concurrent writers (gateway connections), in each fsync
// mode: "always" waits for the fdatasync covering each record, "batch"
// only for acceptance. Close is timed too, so batch mode's last flush is
// paid for. Compare always with batch at the same writer count in one run:
// go test -run '^$' -bench 'Writer|Encode' -benchmem -count 3 ./audit
func BenchmarkWriter(b *testing.B) {
	for _, mode := range []string{FsyncAlways, FsyncBatch} {
		for _, writers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", mode, writers), func(b *testing.B) {
				benchWriter(b, mode, writers)
			})
		}
	}
}

func benchWriter(b *testing.B, mode string, writers int) {
	ops := &gateOps{} // counts fdatasyncs, never holds or fails them
	w, err := open(context.Background(), Options{Path: filepath.Join(b.TempDir(), "audit.jsonl"), Fsync: mode}, ops)
	if err != nil {
		b.Fatal(err)
	}
	// Records are built before the clock starts; each Write gets a copy, as
	// the writer fills Seq, Prev, Hash, Time and ID in.
	tmpl := make([][]*Record, writers)
	for g := range tmpl {
		for i := range 16 {
			tmpl[g] = append(tmpl[g], sample(g*16+i))
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				r := *tmpl[g][i%16]
				if err := w.Write(context.Background(), &r); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	// How well group commit works, independent of how fast the disk is
	// today: records made durable per fdatasync.
	b.ReportMetric(float64(b.N)/float64(max(ops.syncs.Load(), 1)), "records/fdatasync")
}

// BenchmarkEncode is the CPU cost of one canonical line and its hash.
func BenchmarkEncode(b *testing.B) {
	b.ReportAllocs()
	e := newEncoder()
	r := sample(1)
	r.Time = time.Now()
	var buf []byte
	for b.Loop() {
		buf, _ = e.encode(buf[:0], r)
	}
}

// BenchmarkVerify1M verifies a 1,000,000-record log.
func BenchmarkVerify1M(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	e := newEncoder()
	prev := ""
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var line []byte
	for i := 0; i < n; i++ {
		r := sample(i)
		r.Time, r.ID, r.Seq, r.Prev = t0.Add(time.Duration(i)*time.Millisecond), "0123456789abcdef0123456789abcdef", uint64(i+1), prev
		line, err = e.encode(line[:0], r)
		if err != nil {
			b.Fatal(err)
		}
		bw.Write(line)
		prev = r.Hash
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	st, _ := f.Stat()
	f.Close()
	b.SetBytes(st.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Verify(context.Background(), []string{path}, VerifyOptions{})
		if err != nil || !res.Intact || res.Records != n {
			b.Fatalf("verify: %v %+v", err, res)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
