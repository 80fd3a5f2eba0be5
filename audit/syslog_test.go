package audit

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/syncgate/syncgate/internal/testpki"
)

// collector is a TLS syslog receiver that parses octet-counted frames.
type collector struct {
	ln    net.Listener
	mu    sync.Mutex
	msgs  []string
	conns []net.Conn
	wg    sync.WaitGroup
}

func newCollector(t *testing.T, ca *testpki.CA, addr string) *collector {
	t.Helper()
	leaf := ca.Issue(t, testpki.LeafOpts{CN: "siem", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{ln: ln}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.conns = append(c.conns, conn)
			c.mu.Unlock()
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					lenStr, err := br.ReadString(' ')
					if err != nil {
						return
					}
					n, err := strconv.Atoi(strings.TrimSuffix(lenStr, " "))
					if err != nil || n <= 0 {
						c.add(fmt.Sprintf("BAD FRAME %q", lenStr))
						return
					}
					buf := make([]byte, n)
					if _, err := io.ReadFull(br, buf); err != nil {
						return
					}
					c.add(string(buf))
				}
			}()
		}
	}()
	return c
}

func (c *collector) add(s string) {
	c.mu.Lock()
	c.msgs = append(c.msgs, s)
	c.mu.Unlock()
}

func (c *collector) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

func (c *collector) close() {
	c.ln.Close()
	c.mu.Lock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func TestSyslogForwarding(t *testing.T) {
	ca := testpki.NewCA(t, "siem-ca")
	col := newCollector(t, ca, "127.0.0.1:0")
	addr := col.ln.Addr().String()
	o := logOpts(t)
	o.Forward = &SyslogOptions{Address: addr, TLS: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, Hostname: "gw1"}
	w := openT(t, o)
	writeN(t, w, 0, 5)
	waitFor(t, "5 forwarded", func() bool { return len(col.got()) >= 5 })

	local, _ := os.ReadFile(o.Path)
	lines := strings.Split(strings.TrimSpace(string(local)), "\n")
	for i, m := range col.got() {
		// <110>1 TIMESTAMP HOST APP PROCID MSGID SD MSG
		parts := strings.SplitN(m, " ", 8)
		if len(parts) != 8 || parts[0] != "<110>1" || parts[2] != "gw1" || parts[3] != "syncgate" || parts[5] != "audit" || parts[6] != "-" {
			t.Fatalf("message %d header: %q", i, m)
		}
		if parts[7] != lines[i] {
			t.Fatalf("message %d body differs from the local record:\n%s\n%s", i, parts[7], lines[i])
		}
	}

	// Collector goes away: the local log keeps working and nothing blocks.
	col.close()
	writeN(t, w, 5, 5)
	if err := w.Healthy(); err != nil {
		t.Fatalf("forwarding outage made the log unhealthy: %v", err)
	}
	// It comes back on the same address: queued records follow.
	col2 := newCollector(t, ca, addr)
	defer col2.close()
	waitFor(t, "queued records after reconnect", func() bool {
		for _, m := range col2.got() {
			if strings.Contains(m, `"seq":10,`) {
				return true
			}
		}
		return false
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if res := mustVerify(t, []string{o.Path}, VerifyOptions{}); !res.Intact || res.Records != 10 {
		t.Fatalf("local log: %+v", res)
	}
}

func TestSyslogQueueDropsOldest(t *testing.T) {
	// Nothing listens here: every record queues, and the queue is bounded.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	f, err := newForwarder(SyslogOptions{Address: addr, Insecure: true, QueueSize: 3}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	for i := 1; i <= 10; i++ {
		f.enqueueLines([]byte(fmt.Sprintf(`{"seq":%d}`+"\n", i)))
	}
	st := f.stats()
	if st.Queued != 3 || st.Dropped != 7 {
		t.Fatalf("stats %+v, want 3 queued and 7 dropped", st)
	}
	f.mu.Lock()
	head := string(f.q[f.head])
	f.mu.Unlock()
	if head != `{"seq":8}` {
		t.Fatalf("oldest kept = %s, want seq 8 (drop-oldest)", head)
	}
	if _, err := newForwarder(SyslogOptions{Address: addr}, testLogger()); err == nil {
		t.Fatal("forwarder without TLS accepted")
	}
}
