package audit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// VerifyOptions tunes Verify.
type VerifyOptions struct {
	// Verifier checks checkpoint signatures. Without it checkpoints are
	// only checked for consistency with the chain, which someone who
	// rewrites the whole chain can fake.
	Verifier Verifier
	// AllowPartial accepts a chain that starts after seq 1, as it does
	// once retention has deleted the oldest files. Otherwise the first
	// record must be seq 1 with an empty prev.
	AllowPartial bool
	// MaxUnsigned, with a Verifier, fails the log when more than this many
	// records follow the last valid checkpoint or separate two checkpoints.
	// It catches checkpoints removed together with a rewritten stretch of
	// the chain. 0 bounds the tail after the last valid checkpoint by the
	// cadence that checkpoint records (signed): twice its record count,
	// and twice its interval measured on the records' times (signing is
	// asynchronous, so an honest log may run somewhat past one cadence);
	// stretches between checkpoints are covered by the later checkpoint.
	// Checkpoints from before cadences were recorded give no default bound.
	MaxUnsigned uint64
	// NoUnsignedLimit turns every unsigned-stretch bound off.
	NoUnsignedLimit bool
}

// Problem is the first broken record Verify found.
type Problem struct {
	File   string `json:"file"`
	Line   int64  `json:"line"` // 1-based line in File
	Seq    uint64 `json:"seq"`  // the first seq that cannot be vouched for
	Reason string `json:"reason"`
}

func (p *Problem) String() string {
	return fmt.Sprintf("seq %d (%s line %d): %s", p.Seq, p.File, p.Line, p.Reason)
}

// VerifyResult summarises a verification.
type VerifyResult struct {
	Intact      bool     `json:"intact"`
	Files       []string `json:"files"`
	Records     uint64   `json:"records"`
	FirstSeq    uint64   `json:"first_seq"`
	LastSeq     uint64   `json:"last_seq"`
	Head        string   `json:"head"`
	Checkpoints int      `json:"checkpoints"`
	// SignedThrough is the highest seq covered by a checkpoint whose
	// signature verified (0 without a Verifier).
	SignedThrough uint64 `json:"signed_through"`
	Unsigned      uint64 `json:"unsigned"` // records after SignedThrough
	// UnsignedLimit describes the bound applied to unsigned stretches
	// ("" when none applied).
	UnsignedLimit string   `json:"unsigned_limit,omitempty"`
	Problem       *Problem `json:"problem,omitempty"`
}

// verifyRec is the part of a record Verify needs.
type verifyRec struct {
	Time   time.Time         `json:"time"`
	Seq    uint64            `json:"seq"`
	Kind   string            `json:"kind"`
	Prev   string            `json:"prev"`
	Detail map[string]string `json:"detail"`
}

// ringSize bounds how far back a checkpoint may point: the writer signs
// asynchronously, so its checkpoint follows the head it covers by the
// records written during one signature.
const ringSize = 1 << 12

type hashRing struct {
	seq  [ringSize]uint64
	hash [ringSize][32]byte
	time [ringSize]time.Time
}

// Verify checks the hash chain across files in the order given (use Files
// or ExpandFiles to build that order): every line's hash, the prev link to
// the previous record (across file boundaries), consecutive seqs, a torn or
// truncated tail, and checkpoints. It stops at the first problem, reported
// in the result; the error is for files that cannot be opened at all.
//
// Hashing and JSON parsing run on all cores; the chain is then checked in
// order.
func Verify(ctx context.Context, files []string, o VerifyOptions) (*VerifyResult, error) {
	res := &VerifyResult{Files: files}
	v := &verifier{o: o, res: res, ring: new(hashRing)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	workers := max(1, runtime.GOMAXPROCS(0))
	work := make(chan *vbatch, 2*workers)
	ordered := make(chan *vbatch, 4*workers)
	go readBatches(ctx, files, work, ordered)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				for i := range b.lines {
					b.lines[i].parse(b.raw(i))
				}
				close(b.done)
			}
		}()
	}
	defer wg.Wait()
	defer cancel() // runs before wg.Wait: stops the reader, so work closes

	var err error
	stopped := false
	for b := range ordered {
		if stopped {
			continue // drain until the reader sees the cancellation
		}
		select {
		case <-b.done:
		case <-ctx.Done():
		}
		if cerr := ctx.Err(); cerr != nil {
			err, stopped = cerr, true
			continue
		}
		for i := range b.lines {
			pl := &b.lines[i]
			if pl.openErr != nil {
				err, stopped = pl.openErr, true
				break
			}
			if !v.check(pl) {
				stopped = true
				break
			}
		}
		if stopped {
			cancel()
		}
	}
	if err != nil {
		return res, err
	}
	if res.Problem == nil {
		v.finish()
	}
	return res, nil
}

// A vbatch is a run of consecutive lines, parsed by a worker and checked
// in order.
type vbatch struct {
	buf   []byte
	ends  []int
	lines []parsedLine
	done  chan struct{}
}

func (b *vbatch) raw(i int) []byte {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.buf[start:b.ends[i]]
}

const batchLines = 512

func readBatches(ctx context.Context, files []string, work, ordered chan<- *vbatch) {
	defer close(work)
	defer close(ordered)
	b := &vbatch{done: make(chan struct{})}
	send := func() bool {
		if len(b.lines) == 0 {
			return true
		}
		select {
		case ordered <- b:
		case <-ctx.Done():
			return false
		}
		select {
		case work <- b:
		case <-ctx.Done():
			return false
		}
		b = &vbatch{done: make(chan struct{})}
		return true
	}
	add := func(pl parsedLine, raw []byte) bool {
		b.buf = append(b.buf, raw...)
		b.ends = append(b.ends, len(b.buf))
		b.lines = append(b.lines, pl)
		if len(b.lines) >= batchLines {
			return send()
		}
		return true
	}
	for i, name := range files {
		last := i == len(files)-1
		rc, err := openLog(name)
		if err != nil {
			add(parsedLine{openErr: err}, nil)
			send()
			return
		}
		lr := newLineReader(rc)
		var n int64
		for {
			line, err := lr.next()
			if err == io.EOF {
				break
			}
			n++
			pl := parsedLine{file: name, line: n, lastFile: last}
			if err != nil {
				pl.readErr = err
				add(pl, nil)
				break
			}
			if !add(pl, line) {
				rc.Close()
				return
			}
		}
		rc.Close()
	}
	send()
}

// parsedLine is one line after the parallel stage.
type parsedLine struct {
	file     string
	line     int64
	lastFile bool
	openErr  error
	readErr  error
	tornLen  int  // > 0: the line has no newline
	zeroTail bool // ... and holds only zero bytes
	splitErr error
	jsonErr  error
	rec      verifyRec
	hash     string
	sum      [32]byte
	hashOK   bool
}

func (pl *parsedLine) parse(raw []byte) {
	if pl.openErr != nil || pl.readErr != nil {
		return
	}
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		pl.tornLen = len(raw)
		pl.zeroTail = allZero(raw)
		return
	}
	line := raw[:len(raw)-1]
	body, h, err := splitHash(line)
	if err != nil {
		pl.splitErr = err
		return
	}
	if err := json.Unmarshal(line, &pl.rec); err != nil {
		pl.jsonErr = err
		return
	}
	pl.hash = h
	pl.sum = sha256.Sum256(body)
	pl.hashOK = hex.EncodeToString(pl.sum[:]) == h
}

type verifier struct {
	o        VerifyOptions
	res      *VerifyResult
	ring     *hashRing
	lastSeq  uint64
	lastHash string
	started  bool
	lastCkpt uint64 // count of the last checkpoint
	// unsignedSince is the time of the first record not yet covered by a
	// signed checkpoint; lastTime the time of the last record.
	unsignedSince, lastTime time.Time
	cadence                 Cadence // of the last signed checkpoint
	hasCadence              bool
	file_                   string
	line                    int64
}

func (v *verifier) fail(seq uint64, format string, args ...any) {
	v.res.Problem = &Problem{File: v.file_, Line: v.line, Seq: seq, Reason: fmt.Sprintf(format, args...)}
}

// check applies the sequential checks to one parsed line; false stops.
func (v *verifier) check(pl *parsedLine) bool {
	v.file_, v.line = pl.file, pl.line
	expect := v.lastSeq + 1
	switch {
	case pl.readErr != nil:
		v.fail(expect, "file cannot be read past this point (truncated or corrupt): %v", pl.readErr)
		return false
	case pl.zeroTail && pl.lastFile:
		// Zero bytes after the last record of the active file: space
		// reserved or extended but never written (a crash can leave it,
		// and the writer drops it when it opens the log). It holds no
		// record, so there is nothing to vouch for.
		return true
	case pl.tornLen > 0 && pl.lastFile:
		v.fail(expect, "truncated tail: the last record is incomplete (%d bytes, no newline)", pl.tornLen)
		return false
	case pl.tornLen > 0:
		v.fail(expect, "file ends in an incomplete record (%d bytes, no newline) before the next file", pl.tornLen)
		return false
	case pl.splitErr != nil:
		v.fail(expect, "%v", pl.splitErr)
		return false
	case pl.jsonErr != nil:
		v.fail(expect, "record is not valid JSON: %v", pl.jsonErr)
		return false
	}
	r, h, sum := &pl.rec, pl.hash, pl.sum
	if !pl.hashOK {
		at := r.Seq
		if v.started {
			at = expect // the seq field itself may be what changed
		}
		v.fail(at, "hash mismatch: the record was changed after it was written")
		return false
	}
	switch {
	case !v.started && r.Seq == 1:
		if r.Prev != "" {
			v.fail(1, "first record (seq 1) has a non-empty prev")
			return false
		}
	case !v.started:
		if !v.o.AllowPartial {
			v.fail(r.Seq, "chain starts at seq %d, not 1: earlier records are missing (use --allow-partial when retention removed them)", r.Seq)
			return false
		}
	case r.Seq != expect:
		bad := min(r.Seq, expect)
		switch {
		case r.Seq > expect:
			v.fail(bad, "found seq %d where %d was expected: record(s) removed or reordered", r.Seq, expect)
		default:
			v.fail(bad, "found seq %d again after seq %d: a record was inserted, duplicated or reordered", r.Seq, v.lastSeq)
		}
		return false
	case r.Prev != v.lastHash:
		v.fail(r.Seq, "prev does not match the hash of seq %d: a record was replaced or inserted", v.lastSeq)
		return false
	}
	if !v.started {
		v.started = true
		v.res.FirstSeq = r.Seq
		v.unsignedSince = r.Time
	}
	v.lastTime = r.Time
	v.lastSeq, v.lastHash = r.Seq, h
	slot := r.Seq % ringSize
	v.ring.seq[slot] = r.Seq
	v.ring.hash[slot] = sum
	v.ring.time[slot] = r.Time
	v.res.Records++
	v.res.LastSeq, v.res.Head = r.Seq, h
	if r.Kind == KindCheckpoint {
		return v.checkpoint(r)
	}
	return true
}

func (v *verifier) checkpoint(r *verifyRec) bool {
	d := r.Detail
	count, err := strconv.ParseUint(d["count"], 10, 64)
	if err != nil || count == 0 || count >= r.Seq {
		v.fail(r.Seq, "checkpoint has an invalid count %q", d["count"])
		return false
	}
	if count <= v.lastCkpt {
		v.fail(r.Seq, "checkpoint count %d does not advance past the previous checkpoint (%d)", count, v.lastCkpt)
		return false
	}
	slot := count % ringSize
	if v.ring.seq[slot] != count {
		if v.o.AllowPartial && count < v.res.FirstSeq {
			// Covers records retention removed; its signature still
			// binds the head, but we cannot tie it to a record we hold.
			v.res.Checkpoints++
			return true
		}
		v.fail(r.Seq, "checkpoint covers seq %d, which is not among the last %d records", count, ringSize)
		return false
	}
	if hex.EncodeToString(v.ring.hash[slot][:]) != d["head"] {
		v.fail(r.Seq, "checkpoint head does not match the hash of seq %d: the chain was rewritten", count)
		return false
	}
	if v.o.Verifier != nil {
		sig, err := base64.StdEncoding.DecodeString(d["sig"])
		if err != nil {
			v.fail(r.Seq, "checkpoint signature is not base64")
			return false
		}
		msg := CheckpointMessage(count, d["head"])
		cad, hasCad, err := checkpointCadence(d)
		if err != nil {
			v.fail(r.Seq, "checkpoint cadence: %v", err)
			return false
		}
		if hasCad {
			msg = CheckpointMessageV2(count, d["head"], cad)
		}
		if err := v.o.Verifier.Verify(context.Background(), d["alg"], d["key_id"], msg, sig); err != nil {
			v.fail(r.Seq, "checkpoint signature over seq %d does not verify: %v", count, err)
			return false
		}
		// A stretch between two checkpoints is covered by the later
		// one's signature (its head chains through every record), so
		// only an explicit --max-unsigned bounds it; the cadence bound
		// applies to the tail, which nothing covers (finish).
		from := max(v.res.SignedThrough, v.res.FirstSeq-1)
		if v.o.MaxUnsigned > 0 && !v.o.NoUnsignedLimit && count-from > v.o.MaxUnsigned {
			v.fail(r.Seq, "%d records not covered by a signed checkpoint (seq %d..%d), more than --max-unsigned %d: checkpoints may have been removed", count-from, from+1, count, v.o.MaxUnsigned)
			return false
		}
		v.res.SignedThrough = count
		v.cadence, v.hasCadence = cad, hasCad
		// The first record after count is in the ring: the checkpoint
		// record itself comes after it.
		if next := (count + 1) % ringSize; v.ring.seq[next] == count+1 {
			v.unsignedSince = v.ring.time[next]
		}
	}
	v.lastCkpt = count
	v.res.Checkpoints++
	return true
}

func (v *verifier) finish() {
	r := v.res
	if v.o.Verifier != nil && r.Records > 0 {
		r.Unsigned = r.LastSeq - max(r.SignedThrough, r.FirstSeq-1)
		if r.SignedThrough == 0 {
			v.line = 0
			r.Problem = &Problem{Seq: r.FirstSeq, Reason: "no signed checkpoint: the log cannot be tied to the signing key"}
			if len(r.Files) > 0 {
				r.Problem.File = r.Files[len(r.Files)-1]
			}
			return
		}
		maxRecs, maxAge, what := v.limit(v.cadence, v.hasCadence)
		r.UnsignedLimit = what
		if maxRecs > 0 && r.Unsigned > maxRecs {
			r.Problem = &Problem{Seq: r.SignedThrough + 1, File: r.Files[len(r.Files)-1],
				Reason: fmt.Sprintf("%d records after the last signed checkpoint, more than %s: the tail may have been rewritten after its checkpoints were removed", r.Unsigned, what)}
			return
		}
		if age := v.lastTime.Sub(v.unsignedSince); maxAge > 0 && r.Unsigned > 0 && age > maxAge {
			r.Problem = &Problem{Seq: r.SignedThrough + 1, File: r.Files[len(r.Files)-1],
				Reason: fmt.Sprintf("records over %s after the last signed checkpoint, more than %s: the tail may have been rewritten after its checkpoints were removed", age.Round(time.Millisecond), what)}
			return
		}
	}
	r.Intact = true
}

// limit is the bound on an unsigned stretch written under cadence c: the
// explicit MaxUnsigned, else twice the cadence. what describes it.
func (v *verifier) limit(c Cadence, known bool) (records uint64, age time.Duration, what string) {
	switch {
	case v.o.NoUnsignedLimit:
		return 0, 0, ""
	case v.o.MaxUnsigned > 0:
		return v.o.MaxUnsigned, 0, fmt.Sprintf("--max-unsigned %d", v.o.MaxUnsigned)
	case !known || (c.Every == 0 && c.Interval <= 0):
		return 0, 0, ""
	}
	var parts []string
	if c.Every > 0 {
		records = 2 * c.Every
		parts = append(parts, fmt.Sprintf("%d records", records))
	}
	if c.Interval > 0 {
		age = 2 * c.Interval
		parts = append(parts, age.String())
	}
	return records, age, "twice the checkpoint cadence recorded in the log (" + strings.Join(parts, " or ") + "; --max-unsigned N to set another bound)"
}

// checkpointCadence reads the signed cadence of a v2 checkpoint.
func checkpointCadence(d map[string]string) (Cadence, bool, error) {
	if d["v"] == "" {
		return Cadence{}, false, nil
	}
	if d["v"] != "2" {
		return Cadence{}, false, fmt.Errorf("unknown checkpoint version %q", d["v"])
	}
	every, err1 := strconv.ParseUint(d["every"], 10, 64)
	ms, err2 := strconv.ParseInt(d["interval_ms"], 10, 64)
	if err1 != nil || err2 != nil || ms < 0 {
		return Cadence{}, false, errors.New("invalid every or interval_ms")
	}
	return Cadence{Every: every, Interval: time.Duration(ms) * time.Millisecond}, true, nil
}

// ErrNotIntact is returned by helpers that turn a failed verification into
// an error.
var ErrNotIntact = errors.New("audit: log is not intact")
