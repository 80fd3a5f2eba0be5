package policy

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"
)

func TestCleanPath(t *testing.T) {
	ok := []struct{ in, want string }{
		{"/", "/"},
		{"/v1.0/users/alice@corp.example/contacts", "/v1.0/users/alice@corp.example/contacts"},
		{"/v1.0/users/alice%40corp.example/contacts", "/v1.0/users/alice@corp.example/contacts"},
		{"/a/", "/a/"},
		{"/a/b%20c", "/a/b c"},
		{"/caf%C3%A9", "/café"},
		{"/a/.b/..c/d..", "/a/.b/..c/d.."},
		{"/$metadata", "/$metadata"},
		{"/a:b/c=d&e+f,g!h'i(j)k*l~m_n-o", "/a:b/c=d&e+f,g!h'i(j)k*l~m_n-o"},
		{"/%7Bx%7D", "/{x}"},
	}
	for _, tt := range ok {
		got, good := CleanPath(tt.in)
		if !good || got != tt.want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q, true", tt.in, got, good, tt.want)
		}
	}
	bad := []string{
		"",
		"a/b",
		"*",
		"/a/../b",
		"/a/./b",
		"/..",
		"/.",
		"/a/..",
		"/a/%2e%2e/b",
		"/a/%2E%2E/b",
		"/a/%2e/b",
		"/a/.%2e/b",
		"/a%2Eb",
		"/a%2fb",
		"/a%2Fb",
		"//a",
		"/a//b",
		"/a;b",
		"/a;jsessionid=1/b",
		"/a%3bb",
		"/a%3Bb",
		"/a\\b",
		"/a%5cb",
		"/a%5Cb",
		"/a%00b",
		"/a%25b",
		"/a%252e%252e",
		"/a%",
		"/a%2",
		"/a%zz",
		"/a%0a",
		"/a%7f",
		"/a\x00b",
		"/a\tb",
		"/a b",
		"/a\x7fb",
		"/caf\xc3\xa9", // raw non-ASCII: must arrive encoded
		"/a%ff",        // not UTF-8 once decoded
		"/a%c3",
		"/a?b",
		"/a#b",
		"/a[b]",
		"/a\"b",
		"/a<b>",
		"/a|b",
		"/a^b",
		"/a`b",
		"/a{b}",
	}
	for _, in := range bad {
		if got, good := CleanPath(in); good {
			t.Errorf("CleanPath(%q) = %q, true; want deny", in, got)
		}
	}
}

// dotSegment reports whether a decoded path has a "." or ".." segment.
func dotSegment(p string) bool {
	for _, s := range strings.Split(p, "/") {
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}

func TestCleanPathProperties(t *testing.T) {
	seg := rapid.OneOf(
		rapid.SampledFrom([]string{".", "..", "%2e", "%2E", "%2e%2e", ".%2E", "%2f", "%5c", "%3b", "%25", "%00", "", "a", "b.c", "%40", "%C3%A9", ";", "\\"}),
		rapid.StringMatching(`[a-z0-9.%]{0,6}`),
	)
	rapid.Check(t, func(t *rapid.T) {
		segs := rapid.SliceOfN(seg, 1, 6).Draw(t, "segs")
		in := "/" + strings.Join(segs, "/")
		got, ok := CleanPath(in)
		if !ok {
			return
		}
		// Whatever is accepted is a normal, decoded, absolute path.
		if dotSegment(got) {
			t.Fatalf("CleanPath(%q) = %q: dot segment", in, got)
		}
		if strings.Contains(got, "//") || strings.ContainsAny(got, ";\\%\x00") || !strings.HasPrefix(got, "/") || !utf8.ValidString(got) {
			t.Fatalf("CleanPath(%q) = %q: not normal", in, got)
		}
		// And it is what a standard decoder makes of the input.
		if u, err := url.PathUnescape(in); err != nil || u != got {
			t.Fatalf("CleanPath(%q) = %q, PathUnescape = %q, %v", in, got, u, err)
		}
	})
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a/%2e%2e/b", "/a%40b", "//", "/a;b", "/%C3%A9", "/a/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := CleanPath(in)
		if !ok {
			return
		}
		if dotSegment(got) || strings.Contains(got, "//") || strings.ContainsAny(got, ";\\%") || !utf8.ValidString(got) {
			t.Fatalf("CleanPath(%q) = %q accepted but not normal", in, got)
		}
		for _, c := range []byte(got) {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("CleanPath(%q) = %q: control byte", in, got)
			}
		}
	})
}

func TestPatterns(t *testing.T) {
	tests := []struct {
		pat, path, subject string
		want               bool
	}{
		{"/a/b", "/a/b", "", true},
		{"/a/b", "/a/b/", "", false},
		{"/a/b", "/a/B", "", false},
		{"/a/*", "/a/b", "", true},
		{"/a/*", "/a/", "", false},
		{"/a/*", "/a/b/c", "", false},
		{"/a/**", "/a", "", true},
		{"/a/**", "/a/", "", true},
		{"/a/**", "/a/b/c/d", "", true},
		{"/a/**", "/ab", "", false},
		{"/**", "/", "", true},
		{"/", "/", "", true},
		{"/", "/a", "", false},
		{"/u/{subject}/c", "/u/alice@corp.example/c", "alice@corp.example", true},
		{"/u/{subject}/c", "/u/ALICE@Corp.Example/c", "alice@corp.example", true},
		{"/u/{subject}/c", "/u/bob@corp.example/c", "alice@corp.example", false},
		{"/u/{subject}/c", "/u/alice@corp.example/c", "", false},
		{"/u/{subject}/**", "/u/alice@corp.example", "alice@corp.example", true},
		{"/u/{subject}", "/u/", "", false},
	}
	for _, tt := range tests {
		p, err := compilePattern(tt.pat)
		if err != nil {
			t.Fatalf("compilePattern(%q): %v", tt.pat, err)
		}
		path, ok := CleanPath(tt.path)
		if !ok {
			t.Fatalf("CleanPath(%q) refused", tt.path)
		}
		if got := p.match([]byte(path), tt.subject, false); got != tt.want {
			t.Errorf("%q matches %q (subject %q) = %v, want %v", tt.pat, tt.path, tt.subject, got, tt.want)
		}
	}
	for _, bad := range []string{"", "a", "/a/**/b", "/a//b", "/a/../b", "/a/./b", "/a*", "/a/b*c", "/{user}", "/a/{subject}x", "/a;b", "/a%2fb", "/a?x=1", "/a\\b", "/a b", "/a/***"} {
		if _, err := compilePattern(bad); err == nil {
			t.Errorf("compilePattern(%q) accepted, want error", bad)
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		glob, s string
		want    bool
	}{
		{"*@corp.example", "alice@corp.example", true},
		{"*@corp.example", "Alice@CORP.example", true},
		{"*@corp.example", "alice@corp.example.evil", false},
		{"*@corp.example", "alice@evil@corp.example", false},
		{"*@corp.example", "@corp.example", true},
		{"*@*.corp.example", "a@eu.corp.example", true},
		{"*@*.corp.example", "a@corp.example", false},
		{"admin@corp.example", "admin@corp.example", true},
		{"admin@corp.example", "admin2@corp.example", false},
		{"a*b@x", "ab@x", true},
		{"a*b@x", "acccb@x", true},
		{"a*b@x", "acccbd@x", false},
		{"*", "anything", true},
		{"*", "a@b", false},
		// ASCII case folding only: Unicode folding would let U+212A KELVIN
		// SIGN stand for k (issue 9 finding 14).
		{"ü*@x", "ü1@x", true},
		{"ü*@x", "Ü1@x", false},
		{"kate@x", "\u212Aate@x", false},
	}
	for _, tt := range tests {
		if got := globMatch(strings.ToLower(tt.glob), tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.glob, tt.s, got, tt.want)
		}
	}
}
