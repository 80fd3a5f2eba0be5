//go:build linux

package audit

import (
	"bytes"
	"context"
	"os"
	"syscall"
	"testing"
)

// allocated is the disk space held by a file, reserved blocks included.
func allocated(t *testing.T, path string) (size, blocks int64) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Size, st.Blocks * 512
}

// TestPreallocationInvisible: the writer reserves blocks ahead of the
// active file without changing its size, so readers (jq, Query, Verify,
// another process) see records only; Close and rotation give the blocks
// back.
func TestPreallocationInvisible(t *testing.T) {
	o := logOpts(t)
	w := openT(t, o)
	writeN(t, w, 0, 3)
	// Write returned after the flush, which decided on preallocation
	// before releasing the record's group: reading the flag is ordered.
	if w.noPrealloc {
		t.Skip("the filesystem of the temp dir cannot preallocate")
	}
	content, _ := os.ReadFile(o.Path)
	size, blocks := allocated(t, o.Path)
	if size != int64(len(content)) || bytes.Count(content, []byte("\n")) != 3 || bytes.IndexByte(content, 0) >= 0 {
		t.Fatalf("live file: size %d, %d bytes read, want exactly the 3 records", size, len(content))
	}
	if blocks < preallocChunk {
		t.Fatalf("%d bytes allocated while open, want the %d reserved ahead", blocks, preallocChunk)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	size, blocks = allocated(t, o.Path)
	if blocks >= preallocChunk || size != int64(len(content)) {
		t.Fatalf("after Close: size %d, %d bytes allocated, want the reservation released", size, blocks)
	}
	if res, err := Verify(context.Background(), []string{o.Path}, VerifyOptions{}); err != nil || !res.Intact {
		t.Fatalf("verify: %v %+v", err, res)
	}
}
