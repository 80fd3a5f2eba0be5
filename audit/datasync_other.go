//go:build !linux

package audit

// Datasync falls back to a full fsync where fdatasync is not available
// (or, as on macOS, not a documented durability barrier).
func (f osFile) Datasync() error { return f.File.Sync() }

// Preallocate is not attempted outside Linux: the writer appends as before.
func (f osFile) Preallocate(off, n int64) error { return errPreallocUnsupported }
