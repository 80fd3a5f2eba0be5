package audit

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// SyslogOptions configures forwarding of each durable record to a SIEM as
// RFC 5424 syslog over TCP with TLS (RFC 5425), octet-counted framing
// (RFC 6587 §3.4.1). The message is the record's JSON line.
type SyslogOptions struct {
	Address string      // host:port of the collector
	TLS     *tls.Config // required unless Insecure is set
	// Insecure allows plain TCP, for a collector on loopback only.
	Insecure    bool
	QueueSize   int    // records buffered while the collector is slow or away (default 10000)
	Hostname    string // HOSTNAME field (default os.Hostname)
	AppName     string // APP-NAME field (default "syncgate")
	Facility    int    // default 13 (log audit)
	DialTimeout time.Duration
}

// ForwardStats counts forwarded and dropped records.
type ForwardStats struct {
	Sent, Dropped uint64
	Queued        int
}

// forwarder sends lines to a syslog collector from a bounded queue. It never
// blocks the writer: when the queue is full the oldest line is dropped and
// counted, and the local log (the record of truth) is unaffected.
type forwarder struct {
	o   SyslogOptions
	log zerolog.Logger

	mu     sync.Mutex
	cond   *sync.Cond
	q      [][]byte
	head   int
	n      int
	closed bool

	sent, dropped atomic.Uint64
	ctx           context.Context
	cancel        context.CancelFunc
	done          chan struct{}
}

func newForwarder(o SyslogOptions, log zerolog.Logger) (*forwarder, error) {
	if o.Address == "" {
		return nil, errors.New("audit: syslog forwarding: no address")
	}
	if o.TLS == nil && !o.Insecure {
		return nil, errors.New("audit: syslog forwarding: TLS configuration required")
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
		if o.Hostname == "" {
			o.Hostname = "-"
		}
	}
	if o.AppName == "" {
		o.AppName = "syncgate"
	}
	if o.Facility == 0 {
		o.Facility = 13
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	f := &forwarder{o: o, log: log, q: make([][]byte, o.QueueSize), done: make(chan struct{})}
	f.cond = sync.NewCond(&f.mu)
	f.ctx, f.cancel = context.WithCancel(context.Background())
	go f.run()
	return f, nil
}

// enqueueLines queues each newline-terminated line of data.
func (f *forwarder) enqueueLines(data []byte) {
	f.mu.Lock()
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			i = len(data)
		}
		if i > 0 {
			f.push(bytes.Clone(data[:i]))
		}
		data = data[min(i+1, len(data)):]
	}
	f.mu.Unlock()
	f.cond.Signal()
}

func (f *forwarder) push(line []byte) {
	if f.n == len(f.q) {
		f.q[f.head] = nil
		f.head = (f.head + 1) % len(f.q)
		f.n--
		f.dropped.Add(1)
	}
	f.q[(f.head+f.n)%len(f.q)] = line
	f.n++
}

func (f *forwarder) stats() ForwardStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return ForwardStats{Sent: f.sent.Load(), Dropped: f.dropped.Load(), Queued: f.n}
}

func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cancel()
	f.cond.Broadcast()
	<-f.done
}

// frame builds one octet-counted RFC 5424 message.
func (f *forwarder) frame(line []byte) []byte {
	pri := f.o.Facility*8 + 6 // informational
	msg := fmt.Appendf(nil, "<%d>1 %s %s %s %d audit - ", pri,
		time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"), f.o.Hostname, f.o.AppName, os.Getpid())
	msg = append(msg, line...)
	out := strconv.AppendInt(nil, int64(len(msg)), 10)
	out = append(out, ' ')
	return append(out, msg...)
}

func (f *forwarder) run() {
	defer close(f.done)
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	backoff := 100 * time.Millisecond
	for {
		f.mu.Lock()
		for f.n == 0 && !f.closed {
			f.cond.Wait()
		}
		if f.closed {
			f.mu.Unlock()
			return
		}
		line := f.q[f.head]
		f.mu.Unlock()

		if conn == nil {
			c, err := f.dial()
			if err != nil {
				f.log.Warn().Err(err).Str("address", f.o.Address).Msg("audit: syslog collector unreachable; queueing")
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-f.ctx.Done():
				}
				t.Stop()
				backoff = min(backoff*2, 10*time.Second)
				continue
			}
			conn, backoff = c, 100*time.Millisecond
		}
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(f.frame(line)); err != nil {
			f.log.Warn().Err(err).Msg("audit: syslog write failed; reconnecting")
			conn.Close()
			conn = nil
			continue // the line stays at the head of the queue
		}
		f.sent.Add(1)
		f.mu.Lock()
		// Drop-oldest may have moved the head while we wrote; only pop
		// the line if it is still the one we sent.
		if f.n > 0 && &f.q[f.head][0] == &line[0] {
			f.q[f.head] = nil
			f.head = (f.head + 1) % len(f.q)
			f.n--
		}
		f.mu.Unlock()
	}
}

func (f *forwarder) dial() (net.Conn, error) {
	d := &net.Dialer{Timeout: f.o.DialTimeout}
	if f.o.TLS == nil {
		return d.DialContext(f.ctx, "tcp", f.o.Address)
	}
	td := &tls.Dialer{NetDialer: d, Config: f.o.TLS}
	return td.DialContext(f.ctx, "tcp", f.o.Address)
}

// ForwardStats reports SIEM forwarding counters (zero when not forwarding).
func (w *Writer) ForwardStats() ForwardStats {
	if w.fwd == nil {
		return ForwardStats{}
	}
	return w.fwd.stats()
}
