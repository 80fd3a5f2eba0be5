package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"golang.org/x/net/idna"
)

// NameConstraints is what an intercept CA may vouch for, in the terms of
// RFC 5280 section 4.2.1.10. The CA carries it as a critical Name
// Constraints extension, so every verifier that implements RFC 5280 (Go's
// crypto/x509, OpenSSL, BoringSSL, NSS, SChannel) rejects a leaf the CA
// signs for any other name, whoever made the leaf. Permitted DNS subtrees
// follow RFC 5280: "example.com" admits example.com and every name below
// it. A name form with no permitted subtree is excluded entirely, so the CA
// vouches for no IP address unless the policy names one, and never for an
// e-mail address or URI.
type NameConstraints struct {
	DNS []string     // permitted DNS subtrees (A-labels, lower case)
	IPs []*net.IPNet // permitted IP ranges (a /32 or /128 per policy address)
}

// ConstraintsForHosts computes the constraints for the hosts a policy's
// destinations name: an exact name becomes its own subtree, a wildcard
// "*.example.com" the subtree "example.com" (RFC 5280 has no wildcards; the
// subtree is the smallest that holds every name the wildcard matches), an
// IP address a single-address range. Internationalised names become
// punycode; duplicates and names inside another subtree are dropped, so the
// result is the minimal set. No host at all is an error: such a CA could
// vouch for nothing.
func ConstraintsForHosts(hosts []string) (NameConstraints, error) {
	var nc NameConstraints
	var errs []error
	seenIP := map[netip.Addr]bool{}
	var dns []string
	for _, h := range hosts {
		name, wild := strings.CutPrefix(strings.TrimSpace(h), "*.")
		if a, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil && !wild {
			a = a.Unmap()
			if a.Zone() != "" {
				errs = append(errs, fmt.Errorf("host %q: an address with a zone cannot be constrained", h))
				continue
			}
			if !seenIP[a] {
				seenIP[a] = true
				nc.IPs = append(nc.IPs, &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(a.BitLen(), a.BitLen())})
			}
			continue
		}
		d, err := constraintDomain(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("host %q: %w", h, err))
			continue
		}
		if wild && !strings.Contains(d, ".") {
			errs = append(errs, fmt.Errorf("host %q: a wildcard must name a domain with at least two labels", h))
			continue
		}
		dns = append(dns, d)
	}
	if err := errors.Join(errs...); err != nil {
		return nc, err
	}
	// Minimal set: sort by length so that a subtree comes before anything
	// inside it, then keep only names no kept subtree already covers.
	sort.SliceStable(dns, func(i, j int) bool {
		if len(dns[i]) != len(dns[j]) {
			return len(dns[i]) < len(dns[j])
		}
		return dns[i] < dns[j]
	})
	for _, d := range dns {
		if !slices.ContainsFunc(nc.DNS, func(c string) bool { return inSubtree(d, c) }) {
			nc.DNS = append(nc.DNS, d)
		}
	}
	sort.Strings(nc.DNS)
	sort.Slice(nc.IPs, func(i, j int) bool { return nc.IPs[i].String() < nc.IPs[j].String() })
	if len(nc.DNS) == 0 && len(nc.IPs) == 0 {
		return nc, errors.New("no destination hosts: a constrained intercept CA needs at least one")
	}
	return nc, nil
}

// constraintDomain is the A-label, lower-case, dot-free-at-the-end form of
// a DNS name, which is what an IA5String dNSName constraint must hold.
func constraintDomain(name string) (string, error) {
	a, err := idna.Lookup.ToASCII(strings.ToLower(name))
	if err != nil {
		return "", fmt.Errorf("invalid DNS name: %w", err)
	}
	a = strings.TrimSuffix(strings.ToLower(a), ".")
	if a == "" || len(a) > 253 {
		return "", errors.New("invalid DNS name")
	}
	for _, l := range strings.Split(a, ".") {
		if l == "" || len(l) > 63 {
			return "", errors.New("invalid DNS name")
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return "", fmt.Errorf("invalid character %q in DNS name", r)
			}
		}
	}
	return a, nil
}

// inSubtree reports whether name lies in the DNS subtree c as RFC 5280
// defines it: c itself or c with labels added on the left. An empty c is
// the whole namespace; a leading dot (a form Go and OpenSSL accept) means
// strictly below c.
func inSubtree(name, c string) bool {
	if c == "" {
		return true
	}
	if strings.HasPrefix(c, ".") {
		return len(name) > len(c) && strings.HasSuffix(name, c)
	}
	return name == c || strings.HasSuffix(name, "."+c)
}

// Constrained reports whether the certificate carries name constraints.
func (nc NameConstraints) Constrained() bool { return len(nc.DNS) > 0 || len(nc.IPs) > 0 }

// apply writes the constraints into a CA template: critical, the permitted
// subtrees, and excluded subtrees covering every name form without a
// permitted one.
func (nc NameConstraints) apply(tmpl *x509.Certificate) {
	tmpl.PermittedDNSDomainsCritical = true
	tmpl.PermittedDNSDomains = append([]string(nil), nc.DNS...)
	tmpl.PermittedIPRanges = append([]*net.IPNet(nil), nc.IPs...)
	if len(nc.DNS) == 0 {
		tmpl.ExcludedDNSDomains = []string{""} // the empty name matches every name
	}
	if len(nc.IPs) == 0 {
		tmpl.ExcludedIPRanges = []*net.IPNet{
			{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
			{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)},
		}
	}
	// The leaves carry no e-mail address or URI: exclude both forms.
	tmpl.ExcludedEmailAddresses = []string{""}
	tmpl.ExcludedURIDomains = []string{""}
}

// String is a one-line summary for `certs show` and log lines.
func (nc NameConstraints) String() string {
	if !nc.Constrained() {
		return "none"
	}
	var parts []string
	if len(nc.DNS) > 0 {
		parts = append(parts, "DNS "+strings.Join(nc.DNS, ", "))
	}
	var ips []string
	for _, n := range nc.IPs {
		ips = append(ips, n.String())
	}
	if len(ips) > 0 {
		parts = append(parts, "IP "+strings.Join(ips, ", "))
	}
	return "permitted " + strings.Join(parts, "; ")
}

// ConstraintsOf describes the name constraints a CA certificate carries,
// as a summary of every permitted and excluded subtree of the forms
// syncgate uses. ok is false when the certificate has none: it can vouch for
// any name.
func ConstraintsOf(c *x509.Certificate) (summary string, ok bool) {
	if len(c.PermittedDNSDomains)+len(c.ExcludedDNSDomains)+len(c.PermittedIPRanges)+len(c.ExcludedIPRanges)+
		len(c.PermittedEmailAddresses)+len(c.ExcludedEmailAddresses)+len(c.PermittedURIDomains)+len(c.ExcludedURIDomains) == 0 {
		return "none: it can vouch for any host", false
	}
	var parts []string
	dns := func(ds []string) string {
		out := make([]string, len(ds))
		for i, d := range ds {
			if d == "" {
				d = "(all)"
			}
			out[i] = d
		}
		return strings.Join(out, ", ")
	}
	nets := func(ns []*net.IPNet) string {
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i] = n.String()
		}
		return strings.Join(out, ", ")
	}
	if len(c.PermittedDNSDomains) > 0 {
		parts = append(parts, "permitted DNS "+dns(c.PermittedDNSDomains))
	}
	if len(c.PermittedIPRanges) > 0 {
		parts = append(parts, "permitted IP "+nets(c.PermittedIPRanges))
	}
	if len(c.ExcludedDNSDomains) > 0 {
		parts = append(parts, "excluded DNS "+dns(c.ExcludedDNSDomains))
	}
	if len(c.ExcludedIPRanges) > 0 {
		parts = append(parts, "excluded IP "+nets(c.ExcludedIPRanges))
	}
	if !c.PermittedDNSDomainsCritical {
		parts = append(parts, "NOT critical")
	}
	return strings.Join(parts, "; "), true
}

// PermitsHost reports (as an error naming the reason) whether the CA
// certificate's name constraints admit a leaf for host, a policy host: a
// DNS name, an IP address, or a wildcard "*.example.com", which is inside
// only when every name it matches is. It follows RFC 5280 the way Go's
// verifier and OpenSSL do. A certificate with no constraints admits any
// host.
func PermitsHost(ca *x509.Certificate, host string) error {
	name, wild := strings.CutPrefix(host, "*.")
	if a, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil && !wild {
		ip := net.IP(a.Unmap().AsSlice())
		for _, n := range ca.ExcludedIPRanges {
			if n.Contains(ip) && len(n.IP) == len(ip) {
				return fmt.Errorf("%s is in the excluded IP range %s", a, n)
			}
		}
		if len(ca.PermittedIPRanges) == 0 {
			return nil
		}
		for _, n := range ca.PermittedIPRanges {
			if n.Contains(ip) && len(n.IP) == len(ip) {
				return nil
			}
		}
		return fmt.Errorf("%s is outside the permitted IP ranges", a)
	}
	d, err := constraintDomain(name)
	if err != nil {
		return err
	}
	for _, e := range ca.ExcludedDNSDomains {
		e = strings.ToLower(e)
		// A wildcard is refused when anything it matches is excluded.
		if inSubtree(d, e) || (wild && inSubtree(strings.TrimPrefix(e, "."), d)) {
			if e == "" {
				return fmt.Errorf("%s: the CA excludes every DNS name", host)
			}
			return fmt.Errorf("%s is in the excluded DNS subtree %s", host, e)
		}
	}
	if len(ca.PermittedDNSDomains) == 0 {
		return nil
	}
	probe := d
	if wild {
		// Every name the wildcard matches is one label below d; a subtree
		// holds them all exactly when it holds such a name for any label,
		// which a label that no constraint can name stands for.
		probe = "*." + d
	}
	for _, c := range ca.PermittedDNSDomains {
		c = strings.ToLower(c)
		if inSubtree(probe, c) && !(wild && c == probe) {
			return nil
		}
	}
	return fmt.Errorf("%s is outside the permitted DNS subtrees %s", host, strings.Join(ca.PermittedDNSDomains, ", "))
}
