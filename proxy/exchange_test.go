package proxy_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/syncgate/syncgate/internal/testpki"
)

// rawUpstream is a TLS upstream that answers every request head with resp;
// after each response it closes the connection when closeAfter is set (an
// upstream closing a kept-alive connection while it is idle in the pool).
func rawUpstream(t *testing.T, h *harness, resp string, closeAfter bool) (netip.AddrPort, *atomic.Int64) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"graph.test.example"}}).TLS}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns := &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for {
						line, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if line == "\r\n" {
							break
						}
					}
					if _, err := c.Write([]byte(resp)); err != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), conns
}

func getPlain(t *testing.T, br *bufio.Reader, c net.Conn) string {
	t.Helper()
	if _, err := c.Write([]byte("GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	n, err := rawReadResponse(br)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	return strings.Repeat("x", n)
}

// TestDirectExchangePoolReuse: kept-alive upstream connections are reused
// by later requests, from any client connection.
func TestDirectExchangePoolReuse(t *testing.T) {
	h := newPKI(t)
	addr, conns := rawUpstream(t, h, "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n"+strings.Repeat("x", 1024), false)
	h.start(harnessOpts{policy: basePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": addr}})
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", h.plain)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		for j := 0; j < 5; j++ {
			getPlain(t, br, c)
		}
		c.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections for 15 sequential requests, want 1", n)
	}
}

// TestDirectExchangeStaleRetry: a GET that meets a pooled connection the
// upstream has closed is sent again on a fresh one; the client sees no error.
func TestDirectExchangeStaleRetry(t *testing.T) {
	h := newPKI(t)
	addr, conns := rawUpstream(t, h, "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n"+strings.Repeat("x", 1024), true)
	h.start(harnessOpts{policy: basePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": addr}})
	c, err := net.Dial("tcp", h.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for j := 0; j < 5; j++ {
		getPlain(t, br, c)
	}
	if n := conns.Load(); n < 5 {
		t.Fatalf("%d upstream connections, want one per request", n)
	}
}

// TestDirectExchangeConcurrent runs many clients at once through the pool
// (run with -race).
func TestDirectExchangeConcurrent(t *testing.T) {
	h := newPKI(t)
	addr, _ := rawUpstream(t, h, "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n"+strings.Repeat("x", 1024), false)
	h.start(harnessOpts{policy: basePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": addr}})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", h.plain)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for j := 0; j < 40; j++ {
				if _, err := c.Write([]byte("GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\n\r\n")); err != nil {
					t.Error(err)
					return
				}
				if n, err := rawReadResponse(br); err != nil || n != 1024 {
					t.Errorf("response %d bytes: %v", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
