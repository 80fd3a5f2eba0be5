package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"testing"
)

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

type rawResp struct {
	status int
	body   string
}

func readResp(t *testing.T, br *bufio.Reader) rawResp {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return rawResp{status: resp.StatusCode, body: string(b)}
}

func itoa(i int) string { return strconv.Itoa(i) }

func hostsFor(name string, u *upstream) map[string]netip.AddrPort {
	return map[string]netip.AddrPort{name: u.addr}
}

// benchFsync lets a benchmark run compare fsync modes (SYNCGATE_BENCH_FSYNC=batch).
var benchFsync = func() string {
	if v := os.Getenv("SYNCGATE_BENCH_FSYNC"); v != "" {
		return v
	}
	return "always"
}()
