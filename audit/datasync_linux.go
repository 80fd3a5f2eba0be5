//go:build linux

package audit

import (
	"errors"
	"os"
	"syscall"
)

// fallocKeepSize is FALLOC_FL_KEEP_SIZE from <linux/falloc.h>: the
// blocks are reserved past the end of the file and st_size is unchanged.
const fallocKeepSize = 0x01

// Datasync is fdatasync(2). Its man page: it "does not flush modified
// metadata unless that metadata is needed in order to allow a subsequent
// data retrieval to be correctly handled", and names st_size as such
// metadata, so an append is durable, size included, once it returns.
func (f osFile) Datasync() error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
		}
		return nil
	}
}

// Preallocate is fallocate(2) with FALLOC_FL_KEEP_SIZE.
func (f osFile) Preallocate(off, n int64) error {
	for {
		err := syscall.Fallocate(int(f.Fd()), fallocKeepSize, off, n)
		switch {
		case err == nil:
			return nil
		case err == syscall.EINTR:
			continue
		case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS):
			return errPreallocUnsupported
		default:
			return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
		}
	}
}
