package policy

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CleanPath takes a request path exactly as received (escaped, as
// URL.EscapedPath returns it) and returns the decoded path that rules match
// against. ok is false, and the request must be denied rather than
// rewritten, when the path is not in normal form: empty or relative; a "."
// or ".." segment; an empty segment ("//"); ";" or "\" anywhere; an encoded
// ".", "/", "\", ";", "%" or NUL in any case; any control byte; a raw byte
// that RFC 3986 does not allow in a path; a bad percent-encoding; or
// anything that is not UTF-8 once decoded. Other percent-encodings (such as
// "%40" for "@") are decoded. A trailing "/" is kept: "/a/" and "/a" are
// different paths.
func CleanPath(escaped string) (string, bool) {
	var buf [256]byte
	b, ok := cleanInto(escaped, buf[:0])
	if !ok {
		return "", false
	}
	return string(b), true
}

// cleanInto is CleanPath writing into dst, so that Decide can use a stack
// buffer and not allocate.
func cleanInto(escaped string, dst []byte) ([]byte, bool) {
	if escaped == "" || escaped[0] != '/' {
		return nil, false
	}
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		if c == '%' {
			if i+2 >= len(escaped) || !isHex(escaped[i+1]) || !isHex(escaped[i+2]) {
				return nil, false
			}
			v := unhex(escaped[i+1])<<4 | unhex(escaped[i+2])
			switch {
			case v == '.', v == '/', v == '\\', v == ';', v == '%':
				return nil, false
			case v < 0x20, v == 0x7f:
				return nil, false
			}
			dst = append(dst, v)
			i += 2
			continue
		}
		if !rawPathByte[c] {
			return nil, false
		}
		dst = append(dst, c)
	}
	if !utf8.Valid(dst) {
		return nil, false
	}
	// Segment checks run on the decoded form; since encoded "." and "/" were
	// refused above, decoded segments are exactly the raw ones.
	start := 1
	for i := 1; i <= len(dst); i++ {
		if i < len(dst) && dst[i] != '/' {
			continue
		}
		s := dst[start:i]
		last := i == len(dst)
		switch {
		case len(s) == 0 && !last:
			return nil, false // "//"
		case len(s) == 1 && s[0] == '.', len(s) == 2 && s[0] == '.' && s[1] == '.':
			return nil, false
		}
		start = i + 1
	}
	return dst, true
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// rawPathByte is the set of bytes RFC 3986 allows unencoded in a path
// (pchar and "/"), minus ";" which this gateway never accepts because
// servers disagree on whether it starts path parameters.
var rawPathByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*+,=:@/" {
		t[c] = true
	}
	return t
}()

type segKind uint8

const (
	segLit     segKind = iota
	segStar            // one non-empty segment
	segRest            // zero or more segments, last only
	segSubject         // one segment equal to the subject
)

type segment struct {
	kind segKind
	lit  string
}

// pattern is a compiled rule path.
type pattern struct {
	src          string
	segs         []segment
	needsSubject bool
}

// compilePattern parses a rule path. Patterns are written decoded (as
// CleanPath returns paths), so characters that CleanPath never lets through
// are errors here: a rule that can never match is a mistake.
func compilePattern(src string) (pattern, error) {
	p := pattern{src: src}
	if src == "" || src[0] != '/' {
		return p, errors.New("must start with /")
	}
	if !utf8.ValidString(src) {
		return p, errors.New("not UTF-8")
	}
	parts := strings.Split(src[1:], "/")
	for i, s := range parts {
		last := i == len(parts)-1
		switch {
		case s == "**":
			if !last {
				return p, errors.New("** only as the last segment")
			}
			p.segs = append(p.segs, segment{kind: segRest})
		case s == "*":
			p.segs = append(p.segs, segment{kind: segStar})
		case s == "{subject}":
			p.segs = append(p.segs, segment{kind: segSubject})
			p.needsSubject = true
		case s == "" && !last:
			return p, errors.New("empty segment (//)")
		case s == "." || s == "..":
			return p, fmt.Errorf("segment %q", s)
		default:
			for _, r := range s {
				if r < 0x20 || r == 0x7f || unicode.IsSpace(r) || strings.ContainsRune("*{}%;\\?#", r) {
					return p, fmt.Errorf("character %q not allowed in segment %q (only * and ** as whole segments, {subject} as a whole segment)", r, s)
				}
			}
			p.segs = append(p.segs, segment{kind: segLit, lit: s})
		}
	}
	return p, nil
}

// match reports whether the cleaned path matches. When anySubject is set,
// {subject} matches any one segment: Decide uses it to tell "no rule" from
// "subject required".
func (p *pattern) match(path []byte, subject string, anySubject bool) bool {
	rest := path[1:]
	done := false
	for _, s := range p.segs {
		if s.kind == segRest {
			return true
		}
		if done {
			return false
		}
		var cur []byte
		if j := bytes.IndexByte(rest, '/'); j >= 0 {
			cur, rest = rest[:j], rest[j+1:]
		} else {
			cur, done = rest, true
		}
		switch s.kind {
		case segLit:
			if string(cur) != s.lit {
				return false
			}
		case segStar:
			if len(cur) == 0 {
				return false
			}
		case segSubject:
			if len(cur) == 0 {
				return false
			}
			if !anySubject && (subject == "" || !equalFoldBytes(cur, subject)) {
				return false
			}
		}
	}
	return done
}

// equalFoldBytes is strings.EqualFold for a []byte and a string, without
// converting (which would allocate).
func equalFoldBytes(b []byte, s string) bool {
	for len(b) > 0 && len(s) > 0 {
		r1, n1 := utf8.DecodeRune(b)
		r2, n2 := utf8.DecodeRuneInString(s)
		b, s = b[n1:], s[n2:]
		if !runeFoldEq(r1, r2) {
			return false
		}
	}
	return len(b) == 0 && len(s) == 0
}

// runeFoldEq compares with ASCII case folding only. Unicode folding would
// make distinct addresses equal (KELVIN SIGN U+212A folds to "k", LONG S
// to "s"), so a subject could bind a path segment naming another user.
func runeFoldEq(a, b rune) bool {
	if a == b {
		return true
	}
	if a < utf8.RuneSelf && b < utf8.RuneSelf {
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		return a == b
	}
	return false
}

// globMatch matches a subject against a subject glob: "*" matches any run of
// characters except "@", so "*@corp.example" names exactly the addresses of
// that domain. Case-insensitive.
func globMatch(glob, s string) bool {
	gx, sx := 0, 0
	starG, starS := -1, 0
	for gx < len(glob) || sx < len(s) {
		if gx < len(glob) {
			if glob[gx] == '*' {
				starG, starS = gx, sx
				gx++
				continue
			}
			if sx < len(s) {
				r1, n1 := utf8.DecodeRuneInString(glob[gx:])
				r2, n2 := utf8.DecodeRuneInString(s[sx:])
				if runeFoldEq(r1, r2) {
					gx += n1
					sx += n2
					continue
				}
			}
		}
		if starG >= 0 && starS < len(s) && s[starS] != '@' {
			_, n := utf8.DecodeRuneInString(s[starS:])
			starS += n
			gx, sx = starG+1, starS
			continue
		}
		return false
	}
	return true
}

// validSubject is what a subject must look like before any glob sees it: a
// bounded, printable, single path segment naming one concrete address, so
// no glob characters ("*@corp.example" is not a user).
func validSubject(s string) bool {
	if s == "" || len(s) > 320 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x21 || r == 0x7f || strings.ContainsRune("/\\%*?[]{}", r) || unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func validGlob(g string) error {
	if g == "" {
		return errors.New("empty subject glob")
	}
	if !utf8.ValidString(g) {
		return errors.New("subject glob is not UTF-8")
	}
	if strings.Contains(g, "**") {
		return errors.New("** is not a subject glob (use *)")
	}
	for _, r := range g {
		if r != '*' && (r < 0x21 || r == 0x7f || strings.ContainsRune("/\\%?[]", r) || unicode.IsSpace(r) || unicode.IsControl(r)) {
			return fmt.Errorf("character %q not allowed in subject glob", r)
		}
	}
	if strings.Count(g, "@") > 1 {
		return errors.New("more than one @ in subject glob")
	}
	return nil
}
