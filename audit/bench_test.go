package audit

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkWrite measures records per second with parallel writers, in each
// fsync mode (always: every Write waits for its group's fsync).
func BenchmarkWrite(b *testing.B) {
	for _, mode := range []string{FsyncAlways, FsyncBatch} {
		b.Run(mode, func(b *testing.B) {
			o := Options{Path: filepath.Join(b.TempDir(), "audit.jsonl"), Fsync: mode}
			w := openT(b, o)
			b.SetParallelism(16) // many gateway connections per core
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if err := w.Write(context.Background(), sample(i)); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkEncode is the CPU cost of one canonical line and its hash.
func BenchmarkEncode(b *testing.B) {
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
