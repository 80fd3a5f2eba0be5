package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// ErrSSRF is returned (wrapped) when a destination resolves to an address the
// gateway must not dial.
var ErrSSRF = errors.New("address not allowed")

// deniedRanges are never dialled unless an operator lists them in
// network.allow_ranges. The IPv6 forms that embed an IPv4 address are here
// because a NAT64 gateway, 6to4 relay or Teredo server would carry the
// request to the embedded (possibly internal) IPv4 address.
var deniedRanges = mustPrefixes(
	"0.0.0.0/8",       // "this network", unspecified
	"10.0.0.0/8",      // RFC 1918
	"100.64.0.0/10",   // CGNAT, RFC 6598
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata (169.254.169.254)
	"172.16.0.0/12",   // RFC 1918
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // TEST-NET-1
	"192.88.99.0/24",  // 6to4 relay anycast
	"192.168.0.0/16",  // RFC 1918
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // TEST-NET-2
	"203.0.113.0/24",  // TEST-NET-3
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, broadcast
	"::/128",          // unspecified
	"::1/128",         // loopback
	"::/96",           // IPv4-compatible (deprecated)
	"::ffff:0:0/96",   // IPv4-mapped
	"64:ff9b::/96",    // NAT64 well-known prefix
	"64:ff9b:1::/48",  // NAT64 local-use
	"100::/64",        // discard-only
	"2001::/32",       // Teredo
	"2001:db8::/32",   // documentation
	"2002::/16",       // 6to4
	"fc00::/7",        // unique local
	"fe80::/10",       // link-local
	"fec0::/10",       // site-local (deprecated)
	"ff00::/8",        // multicast
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Guard resolves a destination once, vets every address, and hands back the
// one address to dial, so that a second DNS answer can never redirect the
// connection (DNS rebinding).
type Guard struct {
	allow    []netip.Prefix
	hosts    map[string]netip.AddrPort
	resolver *net.Resolver
}

// NewGuard builds a guard. hosts maps a normalised host name to a fixed
// address (like curl --resolve); resolverAddr, when set, is the DNS server.
func NewGuard(allow []netip.Prefix, hosts map[string]netip.AddrPort, resolverAddr string) *Guard {
	g := &Guard{allow: allow, hosts: hosts, resolver: net.DefaultResolver}
	if resolverAddr != "" {
		d := &net.Dialer{Timeout: 5 * time.Second}
		g.resolver = &net.Resolver{
			PreferGo: true,
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, resolverAddr)
			},
		}
	}
	return g
}

// Permitted reports whether addr may be dialled.
func (g *Guard) Permitted(addr netip.Addr) bool {
	addr = addr.WithZone("")
	for _, p := range g.allow {
		if p.Contains(addr) || (addr.Is4In6() && p.Contains(addr.Unmap())) {
			return true
		}
	}
	if addr.Is4In6() {
		// Judge the embedded IPv4 too: ::ffff:10.0.0.1 is 10.0.0.1.
		if !g.permittedPlain(addr.Unmap()) {
			return false
		}
	}
	return g.permittedPlain(addr)
}

func (g *Guard) permittedPlain(addr netip.Addr) bool {
	for _, p := range g.allow {
		if p.Contains(addr) {
			return true
		}
	}
	for _, p := range deniedRanges {
		if p.Contains(addr) {
			return false
		}
	}
	return addr.IsGlobalUnicast()
}

// Resolve returns the single vetted address to dial for host:port. host must
// already be normalised (an IP literal in canonical form or a lower-case
// name). Every address a name resolves to must be permitted: a name that
// mixes public and private answers is refused outright, because picking the
// public one would still let a rebinding attacker probe which names exist.
func (g *Guard) Resolve(ctx context.Context, host string, port int) (netip.AddrPort, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if !g.Permitted(ip) {
			return netip.AddrPort{}, fmt.Errorf("%w: %s is in a denied range", ErrSSRF, ip)
		}
		return netip.AddrPortFrom(ip, uint16(port)), nil
	}
	if ap, ok := g.hosts[host]; ok {
		if !g.Permitted(ap.Addr()) {
			return netip.AddrPort{}, fmt.Errorf("%w: static address for %s is in a denied range (add it to network.allow_ranges)", ErrSSRF, host)
		}
		return ap, nil
	}
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("resolve %s: no addresses", host)
	}
	for _, a := range addrs {
		if !g.Permitted(a) {
			return netip.AddrPort{}, fmt.Errorf("%w: %s resolves to %s, in a denied range", ErrSSRF, host, a.WithZone(""))
		}
	}
	return netip.AddrPortFrom(addrs[0].WithZone(""), uint16(port)), nil
}
