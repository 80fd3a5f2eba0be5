package proxy

import (
	"crypto/tls"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncgate/syncgate/policy"
)

// closeCounter is a net.Conn that counts its closes (a pooled connection
// is closed exactly when the pool lets it go).
type closeCounter struct {
	net.Conn
	closed *atomic.Int64
	once   sync.Once
}

func (c *closeCounter) Close() error {
	c.once.Do(func() { c.closed.Add(1) })
	return c.Conn.Close()
}

// fakeUpConn is an upConn over one end of a pipe; its TLS connection never
// handshakes, so closing it writes nothing.
func fakeUpConn(t testing.TB, closed *atomic.Int64) *upConn {
	a, b := net.Pipe()
	t.Cleanup(func() { b.Close() })
	tc := tls.Client(&closeCounter{Conn: a, closed: closed}, &tls.Config{ServerName: "x"})
	return &upConn{tc: tc}
}

func (p *connPool) state() (n, listed int, timer, closed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.idle {
		listed += len(l)
	}
	return p.n, listed, p.timer != nil, p.closed
}

// TestPoolIdleCapUnderConcurrency: however many connections come back at
// once, at most maxIdlePerHost stay idle per address; the rest are closed.
func TestPoolIdleCapUnderConcurrency(t *testing.T) {
	p := &connPool{idle: map[string][]*upConn{}}
	defer p.close()
	var closed atomic.Int64
	const workers, each = 16, 3 * maxIdlePerHost / 16
	conns := make([][]*upConn, workers)
	for w := range conns {
		for range each {
			conns[w] = append(conns[w], fakeUpConn(t, &closed))
		}
	}
	var wg sync.WaitGroup
	now := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range conns[w] {
				p.put("a:443", c, now)
			}
		}()
	}
	wg.Wait()
	n, listed, timer, _ := p.state()
	if n != maxIdlePerHost || listed != maxIdlePerHost {
		t.Fatalf("idle %d (listed %d), want the cap %d", n, listed, maxIdlePerHost)
	}
	if got, want := closed.Load(), int64(workers*each-maxIdlePerHost); got != want {
		t.Fatalf("%d connections closed, want %d (all over the cap)", got, want)
	}
	if !timer {
		t.Fatal("no sweeper armed with idle connections")
	}
	// Another address has a cap of its own.
	p.put("b:443", fakeUpConn(t, &closed), now)
	if n, _, _, _ := p.state(); n != maxIdlePerHost+1 {
		t.Fatalf("idle %d after another address's connection", n)
	}
}

// TestPoolSweepAndClose: the sweep closes connections idle past the idle
// timeout and disarms itself when none is left; closing the pool (the
// policy generation retired) closes every idle connection, stops the
// sweeper, and closes connections that come back later instead of keeping
// them.
func TestPoolSweepAndClose(t *testing.T) {
	p := &connPool{idle: map[string][]*upConn{}}
	var closed atomic.Int64
	t0 := time.Now()
	p.put("a:443", fakeUpConn(t, &closed), t0)
	p.put("a:443", fakeUpConn(t, &closed), t0.Add(idleTimeout/2))
	p.sweep(t0.Add(idleTimeout))
	if n, listed, _, _ := p.state(); n != 1 || listed != 1 || closed.Load() != 1 {
		t.Fatalf("after a sweep: idle %d (listed %d), closed %d; want 1, 1, 1", n, listed, closed.Load())
	}
	if c := p.get("a:443", t0.Add(2*idleTimeout)); c != nil {
		t.Fatal("get handed out a connection idle past the timeout")
	}
	if closed.Load() != 2 {
		t.Fatalf("closed %d, want 2: an expired connection found by get is closed", closed.Load())
	}
	p.sweepTick() // nothing idle: the sweeper disarms
	if _, _, timer, _ := p.state(); timer {
		t.Fatal("the sweeper stays armed with nothing idle")
	}

	p.put("a:443", fakeUpConn(t, &closed), time.Now())
	p.put("b:443", fakeUpConn(t, &closed), time.Now())
	if _, _, timer, _ := p.state(); !timer {
		t.Fatal("no sweeper armed with idle connections")
	}
	p.close()
	n, listed, timer, isClosed := p.state()
	if n != 0 || listed != 0 || timer || !isClosed || closed.Load() != 4 {
		t.Fatalf("after close: idle %d (listed %d), timer %v, closed %v, connections closed %d", n, listed, timer, isClosed, closed.Load())
	}
	late := fakeUpConn(t, &closed)
	p.put("a:443", late, time.Now())
	if n, _, timer, _ := p.state(); n != 0 || timer || closed.Load() != 5 {
		t.Fatal("a connection returned after close was kept, or re-armed the sweeper")
	}
	if p.get("a:443", time.Now()) != nil {
		t.Fatal("a closed pool handed out a connection")
	}
}

// TestPoolConcurrentUseAndRetire: many goroutines take and return
// connections while the sweeper runs and the pool is closed under them
// (run with -race). Afterwards every connection is closed: none is left
// idle in a retired pool, and the sweeper is stopped.
func TestPoolConcurrentUseAndRetire(t *testing.T) {
	u := newUpstreams(nil, nil, time.Second)
	p := u.pool(nil)
	var closed, made, ops atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				addr := []string{"a:443", "b:443"}[i%2]
				c := p.get(addr, time.Now())
				if c == nil {
					c = fakeUpConn(t, &closed)
					made.Add(1)
				}
				p.put(addr, c, time.Now())
				ops.Add(1)
				if i%50 == 0 {
					p.sweep(time.Now())
				}
			}
		}()
	}
	// Let the workers reach a steady state before the generation retires.
	for ops.Load() < 5000 {
		runtime.Gosched()
	}
	u.closeIdle()
	close(stop)
	wg.Wait()
	n, listed, timer, isClosed := p.state()
	if n != 0 || listed != 0 || timer || !isClosed {
		t.Fatalf("retired pool: idle %d (listed %d), timer %v, closed %v", n, listed, timer, isClosed)
	}
	if closed.Load() != made.Load() {
		t.Fatalf("%d of %d connections closed after the pool was retired", closed.Load(), made.Load())
	}
	// A pool asked for after the generation retired is born closed.
	if _, _, _, c := u.pool(&policy.Dest{}).state(); !c {
		t.Fatal("a pool made after retirement is open")
	}
}

// BenchmarkPoolGetPut measures the pool's lock under contention: parallel
// workers taking a connection and returning it, as kept-alive requests to
// one destination do.
func BenchmarkPoolGetPut(b *testing.B) {
	p := &connPool{idle: map[string][]*upConn{}}
	defer p.close()
	var closed atomic.Int64
	for range maxIdlePerHost {
		p.put("a:443", fakeUpConn(b, &closed), time.Now())
	}
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := p.get("a:443", time.Now())
			if c == nil {
				c = fakeUpConn(b, &closed) // never at this parallelism: 64 are idle
			}
			p.put("a:443", c, time.Now())
		}
	})
}

// TestRetrySafe: the rule for sending a failed request again. A request
// whose bytes may have reached the upstream is sent again only when its
// method is idempotent and the connection was a reused one that closed
// before answering; one of which no byte reached the connection may always
// be sent again — but only while its body can be sent whole.
func TestRetrySafe(t *testing.T) {
	whole := &reqBody{r: eofReader{}, length: 3, all: true}
	streamedUntouched := &reqBody{r: eofReader{}, length: 1 << 20}
	streamedPartly := &reqBody{r: eofReader{}, length: 1 << 20, more: true}
	for _, tc := range []struct {
		name           string
		method         string
		body           *reqBody
		notSent, stale bool
		want           bool
	}{
		{"GET stale", "GET", nil, false, true, true},
		{"GET failed otherwise", "GET", nil, false, false, false},
		{"PUT stale whole body", "PUT", whole, false, true, true},
		{"DELETE stale", "DELETE", nil, false, true, true},
		{"POST stale", "POST", whole, false, true, false},
		{"PATCH stale", "PATCH", whole, false, true, false},
		{"POST stale no body", "POST", nil, false, true, false},
		{"POST not sent", "POST", whole, true, false, true},
		{"POST not sent stale", "POST", whole, true, true, true},
		{"POST not sent streamed, nothing read past the first flush", "POST", streamedUntouched, true, false, true},
		{"POST not sent but body read past it", "POST", streamedPartly, true, false, false},
		{"PUT stale but body read past the first flush", "PUT", streamedPartly, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := retrySafe(tc.method, tc.body, tc.notSent, tc.stale); got != tc.want {
				t.Fatalf("retrySafe = %v, want %v", got, tc.want)
			}
		})
	}
}
