//go:build unix

package audit

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockLog takes an exclusive lock beside the log so that two writers (two
// gateways pointed at one path) cannot interleave and fork the chain.
func lockLog(path string) (func(), error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("audit: %s is in use by another writer", path)
		}
		return nil, fmt.Errorf("audit: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
