package audit

import (
	"strconv"
	"time"
)

// Cadence is how often the writer that made a checkpoint signs: after
// Every records, or after Interval with unsigned records (zero: not by
// that measure). Checkpoints record it, under their signature, so a
// verifier knows how long an unsigned stretch an honest log can have.
type Cadence struct {
	Every    uint64
	Interval time.Duration
}

// CheckpointMessageV2 is what a checkpoint that records its cadence signs:
// the v1 fields and the cadence, so the cadence cannot be changed either.
func CheckpointMessageV2(count uint64, head string, c Cadence) []byte {
	return []byte("syncgate-audit-checkpoint-v2\n" + strconv.FormatUint(count, 10) + "\n" + head + "\n" +
		"every=" + strconv.FormatUint(c.Every, 10) + "\n" +
		"interval_ms=" + strconv.FormatInt(c.Interval.Milliseconds(), 10) + "\n")
}
