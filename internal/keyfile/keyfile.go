package keyfile

import (
	"fmt"
	"os"
	"runtime"
)

// CheckPrivate returns an error when the file at path may be read (or
// written) by group or others. what names the file for the message, e.g.
// "secret store key" or "listener key". A file that cannot be stat'ed is
// left to the caller's read to report.
func CheckPrivate(path, what string) error {
	if runtime.GOOS == "windows" {
		return nil // no POSIX modes; ACLs are the operator's job there
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("%s %s: mode %v is readable by others; chmod 600 it", what, path, m)
	}
	return nil
}
