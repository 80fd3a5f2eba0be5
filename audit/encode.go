package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// hashSuffixLen is the length of `,"hash":"<64 hex>"}`, the fixed tail of
// every record line (without the newline).
const hashSuffixLen = len(`,"hash":"`) + 64 + len(`"}`)

// lineSink receives the one line a zerolog event writes. zerolog hands its
// pooled buffer to Write, so the bytes are copied before the event returns.
type lineSink struct{ buf []byte }

func (s *lineSink) Write(p []byte) (int, error) {
	s.buf = append(s.buf[:0], p...)
	return len(p), nil
}

// encoder builds canonical record lines. It is not safe for concurrent use;
// the Writer owns one and uses it under its lock.
type encoder struct {
	sink lineSink
	log  zerolog.Logger
}

func newEncoder() *encoder {
	e := &encoder{}
	e.log = zerolog.New(&e.sink)
	return e
}

// clean makes s valid UTF-8, so that the bytes written are exactly what any
// JSON re-serialiser (jq included) produces for the parsed string.
func clean(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// formatTime is the canonical time: UTC, RFC 3339 with up to 9 fractional
// digits, trailing zeros removed (what time.Time's JSON form gives for UTC).
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// canonicalDuration rounds to microseconds and keeps the value in the range
// where every common JSON printer (jq 1.6 included) uses the plain decimal
// form, so the canonical bytes survive a parse and re-serialise.
func canonicalDuration(ms float64) float64 {
	if math.IsNaN(ms) || ms <= 0 {
		return 0
	}
	if ms > 1e12 {
		ms = 1e12
	}
	return math.Round(ms*1000) / 1000
}

// encode appends the canonical line for r (with its current Prev, without
// Hash) to dst, computes the hash, sets r.Hash and returns dst with the whole
// line including the trailing newline.
func (e *encoder) encode(dst []byte, r *Record) ([]byte, error) {
	ev := e.log.Log()
	if ev == nil {
		// zerolog.SetGlobalLevel(Disabled) somewhere in the process: refuse
		// rather than silently produce nothing.
		return dst, errors.New("audit: zerolog logging is globally disabled; cannot encode records")
	}
	ev.Str("time", formatTime(r.Time)).
		Str("id", clean(r.ID)).
		Uint64("seq", r.Seq).
		Str("kind", clean(r.Kind))
	if c := r.Client; c != nil {
		d := ev.CreateDict().Str("name", clean(c.Name)).Str("ip", clean(c.IP))
		strOpt(d, "identity", c.Identity)
		strOpt(d, "cert_sha256", c.CertSHA256)
		ev.Dict("client", d)
	}
	strOpt(ev, "subject", r.Subject)
	if q := r.Request; q != nil {
		// Defence in depth: a query string or fragment can carry secrets
		// (tokens, codes), so it never reaches the log even if a caller
		// passes a raw request URI.
		q.Path = stripQuery(q.Path)
		d := ev.CreateDict().Str("method", clean(q.Method)).Str("host", clean(q.Host)).
			Int("port", q.Port).Str("path", clean(q.Path)).Int64("bytes", q.Bytes)
		strOpt(d, "operation", q.Operation)
		ev.Dict("request", d)
	}
	if p := r.Decision; p != nil {
		d := ev.CreateDict().Bool("allow", p.Allow).Str("mode", clean(p.Mode))
		strOpt(d, "rule", p.Rule)
		strOpt(d, "reason", p.Reason)
		if p.WouldDeny {
			d.Bool("would_deny", true)
		}
		strOpt(d, "destination", p.Destination)
		ev.Dict("decision", d)
	}
	if u := r.Upstream; u != nil {
		d := ev.CreateDict()
		strOpt(d, "ip", u.IP)
		strOpt(d, "tls_version", u.TLSVersion)
		strOpt(d, "cipher", u.Cipher)
		strOpt(d, "cert_sha256", u.CertSHA256)
		strOpt(d, "issuer", u.Issuer)
		strOpt(d, "ca_bundle", u.CABundle)
		strOpt(d, "client_cert", u.ClientCert)
		strOpt(d, "error", u.Error)
		ev.Dict("upstream", d)
	}
	if c := r.Credential; c != nil {
		d := ev.CreateDict().Str("name", clean(c.Name))
		strOpt(d, "token_fp", c.TokenFP)
		ev.Dict("credential", d)
	}
	if s := r.Response; s != nil {
		ev.Dict("response", ev.CreateDict().Int("status", s.Status).Int64("bytes", s.Bytes))
	}
	r.DurationMS = canonicalDuration(r.DurationMS)
	// Formatted here rather than with Float64 so that zerolog's global
	// FloatingPointPrecision cannot change the canonical form.
	ev.RawJSON("duration_ms", strconv.AppendFloat(nil, r.DurationMS, 'f', -1, 64))
	if len(r.Detail) > 0 {
		keys := make([]string, 0, len(r.Detail))
		for k := range r.Detail {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := ev.CreateDict()
		for _, k := range keys {
			d.Str(clean(k), clean(r.Detail[k]))
		}
		ev.Dict("detail", d)
	}
	ev.Str("prev", clean(r.Prev))
	e.sink.buf = e.sink.buf[:0]
	ev.Msg("")
	line := bytes.TrimSuffix(e.sink.buf, []byte("\n"))
	if len(line) < 2 || line[0] != '{' || line[len(line)-1] != '}' {
		return dst, fmt.Errorf("audit: encoder produced an unexpected line %q", line)
	}
	sum := sha256.Sum256(line)
	r.Hash = hex.EncodeToString(sum[:])
	dst = append(dst, line[:len(line)-1]...)
	dst = append(dst, `,"hash":"`...)
	dst = append(dst, r.Hash...)
	dst = append(dst, "\"}\n"...)
	return dst, nil
}

func stripQuery(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i]
	}
	return p
}

func strOpt(e *zerolog.Event, key, v string) {
	if v != "" {
		e.Str(key, clean(v))
	}
}

// splitHash checks the fixed tail of a line (without newline) and returns
// the hashed body (the line with the hash member removed, as
// `jq -c 'del(.hash)'` prints it) and the recorded hash.
func splitHash(line []byte) (body []byte, hash string, err error) {
	if len(line) < hashSuffixLen+2 || line[0] != '{' {
		return nil, "", errors.New("malformed record: not a JSON object ending in a hash member")
	}
	tail := line[len(line)-hashSuffixLen:]
	if !bytes.HasPrefix(tail, []byte(`,"hash":"`)) || !bytes.HasSuffix(tail, []byte(`"}`)) {
		return nil, "", errors.New(`malformed record: does not end with ,"hash":"<64 hex>"}`)
	}
	h := tail[len(`,"hash":"`) : len(`,"hash":"`)+64]
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return nil, "", errors.New("malformed record: hash is not 64 lowercase hex digits")
		}
	}
	body = make([]byte, 0, len(line)-hashSuffixLen+1)
	body = append(body, line[:len(line)-hashSuffixLen]...)
	body = append(body, '}')
	return body, string(h), nil
}

// HashLine returns the SHA-256 (lowercase hex) a record line must carry: the
// hash of the line with its hash member removed. It is exported for tools
// that check single records; Verify uses the same rule.
func HashLine(line []byte) (string, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	body, _, err := splitHash(line)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:]), nil
}
