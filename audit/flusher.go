package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// defaultMaxFlights bounds the fdatasyncs in flight at once. A journaling
// filesystem commits concurrent fdatasyncs of one file together (ext4's
// jbd2 waits for one transaction for all of them), so a few overlapping
// flushes carry several groups in about the time of one; more than a few
// only queue in the device.
const defaultMaxFlights = 4

// A flight is one group of records on its way to the disk: written at its
// place in the file, then made durable by an fdatasync on its own
// descriptor. Flights are completed strictly in file order.
type flight struct {
	g                 *group
	data              []byte
	recs              int
	firstSeq, lastSeq uint64
	firstAt, firstRec time.Time
	end               int64      // file offset just after data
	slot              int        // sync descriptor in use; -1 if never synced
	res               chan error // the write's or the fdatasync's outcome, sent once
}

// maxSpare bounds the flush buffer kept for reuse, so that one burst (or a
// long outage's backlog) does not pin its memory.
const maxSpare = 4 << 20

// maxInflightBytes bounds the bytes written but not yet acknowledged
// durable while any of them sit in reserved blocks. Blocks reserved with
// FALLOC_FL_KEEP_SIZE are "unwritten" extents that read as zeros until the
// filesystem converts them after their I/O; a crash can persist a larger
// size before a conversion, leaving a run of zeros in the middle of the
// unacknowledged bytes. The bound confines that to the last
// maxInflightBytes of the file, which is where Open looks (scanActive). A
// group larger than that is written with the reservation released, as a
// plain append.
const maxInflightBytes = 16 << 20

// preallocChunk is how far ahead of the end of the active file blocks are
// reserved: appends into reserved blocks allocate nothing, so the
// fdatasync after them has less metadata to commit, and a nearly full disk
// shows up here before a record depends on it.
const preallocChunk = 8 << 20

// runFlusher owns the file: it writes and fdatasyncs accepted records in
// groups, retries with backoff after a failure, and rotates.
//
// Group commit: whenever records wait and fewer than maxFlights groups are
// in flight, everything accepted so far is written as one group and an
// fdatasync for it is started. In "always" mode a writer waits for its
// group's flight; every record accepted while the earlier flights ran
// shares the next one. In "batch" mode one ticker paces the groups; it runs
// only while records wait, so an idle writer has no timer firing, and a
// full batch (BatchMax) goes at once.
//
// Durability is acknowledged in file order: a group's writers are released
// when its own fdatasync and every earlier group's have succeeded. Each
// slot has its own descriptor, opened before anything it covers was
// written: Linux reports a writeback error once per open file description
// (errseq), so two fdatasyncs sharing a descriptor could hand one group's
// error to the other; with a descriptor each, every one sees it.
func (w *Writer) runFlusher() {
	defer close(w.flusherDone)
	w.backoff = w.backoffMin
	var tick *time.Ticker
	ticking := false
	if w.batch {
		tick = time.NewTicker(w.o.BatchInterval)
		tick.Stop()
		defer tick.Stop()
	}
	var retry *time.Timer
	triedClosing := false
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	for {
		w.reap()
		failed := w.failed
		w.failed = false
		w.mu.Lock()
		n, closing, unhealthy := w.bufRecs, w.closing, w.healthErr != nil
		bufLen := int64(len(w.buf))
		inflight := w.reserved != w.seq
		w.mu.Unlock()
		if failed && triedClosing {
			// One attempt after Close is all there is; the failure drained
			// every flight, and Close reports what is left.
			return
		}
		nf := len(w.flights)
		if nf == 0 && w.shouldRotate(w.size) {
			w.rotate()
		}
		if n == 0 {
			if ticking {
				tick.Stop()
				ticking = false
			}
			switch {
			case nf > 0:
				select {
				case err := <-w.flights[0].res:
					w.complete(err)
				case <-w.kick:
				}
			case closing && !inflight:
				return
			case closing:
				// A record reserved before Close is being encoded; it
				// kicks once chained (stop is closed: do not wait on it).
				<-w.kick
			default:
				select {
				case <-w.kick:
				case <-w.stop:
				}
			}
			continue
		}
		// Wait for the oldest flight when all slots are busy, while the
		// log is failing (one attempt at a time), after a failed write
		// (its flight fails in order and everything is rewritten), before
		// a rotation (files are closed only with nothing in flight), or
		// when the bytes in flight would pass maxInflightBytes.
		if nf >= len(w.syncFiles) || nf > 0 && (unhealthy || w.needReopen || w.shouldRotate(w.written) ||
			w.written-w.size+bufLen > maxInflightBytes) {
			w.complete(<-w.flights[0].res)
			continue
		}
		switch {
		case closing:
			// Flush what is left right away.
		case unhealthy:
			if retry == nil {
				retry = time.NewTimer(w.backoff)
			} else {
				retry.Reset(w.backoff)
			}
			select {
			case <-retry.C:
			case <-w.stop:
			}
		case w.batch && n < w.o.BatchMax:
			if !ticking {
				tick.Reset(w.o.BatchInterval)
				ticking = true
			}
			var head <-chan error
			if nf > 0 {
				head = w.flights[0].res
			}
			select {
			case <-tick.C:
			case err := <-head:
				w.complete(err)
				continue
			case <-w.kick:
				continue // a full batch, or a stale kick: look again
			case <-w.stop:
				continue
			}
		}
		if !w.batch && !closing && !unhealthy {
			w.gather(n)
		}
		triedClosing = triedClosing || closing
		w.startFlight()
	}
}

// gather lets writers that are runnable add their records before a group
// is taken: those released by the flight that just completed are about to
// write their next ones, and should share this group rather than start
// the one after (which would split the writers into two alternating
// halves, each waiting for the other's fdatasync). It yields while the
// group grows, a few times at most; it never waits for time to pass, so an
// idle or single-writer log loses nothing.
func (w *Writer) gather(n int) {
	for range 4 {
		runtime.Gosched()
		w.mu.Lock()
		m := w.bufRecs
		w.mu.Unlock()
		if m == n {
			return
		}
		n = m
	}
}

// reap completes the flights that have finished, oldest first, without
// waiting.
func (w *Writer) reap() {
	for len(w.flights) > 0 {
		select {
		case err := <-w.flights[0].res:
			w.complete(err)
		default:
			return
		}
	}
}

// startFlight takes every record accepted so far as one group, writes it
// after the data already written, and starts its fdatasync.
func (w *Writer) startFlight() {
	w.mu.Lock()
	fl := &flight{
		g: w.group, data: w.buf, recs: w.bufRecs,
		firstSeq: w.bufFirstSeq, lastSeq: w.seq, firstAt: w.bufFirstAt, firstRec: w.bufFirstRec,
		slot: -1, res: make(chan error, 1),
	}
	w.buf, w.bufRecs, w.group = w.spare[:0], 0, newGroup()
	w.spare = nil
	w.mu.Unlock()

	w.flights = append(w.flights, fl)
	if err := w.writeFlight(fl); err != nil {
		fl.res <- err // completed in order, after the flights before it
		return
	}
	for i, busy := range w.slotBusy {
		if !busy {
			fl.slot = i
			break
		}
	}
	w.slotBusy[fl.slot] = true
	sf := w.syncFiles[fl.slot]
	// Owned by the flusher: it receives fl.res before it closes sf, starts
	// a rotation or returns.
	go func() { fl.res <- sf.Datasync() }()
}

// writeFlight writes fl's data at the end of what was written so far.
func (w *Writer) writeFlight(fl *flight) error {
	if err := w.ensureOpen(); err != nil {
		return err
	}
	if w.written == 0 {
		w.activeFirst, w.activeTime = fl.firstSeq, fl.firstRec
	}
	if int64(len(fl.data)) > maxInflightBytes {
		// Nothing else is in flight (the loop waited): append it
		// without reserved blocks, see maxInflightBytes.
		w.releasePrealloc()
	} else {
		w.preallocate(w.written + int64(len(fl.data)))
	}
	if _, err := w.f.WriteAt(fl.data, w.written); err != nil {
		w.needReopen = true // no further flight starts before this one fails
		return fmt.Errorf("write %s: %w", w.o.Path, err)
	}
	w.written += int64(len(fl.data))
	fl.end = w.written
	return nil
}

// ensureOpen opens the active file and the sync descriptors when needed.
// After a failure it reopens everything: a failed fsync may have dropped
// the dirty pages, so the retry rewrites the data from memory through fresh
// descriptors, after cutting the file back to its last durable byte.
func (w *Writer) ensureOpen() error {
	if w.f == nil || w.needReopen {
		_ = w.closeFiles()
		f, err := w.ops.OpenFile(w.o.Path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("open %s: %w", w.o.Path, err)
		}
		w.f = f
		if err := f.Truncate(w.size); err != nil {
			return fmt.Errorf("truncate %s: %w", w.o.Path, err)
		}
		w.written, w.alloc, w.needReopen = w.size, 0, false
	}
	for i, sf := range w.syncFiles {
		if sf != nil {
			continue
		}
		sf, err := w.ops.OpenFile(w.o.Path, os.O_RDWR, 0)
		if err != nil {
			w.needReopen = true
			return fmt.Errorf("open %s: %w", w.o.Path, err)
		}
		w.syncFiles[i] = sf
	}
	return nil
}

// closeFiles closes the active file and the sync descriptors. No flight
// may be in progress.
func (w *Writer) closeFiles() error {
	var errs []error
	for i, sf := range w.syncFiles {
		if sf != nil {
			errs = append(errs, sf.Close())
			w.syncFiles[i] = nil
		}
	}
	if w.f != nil {
		errs = append(errs, w.f.Close())
		w.f = nil
	}
	return errors.Join(errs...)
}

// complete finishes the oldest flight with its outcome. When it failed,
// every later flight has been waited for and failed with it, and w.failed
// is set for the flusher loop.
func (w *Writer) complete(err error) bool {
	fl := w.flights[0]
	if fl.slot >= 0 {
		w.slotBusy[fl.slot] = false
	}
	if err != nil {
		w.fail(err)
		return false
	}
	w.flights = append(w.flights[:0], w.flights[1:]...)
	w.size = fl.end
	w.mu.Lock()
	recovered := w.healthErr != nil
	w.healthErr = nil
	w.durableSeq = max(w.durableSeq, fl.lastSeq)
	w.mu.Unlock()
	if recovered {
		w.log.Info().Msg("audit: log writable again; held records written")
	}
	if w.fwd != nil {
		w.fwd.enqueueLines(fl.data) // copies the lines
	}
	if cap(fl.data) <= maxSpare {
		w.mu.Lock()
		if w.spare == nil {
			w.spare = fl.data[:0]
		}
		w.mu.Unlock()
	}
	w.backoff = w.backoffMin
	close(fl.g.done)
	return true
}

// fail handles the failure of the oldest flight: the later ones are waited
// for and failed too whatever their own outcome (their bytes follow the
// failed ones in the file), and all their records go back, in order, ahead
// of anything accepted meanwhile, to be rewritten once the disk works.
func (w *Writer) fail(err error) {
	for _, fl := range w.flights[1:] {
		<-fl.res
		if fl.slot >= 0 {
			w.slotBusy[fl.slot] = false
		}
	}
	var data []byte
	recs := 0
	for _, fl := range w.flights {
		data = append(data, fl.data...)
		recs += fl.recs
	}
	first := w.flights[0]
	w.mu.Lock()
	wasHealthy := w.healthErr == nil
	w.buf = append(data, w.buf...)
	w.bufRecs += recs
	w.bufFirstSeq, w.bufFirstAt, w.bufFirstRec = first.firstSeq, first.firstAt, first.firstRec
	w.healthErr = err
	w.mu.Unlock()
	if wasHealthy {
		w.log.Error().Err(err).Int("waiting", recs).Msg("audit: log not writable; holding records and retrying")
	}
	for _, fl := range w.flights {
		fl.g.err = err
		close(fl.g.done)
	}
	clear(w.flights)
	w.flights = w.flights[:0]
	w.needReopen = true
	w.written = w.size
	w.backoff = min(w.backoff*2, w.backoffMax)
	w.failed = true
}

// preallocate reserves blocks past the end of the active file when a write
// would reach end and they are not reserved yet. The reservation keeps the
// file size (readers and verification see only records) and is released
// on rotation and Close. Failing to reserve is not an error: the write
// then allocates as it goes, as it would without preallocation.
func (w *Writer) preallocate(end int64) {
	if w.noPrealloc || end <= w.alloc {
		return
	}
	target := end + preallocChunk
	if w.o.RotateSize > 0 {
		// Do not reserve much past where the file will be rotated.
		target = max(end, min(target, w.o.RotateSize+preallocChunk/8))
	}
	switch err := w.f.Preallocate(w.written, target-w.written); {
	case err == nil:
		w.alloc = target
	case errors.Is(err, errPreallocUnsupported):
		w.noPrealloc = true
	default:
		// Typically ENOSPC with less than a chunk free: the write itself
		// may still fit, and reports it if not. Try again next write.
		w.log.Debug().Err(err).Msg("audit: preallocation failed")
	}
}

// releasePrealloc gives back the blocks reserved past the last durable
// byte (truncating to the current size frees blocks past it), before the
// active file is closed or a large group is appended. Nothing may be
// written beyond the durable size.
func (w *Writer) releasePrealloc() {
	if w.f == nil || w.alloc <= w.size || w.needReopen || w.written != w.size {
		return
	}
	if err := w.f.Truncate(w.size); err != nil {
		w.log.Error().Err(err).Msg("audit: release preallocated blocks")
	}
	w.alloc = 0
}

// shouldRotate reports whether the active file, size bytes long, is due
// for rotation.
func (w *Writer) shouldRotate(size int64) bool {
	if size == 0 {
		return false
	}
	if w.o.RotateSize > 0 && size >= w.o.RotateSize {
		return true
	}
	return w.o.RotateAge > 0 && w.now().Sub(w.activeTime) >= w.o.RotateAge
}

// rotate renames the active file after its first seq and starts a new one;
// nothing may be in flight. A failed rotation is logged and the writer
// keeps appending to the active file: rotation is housekeeping, never a
// reason to lose a record.
func (w *Writer) rotate() {
	name := rotatedName(w.o.Path, w.activeFirst)
	w.releasePrealloc()
	if err := w.closeFiles(); err != nil {
		w.log.Error().Err(err).Msg("audit: close before rotation")
	}
	w.needReopen = true
	if err := w.ops.Rename(w.o.Path, name); err != nil {
		w.log.Error().Err(err).Msg("audit: rotation failed; continuing in the active file")
		return
	}
	if err := w.ops.SyncDir(filepath.Dir(w.o.Path)); err != nil {
		w.log.Error().Err(err).Msg("audit: fsync directory after rotation")
	}
	w.size, w.written, w.activeFirst, w.activeTime = 0, 0, 0, time.Time{}
	w.maintain()
}
