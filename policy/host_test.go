package policy

import (
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestNormalizeHost(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "Graph.Microsoft.COM", want: "graph.microsoft.com"},
		{in: "graph.microsoft.com.", want: "graph.microsoft.com"},
		{in: "graph.microsoft.com..", bad: true},
		{in: "a..b", bad: true},
		{in: ".a", bad: true},
		{in: "", bad: true},
		{in: ".", bad: true},
		{in: "münchen.example", want: "xn--mnchen-3ya.example"},
		{in: "MÜNCHEN.example", want: "xn--mnchen-3ya.example"},
		{in: "xn--mnchen-3ya.example", want: "xn--mnchen-3ya.example"},
		{in: "under_score.example", bad: true},
		{in: "-lead.example", bad: true},
		{in: "sp ace.example", bad: true},
		{in: "a%2eb.example", bad: true},
		{in: "user@host.example", bad: true},
		{in: "*.example.com", bad: true},
		{in: strings.Repeat("a", 64) + ".example", bad: true},
		{in: strings.Repeat("a", 63) + ".example", want: strings.Repeat("a", 63) + ".example"},
		// IPv4 in every spelling resolvers accept.
		{in: "127.0.0.1", want: "127.0.0.1"},
		{in: "127.0.0.1.", want: "127.0.0.1"},
		{in: "2130706433", want: "127.0.0.1"},
		{in: "0177.0.0.1", want: "127.0.0.1"},
		{in: "0x7f.0.0.1", want: "127.0.0.1"},
		{in: "0X7F.0.0.1", want: "127.0.0.1"},
		{in: "0x7f000001", want: "127.0.0.1"},
		{in: "017700000001", want: "127.0.0.1"},
		{in: "127.1", want: "127.0.0.1"},
		{in: "127.0.1", want: "127.0.0.1"},
		{in: "0x7f.1", want: "127.0.0.1"},
		{in: "10.0x14.0.01", want: "10.20.0.1"},
		{in: "169.254.169.254", want: "169.254.169.254"},
		{in: "0251.0376.0251.0376", want: "169.254.169.254"},
		{in: "0", want: "0.0.0.0"},
		{in: "１２７.０.０.１", want: "127.0.0.1"}, // full-width digits map to ASCII under IDNA
		{in: "256.0.0.1", bad: true},
		{in: "1.2.3.4.5", bad: true},
		{in: "4294967296", bad: true},
		{in: "08.0.0.1", bad: true},
		{in: "example.123", bad: true}, // last label numeric but not an address
		{in: "1.2.3.0x", want: "1.2.3.0"},
		// IPv6, bracketed or not, including IPv4-mapped (kept as IPv6).
		{in: "[::1]", want: "::1"},
		{in: "::1", want: "::1"},
		{in: "[0:0:0:0:0:0:0:1]", want: "::1"},
		{in: "2001:DB8::0001", want: "2001:db8::1"},
		{in: "::ffff:127.0.0.1", want: "::ffff:127.0.0.1"},
		{in: "[::ffff:7f00:1]", want: "::ffff:127.0.0.1"},
		{in: "[fe80::1%eth0]", bad: true},
		{in: "[::1", bad: true},
		{in: "[example.com]", bad: true},
		{in: "[127.0.0.1]", bad: true},
	}
	for _, tt := range tests {
		got, err := NormalizeHost(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("NormalizeHost(%q) = %q, want error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in       string
		host     string
		port     int
		bad      bool
		defaultP int
	}{
		{in: "graph.microsoft.com", host: "graph.microsoft.com", port: 443, defaultP: 443},
		{in: "graph.microsoft.com:8443", host: "graph.microsoft.com", port: 8443, defaultP: 443},
		{in: "GRAPH.microsoft.com.:443", host: "graph.microsoft.com", port: 443, defaultP: 443},
		{in: "[::1]:8080", host: "::1", port: 8080, defaultP: 443},
		{in: "[::1]", host: "::1", port: 80, defaultP: 80},
		{in: "2130706433:443", host: "127.0.0.1", port: 443, defaultP: 443},
		{in: "::1", bad: true, defaultP: 443},
		{in: "host:", bad: true, defaultP: 443},
		{in: "host:0", bad: true, defaultP: 443},
		{in: "host:65536", bad: true, defaultP: 443},
		{in: "host:+80", bad: true, defaultP: 443},
		{in: "host:8x", bad: true, defaultP: 443},
		{in: "user:pw@host", bad: true, defaultP: 443},
		{in: "[::1]x", bad: true, defaultP: 443},
		{in: "[::1]:", bad: true, defaultP: 443},
		{in: "", bad: true, defaultP: 443},
		{in: "host", bad: true, defaultP: 0},
	}
	for _, tt := range tests {
		h, p, err := SplitHostPort(tt.in, tt.defaultP)
		if tt.bad {
			if err == nil {
				t.Errorf("SplitHostPort(%q) = %q, %d; want error", tt.in, h, p)
			}
			continue
		}
		if err != nil || h != tt.host || p != tt.port {
			t.Errorf("SplitHostPort(%q) = %q, %d, %v; want %q, %d", tt.in, h, p, err, tt.host, tt.port)
		}
	}
}

// hostGen draws host-like strings, biased towards the tricky alphabet.
func hostGen() *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.StringMatching(`[a-zA-Z0-9.\-]{1,30}`),
		rapid.StringMatching(`(0x[0-9a-f]{1,8}|0[0-7]{1,11}|[0-9]{1,10})(\.(0x[0-9a-f]{1,3}|0[0-7]{1,4}|[0-9]{1,4})){0,3}\.?`),
		rapid.StringMatching(`\[?[0-9a-fA-F:.]{2,40}\]?`),
		rapid.String(),
	)
}

func TestNormalizeHostIdempotent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := hostGen().Draw(t, "host")
		n, err := NormalizeHost(h)
		if err != nil {
			return
		}
		n2, err := NormalizeHost(n)
		if err != nil || n2 != n {
			t.Fatalf("NormalizeHost(%q) = %q, then %q, %v", h, n, n2, err)
		}
		if n != strings.ToLower(n) || strings.HasSuffix(n, ".") {
			t.Fatalf("NormalizeHost(%q) = %q: not lower case or has trailing dot", h, n)
		}
	})
}

func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"example.com", "2130706433", "0x7f.1", "[::ffff:7f00:1]", "münchen.example.", "a..b", "[fe80::1%eth0]", "1.2.3.0x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		n, err := NormalizeHost(h)
		if err != nil {
			return
		}
		if n2, err := NormalizeHost(n); err != nil || n2 != n {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", h, n, n2, err)
		}
	})
}
