package audit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Fsync modes.
const (
	FsyncAlways = "always"
	FsyncBatch  = "batch"
)

// ErrClosed is returned by Write and Healthy after Close.
var ErrClosed = errors.New("audit: writer closed")

// ErrBacklogFull is returned when so many records wait for the disk that
// the writer refuses new ones rather than grow without bound. The refused
// record was not accepted: the caller must not act as if it were logged.
var ErrBacklogFull = errors.New("audit: too many records waiting for the disk")

// Options configures a Writer. Zero values take the documented defaults.
type Options struct {
	Path          string        // active file, e.g. audit.jsonl; rotated files beside it
	Fsync         string        // "always" (default) | "batch"
	BatchInterval time.Duration // group-commit window in batch mode (default 5ms)
	BatchMax      int           // records per group commit in batch mode (default 256)

	RotateSize  int64         // rotate when the active file reaches this many bytes (0 = never)
	RotateAge   time.Duration // rotate at the first write after the active file's first record is this old
	Gzip        bool          // gzip rotated files
	RetainCount int           // keep at most this many rotated files (0 = all)
	RetainAge   time.Duration // delete rotated files last written longer ago than this (0 = never)

	CheckpointEvery    int           // a signed checkpoint after this many records (0 = off)
	CheckpointInterval time.Duration // ... or after this long with unsigned records (0 = off)
	Signer             Signer        // required for checkpoints

	Forward *SyslogOptions // optional SIEM forwarding
	Logger  zerolog.Logger // operational log of the writer itself (never record contents)
	Now     func() time.Time

	// MaxBacklog bounds records held in memory waiting for the disk
	// (default 1,000,000); beyond it Write returns ErrBacklogFull.
	MaxBacklog int

	// Retry backoff after a failed write (default 20ms doubling to 1s);
	// unexported so that only tests shorten it.
	retryMin, retryMax time.Duration
	// maxFlights overrides defaultMaxFlights (tests and benchmarks).
	maxFlights int
}

// group is the set of records one flush attempt covers; their writers wait
// on done.
type group struct {
	done chan struct{}
	err  error
}

func newGroup() *group { return &group{done: make(chan struct{})} }

// Writer appends hash-chained records to the audit log. It is safe for
// concurrent use.
type Writer struct {
	o          Options
	ops        fileOps
	log        zerolog.Logger
	now        func() time.Time
	batch      bool
	backoffMin time.Duration
	backoffMax time.Duration

	mu       sync.Mutex
	reserved uint64 // last seq handed out by accept
	seq      uint64 // last seq in the chain (<= reserved)
	head     string // hash of record seq
	parked   map[uint64]*parkedRec
	// inflightDone, when set, is closed once reserved == seq (Close waits
	// on it for the records between their two locks).
	inflightDone chan struct{}
	buf          []byte // accepted records not yet durable, in order
	spare        []byte // the previous flush's buffer, reused
	bufRecs      int
	bufFirstSeq  uint64
	bufFirstAt   time.Time // when the oldest waiting record was accepted
	bufFirstRec  time.Time // its record time
	group        *group
	healthErr    error
	closing      bool
	closed       bool
	sinceCkpt    int
	durableSeq   uint64

	// Owned by the flusher goroutine.
	f           file
	size        int64  // durable length of the active file
	written     int64  // length written (>= size; the rest in flight)
	alloc       int64  // blocks reserved (preallocated) up to here
	noPrealloc  bool   // the filesystem cannot preallocate
	syncFiles   []file // one descriptor per flight slot
	slotBusy    []bool
	flights     []*flight // in file order
	backoff     time.Duration
	failed      bool // a flight failed since the flusher last looked
	activeFirst uint64
	activeTime  time.Time
	needReopen  bool

	kick        chan struct{}
	stop        chan struct{}
	flusherDone chan struct{}
	ckptKick    chan struct{}
	ckptStop    chan struct{}
	ckptDone    chan struct{}
	maintKick   chan struct{}
	maintStop   chan struct{}
	maintDone   chan struct{}
	fwd         *forwarder
	closeOnce   sync.Once
	closeErr    error
	unlock      func()
}

// Open opens (or creates) the log at o.Path, repairs a torn last line left by
// a crash, and continues the chain from the last record (looking into the
// newest rotated file when the active one is empty).
func Open(ctx context.Context, o Options) (*Writer, error) {
	return open(ctx, o, osOps{})
}

func open(ctx context.Context, o Options, ops fileOps) (*Writer, error) {
	if o.Path == "" {
		return nil, errors.New("audit: no path configured")
	}
	switch o.Fsync {
	case "":
		o.Fsync = FsyncAlways
	case FsyncAlways, FsyncBatch:
	default:
		return nil, fmt.Errorf("audit: fsync %q: want %q or %q", o.Fsync, FsyncAlways, FsyncBatch)
	}
	if o.BatchInterval <= 0 {
		o.BatchInterval = 5 * time.Millisecond
	}
	if o.BatchMax <= 0 {
		o.BatchMax = 256
	}
	if o.MaxBacklog <= 0 {
		o.MaxBacklog = 1_000_000
	}
	if o.maxFlights <= 0 {
		o.maxFlights = defaultMaxFlights
	}
	if (o.CheckpointEvery > 0 || o.CheckpointInterval > 0) && o.Signer == nil {
		return nil, errors.New("audit: checkpoints configured but no signer")
	}
	w := &Writer{
		o: o, ops: ops, log: o.Logger, now: o.Now, batch: o.Fsync == FsyncBatch,
		backoffMin: o.retryMin, backoffMax: o.retryMax,
		group: newGroup(),
		kick:  make(chan struct{}, 1), stop: make(chan struct{}), flusherDone: make(chan struct{}),
		ckptKick: make(chan struct{}, 1), ckptStop: make(chan struct{}), ckptDone: make(chan struct{}),
		maintKick: make(chan struct{}, 1), maintStop: make(chan struct{}), maintDone: make(chan struct{}),
	}
	if w.now == nil {
		w.now = time.Now
	}
	w.syncFiles, w.slotBusy = make([]file, o.maxFlights), make([]bool, o.maxFlights)
	if w.backoffMin <= 0 {
		w.backoffMin = 20 * time.Millisecond
	}
	if w.backoffMax < w.backoffMin {
		w.backoffMax = max(time.Second, w.backoffMin)
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: create log directory: %w", err)
	}
	unlock, err := lockLog(o.Path)
	if err != nil {
		return nil, err
	}
	w.unlock = unlock
	repair, err := w.recover()
	if err != nil {
		if w.f != nil {
			w.f.Close()
		}
		unlock()
		return nil, err
	}
	if o.Forward != nil {
		fwd, err := newForwarder(*o.Forward, w.log)
		if err != nil {
			w.f.Close()
			unlock()
			return nil, err
		}
		w.fwd = fwd
	}
	go w.runFlusher()
	go w.runMaintenance()
	if o.Signer != nil {
		go w.runCheckpoints()
	} else {
		close(w.ckptDone)
	}
	w.maintain()
	if repair != nil {
		if err := w.writeAndWait(ctx, repair); err != nil {
			w.Close()
			return nil, fmt.Errorf("audit: record the repair of %s: %w", o.Path, err)
		}
	}
	return w, nil
}

// recover finds the chain head and repairs a torn tail. It returns the
// config record that documents a repair, to be written once running.
func (w *Writer) recover() (*Record, error) {
	// Remove half-written gzip files from an interrupted rotation.
	if tmps, _ := filepath.Glob(globEscape(w.o.Path) + ".*.gz.tmp"); len(tmps) > 0 {
		for _, t := range tmps {
			_ = w.ops.Remove(t)
		}
	}
	f, err := w.ops.OpenFile(w.o.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", w.o.Path, err)
	}
	w.f = f
	ti, err := scanActive(f)
	if err != nil {
		return nil, fmt.Errorf("audit: read %s: %w", w.o.Path, err)
	}
	var repair *Record
	if len(ti.torn) > 0 && allZero(ti.torn) {
		// Only zero bytes after the last record: space that was reserved
		// or extended but never written (a filesystem may show an
		// unwritten, unacknowledged append as zeros after a crash). No
		// record's bytes are lost by dropping it, so there is nothing to
		// report in the chain.
		if err := f.Truncate(ti.size); err != nil {
			return nil, fmt.Errorf("audit: drop the zero-filled tail of %s: %w", w.o.Path, err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("audit: drop the zero-filled tail of %s: %w", w.o.Path, err)
		}
		w.log.Info().Str("file", w.o.Path).Int("bytes", len(ti.torn)).Msg("audit: dropped a zero-filled tail")
	} else if len(ti.torn) > 0 {
		if err := f.Truncate(ti.size); err != nil {
			return nil, fmt.Errorf("audit: repair torn tail of %s: %w", w.o.Path, err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("audit: repair torn tail of %s: %w", w.o.Path, err)
		}
		sum := sha256.Sum256(ti.torn)
		repair = &Record{Kind: KindConfig, Detail: map[string]string{
			"event":           "audit_repair",
			"reason":          "torn last record (unclean shutdown); truncated to the last whole record",
			"file":            filepath.Base(w.o.Path),
			"truncated_bytes": strconv.Itoa(len(ti.torn)),
			"truncated_at":    strconv.FormatInt(ti.size, 10),
			"torn_sha256":     hex.EncodeToString(sum[:]),
		}}
		w.log.Warn().Str("file", w.o.Path).Int("bytes", len(ti.torn)).Msg("audit: repaired torn tail")
	}
	w.size, w.written = ti.size, ti.size
	if ti.last != nil {
		w.seq, w.head = ti.last.Seq, ti.last.Hash
		w.activeFirst, w.activeTime = ti.firstSeq, ti.firstTime
	} else {
		rot, err := listRotated(w.o.Path)
		if err != nil {
			return nil, err
		}
		if len(rot) > 0 {
			last := rot[len(rot)-1].name
			rec, err := lastRecordOf(last)
			if err != nil {
				return nil, fmt.Errorf("audit: continue the chain from %s: %w", last, err)
			}
			if rec != nil {
				w.seq, w.head = rec.Seq, rec.Hash
			}
		}
	}
	w.durableSeq, w.reserved = w.seq, w.seq
	return repair, nil
}

type activeTail struct {
	size      int64  // length without the torn tail
	torn      []byte // bytes after the last newline
	last      *Record
	firstSeq  uint64
	firstTime time.Time
}

// scanActive reads the first and last whole records of the active file and
// whatever follows the last newline.
func scanActive(f file) (activeTail, error) {
	var t activeTail
	st, err := f.Stat()
	if err != nil {
		return t, err
	}
	size := st.Size()
	if size == 0 {
		return t, nil
	}
	// Bytes after a zero byte are not trusted: a canonical record never
	// holds one, and a crash can leave reserved blocks that were never
	// converted as a run of zeros, even before later (unacknowledged)
	// records; see maxInflightBytes for why the last maxInflightBytes are
	// enough to look at. The line the first zero is in is cut with all
	// that follows.
	end, err := firstZero(f, max(0, size-maxInflightBytes), size)
	if err != nil {
		return t, err
	}
	if end < 0 {
		end = size
	}
	nl, err := lastByte(f, end, '\n')
	if err != nil {
		return t, err
	}
	t.size = nl + 1
	if t.size < size {
		t.torn = make([]byte, size-t.size)
		if _, err := f.ReadAt(t.torn, t.size); err != nil && err != io.EOF {
			return t, err
		}
	}
	if t.size == 0 {
		return t, nil
	}
	start, err := lastByte(f, t.size-1, '\n')
	if err != nil {
		return t, err
	}
	line := make([]byte, t.size-1-(start+1))
	if _, err := f.ReadAt(line, start+1); err != nil && err != io.EOF {
		return t, err
	}
	last, err := parseChecked(line)
	if err != nil {
		return t, fmt.Errorf("last record (at byte %d) is damaged, refusing to continue the chain (run `syncgate audit verify`): %w", start+1, err)
	}
	t.last = last
	first := last
	if start >= 0 {
		br := bufio.NewReader(io.NewSectionReader(f, 0, t.size))
		fl, err := br.ReadBytes('\n')
		if err != nil {
			return t, err
		}
		if first, err = parseChecked(bytes.TrimSuffix(fl, []byte("\n"))); err != nil {
			return t, fmt.Errorf("first record is damaged: %w", err)
		}
	}
	t.firstSeq, t.firstTime = first.Seq, first.Time
	return t, nil
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// firstZero returns the offset of the first zero byte in f[from:to), or -1.
func firstZero(f file, from, to int64) (int64, error) {
	const block = 1 << 20
	buf := make([]byte, min(block, to-from))
	for off := from; off < to; {
		b := buf[:min(int64(len(buf)), to-off)]
		if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.IndexByte(b, 0); i >= 0 {
			return off + int64(i), nil
		}
		off += int64(len(b))
	}
	return -1, nil
}

// lastByte returns the offset of the last c in f[0:end), or -1.
func lastByte(f file, end int64, c byte) (int64, error) {
	const block = 64 << 10
	buf := make([]byte, block)
	for end > 0 {
		n := int64(block)
		if end < n {
			n = end
		}
		b := buf[:n]
		if _, err := f.ReadAt(b, end-n); err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, c); i >= 0 {
			return end - n + int64(i), nil
		}
		end -= n
	}
	return -1, nil
}

// parseChecked parses one line (no newline) and checks its own hash.
func parseChecked(line []byte) (*Record, error) {
	body, h, err := splitHash(line)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != h {
		return nil, errors.New("hash does not match the record")
	}
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return &r, nil
}

// lastRecordOf reads a (possibly gzipped) closed log file to its last record.
func lastRecordOf(name string) (*Record, error) {
	rc, err := openLog(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	lr := newLineReader(rc)
	var last []byte
	for {
		l, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		last = append(last[:0], l...)
	}
	if len(last) == 0 {
		return nil, nil
	}
	if last[len(last)-1] != '\n' {
		return nil, errors.New("rotated file ends in a torn record")
	}
	return parseChecked(last[:len(last)-1])
}

// Write appends r to the log. It fills Seq, Prev and Hash (and Time and ID
// when empty). In "always" mode it returns after the fsync that covers r
// (concurrent writers share one fsync); in "batch" mode once r is accepted.
//
// A non-nil error means r is not durable. Unless the error is ErrClosed,
// ErrBacklogFull or an encoding error, r has been accepted and is kept in
// order in memory; the writer retries in the background and writes it
// before any later record once the disk works again.
func (w *Writer) Write(ctx context.Context, r *Record) error {
	if r == nil {
		return errors.New("audit: nil record")
	}
	if r.Kind == "" {
		return errors.New("audit: record has no kind")
	}
	if r.Kind == KindCheckpoint {
		return errors.New("audit: checkpoint records are written by the writer only")
	}
	return w.write(ctx, r)
}

func (w *Writer) write(ctx context.Context, r *Record) error {
	g, seq, herr, err := w.accept(r)
	if err != nil {
		return err
	}
	if herr != nil {
		return fmt.Errorf("audit: record seq %d not durable yet (kept in memory, written when the log is writable again): %w", seq, herr)
	}
	if w.batch {
		return nil
	}
	return w.wait(ctx, g, seq)
}

// writeAndWait writes r and waits for durability in either mode.
func (w *Writer) writeAndWait(ctx context.Context, r *Record) error {
	g, seq, herr, err := w.accept(r)
	if err != nil {
		return err
	}
	if herr != nil {
		return fmt.Errorf("audit: record seq %d not durable yet: %w", seq, herr)
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return w.wait(ctx, g, seq)
}

func (w *Writer) wait(ctx context.Context, g *group, seq uint64) error {
	select {
	case <-g.done:
		if g.err != nil {
			return fmt.Errorf("audit: record seq %d not durable yet (kept in memory, written when the log is writable again): %w", seq, g.err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: record seq %d accepted but not yet confirmed durable: %w", seq, ctx.Err())
	}
}

// parkedRec is a record that reached the chain before an earlier
// reservation did; whoever chains that earlier record chains this one too,
// in seq order, and closes done.
type parkedRec struct {
	st   *lineState
	r    *Record
	now  time.Time
	res  chained
	done chan struct{}
}

// chained is what accept reports about a record once it is in the chain.
type chained struct {
	g              *group
	herr           error
	kick, kickCkpt bool
}

func (w *Writer) accept(r *Record) (g *group, seq uint64, herr, err error) {
	// The lock is taken twice, briefly: once to reserve the record's seq
	// (or refuse it), once to put it in the chain. Between the two, with
	// the seq known, the whole line up to prev is assembled and hashed: only
	// prev, one final SHA-256 block and the copy into the buffer remain for
	// the lock. Records are chained strictly in seq order: one that gets
	// there before its predecessor is parked and chained by whoever chains
	// the predecessor.
	now := w.now()
	if r.Time.IsZero() {
		r.Time = now
	}
	r.Time = r.Time.UTC()
	if r.ID == "" {
		r.ID = newID()
	}
	st := getLineState()
	st.prepare(r)

	w.mu.Lock()
	if w.closed || w.closing {
		w.mu.Unlock()
		putLineState(st)
		return nil, 0, nil, ErrClosed
	}
	if w.bufRecs+int(w.reserved-w.seq) >= w.o.MaxBacklog {
		herr := w.healthErr
		w.mu.Unlock()
		putLineState(st)
		if herr != nil {
			return nil, 0, nil, fmt.Errorf("%w: %w", ErrBacklogFull, herr)
		}
		return nil, 0, nil, ErrBacklogFull
	}
	// From here on the record must reach the chain: a reserved seq that
	// never did would stall every later record (and Close). So the record
	// was encoded before (prepare); what is left cannot fail.
	w.reserved++
	seq = w.reserved
	w.mu.Unlock()

	st.number(seq)

	var res chained
	w.mu.Lock()
	if seq != w.seq+1 {
		p := &parkedRec{st: st, r: r, now: now, done: make(chan struct{})}
		if w.parked == nil {
			w.parked = make(map[uint64]*parkedRec)
		}
		w.parked[seq] = p
		w.mu.Unlock()
		// The predecessor is between its two locks, encoding: never
		// blocked on anything but this mutex, so this wait is short.
		<-p.done
		putLineState(st)
		res = p.res
	} else {
		res = w.chain(st, r, now)
		putLineState(st)
		for {
			p := w.parked[w.seq+1]
			if p == nil {
				break
			}
			delete(w.parked, w.seq+1)
			p.res = w.chain(p.st, p.r, p.now)
			res.kick = res.kick || p.res.kick
			res.kickCkpt = res.kickCkpt || p.res.kickCkpt
			close(p.done)
		}
		if w.inflightDone != nil && w.reserved == w.seq {
			close(w.inflightDone)
			w.inflightDone = nil
		}
		w.mu.Unlock()
		if res.kick {
			select {
			case w.kick <- struct{}{}:
			default:
			}
		}
		if res.kickCkpt {
			select {
			case w.ckptKick <- struct{}{}:
			default:
			}
		}
	}
	return res.g, seq, res.herr, nil
}

// chain appends the record whose line st holds to the buffer, as the next
// in the chain. Called with w.mu held, for seq w.seq+1 only.
func (w *Writer) chain(st *lineState, r *Record, now time.Time) chained {
	r.Seq, r.Prev = w.seq+1, w.head
	w.buf = st.appendChained(w.buf, r, r.Prev)
	w.seq, w.head = r.Seq, r.Hash
	if w.bufRecs == 0 {
		w.bufFirstSeq, w.bufFirstAt, w.bufFirstRec = r.Seq, now, r.Time
	}
	w.bufRecs++
	c := chained{g: w.group, herr: w.healthErr}
	if r.Kind != KindCheckpoint {
		w.sinceCkpt++
		c.kickCkpt = w.o.CheckpointEvery > 0 && w.sinceCkpt >= w.o.CheckpointEvery
	}
	// In batch mode the flusher paces itself with its ticker; wake it only
	// when a batch starts or fills, not for every record.
	c.kick = !w.batch || w.bufRecs == 1 || w.bufRecs >= w.o.BatchMax
	return c
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// Healthy returns nil when the log is writable, or the reason it is not
// (records are then held in memory and retried). The gateway calls it
// before forwarding and from /healthz.
func (w *Writer) Healthy() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.closing {
		return ErrClosed
	}
	if w.healthErr != nil {
		return fmt.Errorf("audit log not writable (%d records waiting): %w", w.bufRecs, w.healthErr)
	}
	return nil
}

// Head returns the seq and hash of the last record accepted.
func (w *Writer) Head() (uint64, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq, w.head
}

func (w *Writer) maintain() {
	select {
	case w.maintKick <- struct{}{}:
	default:
	}
}

// runMaintenance gzips rotated files and applies retention, off the write
// path.
func (w *Writer) runMaintenance() {
	defer close(w.maintDone)
	for {
		select {
		case <-w.maintStop:
			return
		case <-w.maintKick:
		}
		if err := w.maintainOnce(); err != nil {
			w.log.Error().Err(err).Msg("audit: rotation housekeeping")
		}
	}
}

func (w *Writer) maintainOnce() error {
	rot, err := listRotated(w.o.Path)
	if err != nil {
		return err
	}
	var errs []error
	if w.o.Gzip {
		for i, r := range rot {
			if r.gz {
				continue
			}
			gzName, err := w.gzipFile(r.name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rot[i] = rotatedFile{name: gzName, seq: r.seq, gz: true}
		}
	}
	keep := rot
	if w.o.RetainCount > 0 && len(keep) > w.o.RetainCount {
		for _, r := range keep[:len(keep)-w.o.RetainCount] {
			errs = append(errs, w.removeRotated(r.name, "count"))
		}
		keep = keep[len(keep)-w.o.RetainCount:]
	}
	if w.o.RetainAge > 0 {
		cutoff := w.now().Add(-w.o.RetainAge)
		for _, r := range keep {
			st, err := os.Stat(r.name)
			if err == nil && st.ModTime().Before(cutoff) {
				errs = append(errs, w.removeRotated(r.name, "age"))
			}
		}
	}
	return errors.Join(errs...)
}

func (w *Writer) removeRotated(name, why string) error {
	if err := w.ops.Remove(name); err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	w.log.Info().Str("file", name).Str("by", why).Msg("audit: retention removed rotated file")
	return nil
}

func (w *Writer) gzipFile(name string) (string, error) {
	gzName := name + ".gz"
	tmp := gzName + ".tmp"
	err := func() error {
		in, err := os.Open(name)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := w.ops.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		ow := &offsetWriter{f: out}
		zw := gzip.NewWriter(ow)
		_, err = io.Copy(zw, in)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	}()
	if err == nil {
		err = w.ops.Rename(tmp, gzName)
	}
	if err != nil {
		_ = w.ops.Remove(tmp)
		return "", fmt.Errorf("gzip %s: %w", name, err)
	}
	_ = w.ops.SyncDir(filepath.Dir(name))
	if err := w.ops.Remove(name); err != nil {
		return gzName, fmt.Errorf("remove %s after gzip: %w", name, err)
	}
	return gzName, nil
}

type offsetWriter struct {
	f   file
	off int64
}

func (o *offsetWriter) Write(p []byte) (int, error) {
	n, err := o.f.WriteAt(p, o.off)
	o.off += int64(n)
	return n, err
}

// runCheckpoints signs the chain head every CheckpointEvery records or
// CheckpointInterval.
func (w *Writer) runCheckpoints() {
	defer close(w.ckptDone)
	var tick <-chan time.Time
	if w.o.CheckpointInterval > 0 {
		t := time.NewTicker(w.o.CheckpointInterval)
		defer t.Stop()
		tick = t.C
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-w.ckptStop
		cancel()
	}()
	for {
		select {
		case <-w.ckptStop:
			return
		case <-w.ckptKick:
		case <-tick:
		}
		if err := w.checkpoint(ctx); err != nil {
			w.log.Error().Err(err).Msg("audit: checkpoint")
		}
	}
}

// checkpoint signs the current head and appends a checkpoint record. The
// signature is made outside the lock (a Vault round trip must not stall
// writers), so the checkpoint may land a few records after the head it
// covers; Detail.count names that record.
func (w *Writer) checkpoint(ctx context.Context) error {
	w.mu.Lock()
	if w.sinceCkpt == 0 || w.seq == 0 {
		w.mu.Unlock()
		return nil
	}
	count, head, n := w.seq, w.head, w.sinceCkpt
	w.sinceCkpt = 0
	w.mu.Unlock()
	cad := Cadence{Every: uint64(max(w.o.CheckpointEvery, 0)), Interval: max(w.o.CheckpointInterval, 0)}
	sig, err := w.o.Signer.Sign(ctx, CheckpointMessageV2(count, head, cad))
	if err != nil {
		w.mu.Lock()
		w.sinceCkpt += n
		w.mu.Unlock()
		return fmt.Errorf("sign checkpoint at seq %d: %w", count, err)
	}
	rec := &Record{Kind: KindCheckpoint, Detail: map[string]string{
		"count":  strconv.FormatUint(count, 10),
		"head":   head,
		"alg":    w.o.Signer.Algorithm(),
		"key_id": w.o.Signer.KeyID(),
		"sig":    base64.StdEncoding.EncodeToString(sig),
		// The cadence, signed with the head: a verifier's default bound on
		// the unsigned tail.
		"v":           "2",
		"every":       strconv.FormatUint(cad.Every, 10),
		"interval_ms": strconv.FormatInt(cad.Interval.Milliseconds(), 10),
	}}
	return w.write(ctx, rec)
}

// waitInflight returns once every reserved seq is in the chain. Only Close
// calls it, after closing stopped new reservations.
func (w *Writer) waitInflight() {
	w.mu.Lock()
	for w.reserved != w.seq {
		if w.inflightDone == nil {
			w.inflightDone = make(chan struct{})
		}
		ch := w.inflightDone
		w.mu.Unlock()
		<-ch
		w.mu.Lock()
	}
	w.mu.Unlock()
}

// Close writes a final checkpoint (when signing), flushes what it can and
// stops the writer's goroutines. A non-nil error means records were not
// written.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() {
		var errs []error
		close(w.ckptStop)
		<-w.ckptDone
		if w.o.Signer != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := w.checkpoint(ctx); err != nil {
				errs = append(errs, fmt.Errorf("audit: final checkpoint: %w", err))
			}
			cancel()
		}
		w.mu.Lock()
		w.closing = true
		w.mu.Unlock()
		close(w.stop)
		<-w.flusherDone
		// The flusher stops early if its last flush fails; records still
		// between their two locks must be in the chain before the final
		// count below.
		w.waitInflight()
		close(w.maintStop)
		<-w.maintDone
		// Finish the housekeeping a last rotation asked for, so a closed
		// log is fully gzipped and trimmed.
		if err := w.maintainOnce(); err != nil {
			w.log.Error().Err(err).Msg("audit: rotation housekeeping")
		}
		if w.fwd != nil {
			w.fwd.close()
		}
		w.releasePrealloc()
		if err := w.closeFiles(); err != nil {
			errs = append(errs, fmt.Errorf("audit: close: %w", err))
		}
		w.unlock()
		w.mu.Lock()
		w.closed = true
		if w.bufRecs > 0 {
			err := fmt.Errorf("audit: %d records (seq %d..%d) could not be written: %w", w.bufRecs, w.bufFirstSeq, w.seq, w.healthErr)
			errs = append(errs, err)
			w.group.err = err
		}
		close(w.group.done)
		w.mu.Unlock()
		w.closeErr = errors.Join(errs...)
	})
	return w.closeErr
}
