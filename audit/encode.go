package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// hashSuffixLen is the length of `,"hash":"<64 hex>"}`, the fixed tail of
// every record line (without the newline).
const hashSuffixLen = len(`,"hash":"`) + 64 + len(`"}`)

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

// encoder builds canonical record lines: fixed key bytes and values
// appended into a buffer, strings escaped as docs/audit.md specifies (the
// bytes zerolog produced before; encode_ref_test.go checks it). It is safe
// for concurrent use: it has no state.
type encoder struct{}

func newEncoder() *encoder { return &encoder{} }

// encode appends the canonical line for r (with its current Seq and Prev,
// without Hash) to dst, computes the hash, sets r.Hash and returns dst with
// the whole line including the trailing newline. It goes through the same
// two halves as the writer (encodeToPrev, then appendChained), so the
// corpus tests pin the writer's bytes too.
func (e *encoder) encode(dst []byte, r *Record) ([]byte, error) {
	st := getLineState()
	st.prepare(r)
	st.number(r.Seq)
	dst = st.appendChained(dst, r, r.Prev)
	putLineState(st)
	return dst, nil
}

// lineState is a record's line up to its prev value and the SHA-256 state
// over those bytes. The writer makes both before its lock, with the seq it
// reserved; under the lock only prev, one final hash block and the hex are
// added. The hash rule (docs/audit.md) hashes the line with the hash member
// removed, and prev is the last member before it, so every byte before
// prev can be hashed early and the state simply continued later: the bytes
// and the hash are exactly those of hashing the whole line at once.
type lineState struct {
	body []byte    // the record without seq and prev (encodeParts)
	off  int       // where the seq goes in body
	line []byte    // head, seq, rest, `,"prev":`
	h    hash.Hash // SHA-256 over line
	tail []byte    // scratch: the prev value and '}' (kept to not allocate)
	sum  []byte    // scratch: the digest
}

var lineStates = sync.Pool{New: func() any {
	return &lineState{body: make([]byte, 0, 1024), line: make([]byte, 0, 1024), h: sha256.New(), tail: make([]byte, 0, 80), sum: make([]byte, 0, sha256.Size)}
}}

func getLineState() *lineState { return lineStates.Get().(*lineState) }

func putLineState(st *lineState) {
	if cap(st.line) > 64<<10 || cap(st.body) > 64<<10 {
		// Do not pin one huge record's buffers.
		st.body, st.line = make([]byte, 0, 1024), make([]byte, 0, 1024)
	}
	lineStates.Put(st)
}

// prepare encodes r without its seq and prev: everything that does not
// depend on the chain, and everything that could go wrong with a record.
// The writer calls it before it reserves a seq, so that a reserved seq is
// always followed through (see Writer.accept).
func (st *lineState) prepare(r *Record) {
	st.body, st.off = encodeParts(st.body[:0], r)
}

// number puts seq into the prepared record and hashes the line up to its
// prev value: byte copies and SHA-256 only.
func (st *lineState) number(seq uint64) {
	st.line = append(st.line[:0], st.body[:st.off]...)
	st.line = strconv.AppendUint(st.line, seq, 10)
	st.line = append(st.line, st.body[st.off:]...)
	st.line = append(st.line, `,"prev":`...)
	st.h.Reset()
	st.h.Write(st.line)
}

// appendChained appends to dst the whole line: the encoded part, prev, the
// hash of all that (also set as r.Hash) and the newline. This is the part
// under the writer's lock: a copy, at most 67 bytes hashed, the hex.
func (st *lineState) appendChained(dst []byte, r *Record, prev string) []byte {
	st.tail = appendString(st.tail[:0], prev)
	st.tail = append(st.tail, '}')
	st.h.Write(st.tail)
	st.sum = st.h.Sum(st.sum[:0])
	dst = append(dst, st.line...)
	dst = append(dst, st.tail[:len(st.tail)-1]...)
	dst = append(dst, `,"hash":"`...)
	n := len(dst)
	dst = hex.AppendEncode(dst, st.sum)
	r.Hash = string(dst[n:])
	return append(dst, "\"}\n"...)
}

// encodeParts appends to buf the canonical encoding of r without its seq
// and prev: the line's head up to `"seq":`, then everything after the seq
// up to (without) `,"prev"`. off is where the seq goes. It normalises r as
// the canonical form requires (path without query, duration rounded).
func encodeParts(buf []byte, r *Record) (body []byte, off int) {
	b := append(buf, `{"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","id":`...)
	b = appendString(b, r.ID)
	b = append(b, `,"seq":`...)
	off = len(b)
	return appendRest(b, r), off
}

// appendRest encodes what follows seq, up to (without) prev.
func appendRest(b []byte, r *Record) []byte {
	b = append(b, `,"kind":`...)
	b = appendString(b, r.Kind)
	if c := r.Client; c != nil {
		b = append(b, `,"client":{"name":`...)
		b = appendString(b, c.Name)
		b = append(b, `,"ip":`...)
		b = appendString(b, c.IP)
		b = strOpt(b, `,"identity":`, c.Identity)
		b = strOpt(b, `,"cert_sha256":`, c.CertSHA256)
		b = append(b, '}')
	}
	b = strOpt(b, `,"subject":`, r.Subject)
	if q := r.Request; q != nil {
		// Defence in depth: a query string or fragment can carry secrets
		// (tokens, codes), so it never reaches the log even if a caller
		// passes a raw request URI.
		q.Path = stripQuery(q.Path)
		b = append(b, `,"request":{"method":`...)
		b = appendString(b, q.Method)
		b = append(b, `,"host":`...)
		b = appendString(b, q.Host)
		b = append(b, `,"port":`...)
		b = strconv.AppendInt(b, int64(q.Port), 10)
		b = append(b, `,"path":`...)
		b = appendString(b, q.Path)
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, q.Bytes, 10)
		b = strOpt(b, `,"operation":`, q.Operation)
		b = append(b, '}')
	}
	if p := r.Decision; p != nil {
		b = append(b, `,"decision":{"allow":`...)
		b = strconv.AppendBool(b, p.Allow)
		b = append(b, `,"mode":`...)
		b = appendString(b, p.Mode)
		b = strOpt(b, `,"rule":`, p.Rule)
		b = strOpt(b, `,"reason":`, p.Reason)
		if p.WouldDeny {
			b = append(b, `,"would_deny":true`...)
		}
		b = strOpt(b, `,"destination":`, p.Destination)
		b = append(b, '}')
	}
	if u := r.Upstream; u != nil {
		b = append(b, `,"upstream":{`...)
		n := len(b)
		b = strOpt(b, `,"ip":`, u.IP)
		b = strOpt(b, `,"tls_version":`, u.TLSVersion)
		b = strOpt(b, `,"cipher":`, u.Cipher)
		b = strOpt(b, `,"cert_sha256":`, u.CertSHA256)
		b = strOpt(b, `,"issuer":`, u.Issuer)
		b = strOpt(b, `,"ca_bundle":`, u.CABundle)
		b = strOpt(b, `,"client_cert":`, u.ClientCert)
		b = strOpt(b, `,"error":`, u.Error)
		if len(b) > n {
			b = append(b[:n], b[n+1:]...) // no comma after the brace
		}
		b = append(b, '}')
	}
	if c := r.Credential; c != nil {
		b = append(b, `,"credential":{"name":`...)
		b = appendString(b, c.Name)
		b = strOpt(b, `,"token_fp":`, c.TokenFP)
		b = append(b, '}')
	}
	if s := r.Response; s != nil {
		b = append(b, `,"response":{"status":`...)
		b = strconv.AppendInt(b, int64(s.Status), 10)
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, s.Bytes, 10)
		b = append(b, '}')
	}
	r.DurationMS = canonicalDuration(r.DurationMS)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, r.DurationMS, 'f', -1, 64)
	if len(r.Detail) > 0 {
		var stack [16]string
		keys := stack[:0]
		for k := range r.Detail {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, `,"detail":{`...)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, r.Detail[k])
		}
		b = append(b, '}')
	}
	return b
}

// strOpt appends key (with its leading comma) and v, when v is not empty.
func strOpt(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendString(append(b, key...), v)
}

// noEscape[c] is true for the ASCII bytes written as they are.
var noEscape = func() (t [256]bool) {
	for i := 0x20; i < 0x7f; i++ {
		t[i] = i != '\\' && i != '"'
	}
	return
}()

const hexDigits = "0123456789abcdef"

// appendString appends s as a canonical JSON string: invalid UTF-8 is
// repaired first (only when there is any), '"' and '\\' and the control
// characters are escaped, everything else is written as it is.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	i := 0
	for i < len(s) && noEscape[s[i]] {
		i++
	}
	if i == len(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	if !utf8.ValidString(s[i:]) {
		s = clean(s)
	}
	start := 0
	for ; i < len(s); i++ {
		c := s[i]
		if noEscape[c] || c >= utf8.RuneSelf {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func stripQuery(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i]
	}
	return p
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
