package audit

import (
	"errors"
	"os"
)

// errPreallocUnsupported says that the platform or the filesystem cannot
// reserve blocks; the writer then stops trying.
var errPreallocUnsupported = errors.New("preallocation not supported")

// file is the subset of *os.File the writer uses.
type file interface {
	WriteAt(p []byte, off int64) (int, error)
	ReadAt(p []byte, off int64) (int, error)
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
	// Datasync makes the written bytes durable, and the file size with
	// them, without the metadata no later read needs (mtime): fdatasync(2)
	// where the platform has it, a full Sync elsewhere.
	Datasync() error
	// Preallocate reserves disk blocks for [off, off+n) without changing
	// the file's size, so that appends into them allocate nothing and
	// readers never see the reservation. It is an optimisation: platforms
	// or filesystems without it return errPreallocUnsupported.
	Preallocate(off, n int64) error
}

// osFile is an *os.File with the platform's Datasync and Preallocate
// (datasync_linux.go, datasync_other.go).
type osFile struct{ *os.File }

// fileOps is the seam through which the writer touches the filesystem, so
// that tests can make writes, fsyncs or renames fail on demand.
type fileOps interface {
	OpenFile(name string, flag int, perm os.FileMode) (file, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	SyncDir(dir string) error
}

type osOps struct{}

func (osOps) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osOps) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
func (osOps) Remove(name string) error             { return os.Remove(name) }

func (osOps) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
