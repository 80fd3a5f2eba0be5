//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package proxy

import (
	"crypto/tls"
	"errors"
	"syscall"
)

// idleCheck looks at an idle upstream connection's socket without blocking
// and without consuming anything: a connection the upstream has closed
// (FIN) or that holds unread bytes (a close_notify alert, anything else an
// idle connection should not have) is not clean. The peek function is made
// once per connection, so a check allocates nothing.
type idleCheck struct {
	raw  syscall.RawConn
	peek func(fd uintptr) bool
	buf  [1]byte
	n    int
	err  error
}

func (ic *idleCheck) init(tc *tls.Conn) {
	sc, ok := tc.NetConn().(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	ic.raw = raw
	ic.peek = func(fd uintptr) bool {
		ic.n, _, ic.err = syscall.Recvfrom(int(fd), ic.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait for readability
	}
}

// clean reports whether the connection is open with nothing to read.
func (ic *idleCheck) clean() bool {
	if ic.raw == nil {
		return true // cannot tell: the retry rules still apply
	}
	if err := ic.raw.Read(ic.peek); err != nil {
		return false
	}
	return errors.Is(ic.err, syscall.EAGAIN) || errors.Is(ic.err, syscall.EWOULDBLOCK)
}
