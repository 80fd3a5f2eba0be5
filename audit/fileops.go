package audit

import (
	"os"
)

// file is the subset of *os.File the writer uses.
type file interface {
	WriteAt(p []byte, off int64) (int, error)
	ReadAt(p []byte, off int64) (int, error)
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

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
	return f, nil
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
