package proxy_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/internal/testpki"
	"github.com/syncgate/syncgate/proxy"
)

// TestFullDiskFailsClosedAndRecovers puts the real audit log on a tiny
// tmpfs, fills it, and checks that the gateway refuses with 503 and stops
// forwarding, that every forwarded request still gets its record once space
// returns, and that the chain verifies afterwards.
func TestFullDiskFailsClosedAndRecovers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs; the failing-writer variant covers the logic")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })

	h := newPKI(t)
	up := newUpstream(t, upstreamOpts{cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"graph.test.example"}}).TLS})
	h.auditPathOverride = filepath.Join(mnt, "audit.jsonl")
	h.start(harnessOpts{policy: basePolicy, hosts: map[string]netip.AddrPort{"graph.test.example": up.addr}})
	get := func() int {
		return curl(t, append(h.viaPlain(), "http://graph.test.example/ok")...).status
	}
	if s := get(); s != 200 {
		t.Fatalf("healthy: %d", s)
	}
	// Fill the filesystem.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()

	// The audit file's last page may still hold a record or two. The first
	// request whose record does not fit may already be on its way upstream
	// when the write fails: it is answered 503 and its record waits in memory.
	refused := false
	for i := 0; i < 20 && !refused; i++ {
		switch s := get(); s {
		case 503:
			refused = true
		case 200:
		default:
			t.Fatalf("disk full: %d", s)
		}
	}
	if !refused {
		t.Fatal("no 503 with a full disk")
	}
	hitsWhileFull := up.count()
	for i := 0; i < 3; i++ {
		if s := get(); s != 503 {
			t.Fatalf("disk still full: %d", s)
		}
	}
	if up.count() != hitsWhileFull {
		t.Fatalf("requests forwarded while the log was known to be unwritable: %d -> %d", hitsWhileFull, up.count())
	}
	if err := h.aw.Healthy(); err == nil {
		t.Fatal("writer reports healthy on a full disk")
	}

	os.Remove(filler)
	deadline := time.Now().Add(10 * time.Second)
	for h.aw.Healthy() != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s := get(); s != 200 {
		t.Fatalf("after recovery: %d", s)
	}
	files, err := audit.Files(h.auditLog)
	if err != nil {
		t.Fatal(err)
	}
	res, err := audit.Verify(context.Background(), files, audit.VerifyOptions{})
	if err != nil || !res.Intact {
		t.Fatalf("chain after recovery: %+v %v", res, err)
	}
	// Every request the upstream saw has an allow record with its response.
	allowed := 0
	for _, r := range h.records() {
		if r.Kind == audit.KindHTTP && r.Decision != nil && r.Decision.Allow && r.Upstream != nil && r.Upstream.TLSVersion != "" {
			allowed++
		}
	}
	if allowed != up.count() {
		t.Fatalf("%d forwarded requests, %d records of them", up.count(), allowed)
	}
}

// TestConnectionAndTimeLimits: a client cannot hold more connections than
// its limit, and a slow head is cut off.
func TestConnectionAndTimeLimits(t *testing.T) {
	h, _ := graphHarness(t, "", harnessOpts{limits: proxy.Limits{MaxConnsPerClient: 2, HeaderTimeout: 300 * time.Millisecond}})
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", h.plain)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	time.Sleep(100 * time.Millisecond) // let the gateway count them
	status, body := h.raw(t, "GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph.test.example\r\n\r\n")
	if status != 429 {
		t.Fatalf("third connection: %d %s", status, body)
	}
	// Slowloris: a head that never finishes is closed after HeaderTimeout.
	c := conns[0]
	c.Write([]byte("GET http://graph.test.example/ok HTTP/1.1\r\nHost: graph"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	if _, err := c.Read(buf); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("slow head not cut off: %v", err)
	}
}
