package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// maxHostLen bounds a normalised name (RFC 1035: 253 characters without the
// trailing dot).
const maxHostLen = 253

// NormalizeHost returns the one spelling of h that policy and the SSRF guard
// compare: ASCII lower case, one trailing dot removed, internationalised
// names in punycode (IDNA lookup profile), and IP addresses in their
// canonical text form.
//
// IPv4 is recognised in every spelling that resolvers accept (inet_aton and
// the WHATWG URL standard): decimal "2130706433", octal "0177.0.0.1", hex
// "0x7f.0.0.1" and short forms "127.1" all become "127.0.0.1". A name whose
// last label is numeric must be a valid IPv4 address, so "1.2.3.4.5" is an
// error rather than a name.
//
// IPv6 (with or without brackets) becomes RFC 5952 text without brackets.
// An IPv4-mapped IPv6 address stays IPv6: "::ffff:7f00:1" becomes
// "::ffff:127.0.0.1", not "127.0.0.1". The choice is deliberate: a policy
// host "127.0.0.1" does not match it (fail closed), and the SSRF guard, which
// parses the address with netip, must Unmap before checking ranges. Zones
// ("fe80::1%eth0") are refused.
func NormalizeHost(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty host")
	}
	if len(h) > 2*maxHostLen {
		return "", errors.New("host too long")
	}
	if h[0] == '[' {
		if len(h) < 2 || h[len(h)-1] != ']' {
			return "", errors.New("unbalanced brackets in host")
		}
		return normalizeIPv6(h[1 : len(h)-1])
	}
	if strings.IndexByte(h, ':') >= 0 {
		return normalizeIPv6(h)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c < 0x21 || c == 0x7f || c == '%' || c == '/' || c == '\\' || c == '@' || c == '[' || c == ']' || c == '*' || c == '?' || c == '#' {
			return "", fmt.Errorf("invalid character %q in host", c)
		}
	}
	// Map first: IDNA turns full-width digits and dots into ASCII, so the
	// numeric check below must see the mapped form.
	a, err := idna.Lookup.ToASCII(strings.ToLower(h))
	if err != nil {
		return "", fmt.Errorf("invalid host name: %w", err)
	}
	a = strings.ToLower(a)
	if strings.HasSuffix(a, ".") {
		a = a[:len(a)-1]
	}
	if a == "" {
		return "", errors.New("empty host")
	}
	labels := strings.Split(a, ".")
	if isNumericLabel(labels[len(labels)-1]) {
		ip, ok := parseIPv4Any(labels)
		if !ok {
			return "", errors.New("invalid IPv4 address")
		}
		return ip.String(), nil
	}
	if len(a) > maxHostLen {
		return "", errors.New("host too long")
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return "", err
		}
	}
	return a, nil
}

func normalizeIPv6(s string) (string, error) {
	if strings.IndexByte(s, '%') >= 0 {
		return "", errors.New("IPv6 zone not allowed in host")
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is6() {
		return "", errors.New("invalid IPv6 address")
	}
	return ip.String(), nil
}

func checkLabel(l string) error {
	if l == "" {
		return errors.New("empty label in host")
	}
	if len(l) > 63 {
		return errors.New("label longer than 63 characters in host")
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("invalid character %q in host", c)
		}
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return errors.New("label starts or ends with a hyphen")
	}
	return nil
}

// isNumericLabel reports whether l looks like an IPv4 part (WHATWG "ends in a
// number"): all decimal digits, or 0x followed by hex digits.
func isNumericLabel(l string) bool {
	if l == "" {
		return false
	}
	if len(l) >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X') {
		for i := 2; i < len(l); i++ {
			if !isHex(l[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// parseIPv4Any parses 1 to 4 parts the way inet_aton does: each part
// decimal, octal (leading 0) or hex (0x); the last part fills the remaining
// bytes.
func parseIPv4Any(parts []string) (netip.Addr, bool) {
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, ok := parseIPv4Part(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var b [4]byte
	for i := 0; i < len(vals)-1; i++ {
		if vals[i] > 255 {
			return netip.Addr{}, false
		}
		b[i] = byte(vals[i])
	}
	last := vals[len(vals)-1]
	rest := 4 - (len(vals) - 1)
	if last >= 1<<(8*uint(rest)) {
		return netip.Addr{}, false
	}
	for i := 3; i >= len(vals)-1; i-- {
		b[i] = byte(last)
		last >>= 8
	}
	return netip.AddrFrom4(b), true
}

func parseIPv4Part(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, p = 16, p[2:]
		if p == "" {
			return 0, true // "0x" is zero, as in inet_aton and WHATWG
		}
	case len(p) >= 2 && p[0] == '0':
		base, p = 8, p[1:]
	}
	v, err := strconv.ParseUint(p, base, 64)
	if err != nil || v > 0xffffffff {
		return 0, false
	}
	return v, true
}

// SplitHostPort splits an authority ("host", "host:port", "[v6]:port") and
// normalises the host with NormalizeHost. A missing port is defaultPort. An
// unbracketed IPv6 address, userinfo, or a port outside 1..65535 is an error.
func SplitHostPort(authority string, defaultPort int) (host string, port int, err error) {
	if authority == "" {
		return "", 0, errors.New("empty authority")
	}
	if strings.IndexByte(authority, '@') >= 0 {
		return "", 0, errors.New("userinfo not allowed in authority")
	}
	h, ps := authority, ""
	if authority[0] == '[' {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return "", 0, errors.New("unbalanced brackets in authority")
		}
		h, ps = authority[:end+1], authority[end+1:]
		if ps != "" {
			if ps[0] != ':' {
				return "", 0, errors.New("junk after IPv6 address in authority")
			}
			ps = ps[1:]
			if ps == "" {
				return "", 0, errors.New("empty port")
			}
		}
	} else if i := strings.IndexByte(authority, ':'); i >= 0 {
		if strings.IndexByte(authority[i+1:], ':') >= 0 {
			return "", 0, errors.New("IPv6 address in authority must be in brackets")
		}
		h, ps = authority[:i], authority[i+1:]
		if ps == "" {
			return "", 0, errors.New("empty port")
		}
	}
	port = defaultPort
	if ps != "" {
		port, err = parsePort(ps)
		if err != nil {
			return "", 0, err
		}
	}
	if port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port %d out of range", port)
	}
	host, err = NormalizeHost(h)
	if err != nil {
		return "", 0, err
	}
	return host, port, nil
}

func parsePort(s string) (int, error) {
	if len(s) > 5 {
		return 0, errors.New("invalid port")
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("invalid port")
		}
		n = n*10 + int(s[i]-'0')
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d out of range", n)
	}
	return n, nil
}
