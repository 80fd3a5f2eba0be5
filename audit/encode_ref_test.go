package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/rs/zerolog"
)

// zerologEncoder is the encoder the writer used before the canonical one
// (zerolog, one event per record). Tests check that both produce the same
// bytes, so existing logs keep verifying.
type zerologEncoder struct {
	sink lineSink
	log  zerolog.Logger
}

// lineSink receives the one line a zerolog event writes.
type lineSink struct{ buf []byte }

func (s *lineSink) Write(p []byte) (int, error) {
	s.buf = append(s.buf[:0], p...)
	return len(p), nil
}

func newZerologEncoder() *zerologEncoder {
	e := &zerologEncoder{}
	e.log = zerolog.New(&e.sink)
	return e
}

// encode appends the canonical line for r (with its current Prev, without
// Hash) to dst, computes the hash, sets r.Hash and returns dst with the whole
// line including the trailing newline.
func (e *zerologEncoder) encode(dst []byte, r *Record) ([]byte, error) {
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
		zstrOpt(d, "identity", c.Identity)
		zstrOpt(d, "cert_sha256", c.CertSHA256)
		ev.Dict("client", d)
	}
	zstrOpt(ev, "subject", r.Subject)
	if q := r.Request; q != nil {
		// Defence in depth: a query string or fragment can carry secrets
		// (tokens, codes), so it never reaches the log even if a caller
		// passes a raw request URI.
		q.Path = stripQuery(q.Path)
		d := ev.CreateDict().Str("method", clean(q.Method)).Str("host", clean(q.Host)).
			Int("port", q.Port).Str("path", clean(q.Path)).Int64("bytes", q.Bytes)
		zstrOpt(d, "operation", q.Operation)
		ev.Dict("request", d)
	}
	if p := r.Decision; p != nil {
		d := ev.CreateDict().Bool("allow", p.Allow).Str("mode", clean(p.Mode))
		zstrOpt(d, "rule", p.Rule)
		zstrOpt(d, "reason", p.Reason)
		if p.WouldDeny {
			d.Bool("would_deny", true)
		}
		zstrOpt(d, "destination", p.Destination)
		ev.Dict("decision", d)
	}
	if u := r.Upstream; u != nil {
		d := ev.CreateDict()
		zstrOpt(d, "ip", u.IP)
		zstrOpt(d, "tls_version", u.TLSVersion)
		zstrOpt(d, "cipher", u.Cipher)
		zstrOpt(d, "cert_sha256", u.CertSHA256)
		zstrOpt(d, "issuer", u.Issuer)
		zstrOpt(d, "ca_bundle", u.CABundle)
		zstrOpt(d, "client_cert", u.ClientCert)
		zstrOpt(d, "error", u.Error)
		ev.Dict("upstream", d)
	}
	if c := r.Credential; c != nil {
		d := ev.CreateDict().Str("name", clean(c.Name))
		zstrOpt(d, "token_fp", c.TokenFP)
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

func zstrOpt(e *zerolog.Event, key, v string) {
	if v != "" {
		e.Str(key, clean(v))
	}
}
