package policy

import (
	"fmt"
	"strings"
)

// Reasons are constants so that a decision never carries request values
// (which may hold personal data) into logs or responses.
const (
	ReasonAllowed           = "allowed by rule"
	ReasonNoDestination     = "no destination for host and port"
	ReasonUnknownClient     = "client not identified"
	ReasonClientNotAllowed  = "client not allowed for destination"
	ReasonSubjectNotAllowed = "subject not allowed for client"
	ReasonSubjectInvalid    = "subject is not a concrete address"
	ReasonBadPath           = "path not in normal form"
	ReasonSubjectRequired   = "subject required"
	ReasonNoRule            = "no rule allows method and path"
	ReasonSourceDenied      = "source address not allowed for client"
)

// Identify finds the client behind a connection.
//
// A peer with a certificate is identified only by its certificate: the
// first client in file order with an identity equal to one of the
// certificate's URI SANs, DNS SANs or subject CN, and whose sources contain
// the peer's address. If clients match the certificate but none the address,
// the error wraps ErrSourceDenied and the ClientID names the first of them,
// for the audit record only: it is not identified and must not reach Decide. A certificate that matches no identity is
// unidentified, even on the plain listener.
//
// A peer without a certificate is identified only on the plain listener, by
// the first client without identities whose sources contain its address.
func (e *Engine) Identify(p *Peer) (ClientID, error) {
	if p == nil {
		return ClientID{}, ErrUnidentified
	}
	src := p.Source.Unmap()
	if p.HasCert {
		matched := ClientID{Index: -1}
		for i := range e.clients {
			cl := &e.clients[i]
			id, ok := cl.matchCert(p)
			if !ok {
				continue
			}
			if cl.sourceOK(src) {
				return ClientID{Name: cl.name, Index: i, Identity: id}, nil
			}
			if matched.Index < 0 {
				matched = ClientID{Name: cl.name, Index: i, Identity: id}
			}
		}
		if matched.Index >= 0 {
			return matched, fmt.Errorf("%w: client %q from %s", ErrSourceDenied, matched.Name, src)
		}
		return ClientID{}, ErrUnidentified
	}
	if !p.Plain || !src.IsValid() {
		return ClientID{}, ErrUnidentified
	}
	for i := range e.clients {
		cl := &e.clients[i]
		if len(cl.identities) == 0 && cl.sourceOK(src) {
			return ClientID{Name: cl.name, Index: i, Identity: "source:" + src.String()}, nil
		}
	}
	return ClientID{}, ErrUnidentified
}

func (cl *cClient) matchCert(p *Peer) (string, bool) {
	for _, id := range cl.identities {
		switch id.kind {
		case 'u':
			for _, u := range p.URIs {
				if u == id.value {
					return id.label, true
				}
			}
		case 'd':
			for _, d := range p.DNSNames {
				if d == id.value {
					return id.label, true
				}
			}
		case 'c':
			if p.CN != "" && p.CN == id.value {
				return id.label, true
			}
		}
	}
	return "", false
}

// HostAllowed reports whether any destination for host:port lists the
// client, and returns the first. The proxy asks before minting an
// interception certificate, so that it never mints one for a host policy
// does not allow.
func (e *Engine) HostAllowed(host string, port int, c ClientID) (*Dest, bool) {
	if _, ok := e.client(c); !ok {
		return nil, false
	}
	if i := e.destFor(host, port, c.Index); i >= 0 && e.dests[i].clients[c.Index] {
		return e.dests[i].dest, true
	}
	return nil, false
}

// destFor returns the destination for host:port: the first in file order
// that lists the client, among exact hosts and then "*." wildcards; failing
// that the first that matches at all (so a deny can name it); -1 if none.
func (e *Engine) destFor(host string, port, client int) int {
	first := -1
	if ds, ok := e.exact[hostKey{host, port}]; ok {
		for _, i := range ds {
			if e.dests[i].clients[client] {
				return i
			}
		}
		first = ds[0]
	}
	if dot := strings.IndexByte(host, '.'); dot > 0 {
		if ds, ok := e.wild[hostKey{host[dot+1:], port}]; ok {
			for _, i := range ds {
				if e.dests[i].clients[client] {
					return i
				}
			}
			if first < 0 {
				first = ds[0]
			}
		}
	}
	return first
}

// Decide answers one request. It does not allocate.
func (e *Engine) Decide(r *Request) Decision {
	dest, rule, reason := e.decide(r)
	d := Decision{Mode: e.mode, Rule: rule, Reason: reason}
	if dest >= 0 {
		d.Dest = e.dests[dest].dest
	}
	if rule != "" {
		d.Allow = true
	} else if e.monitor && reason != ReasonUnknownClient {
		// An invalid ClientID is a caller bug, not a policy question:
		// monitor mode does not soften it.
		d.Allow, d.WouldDeny = true, true
	}
	return d
}

// decide returns the destination index (-1 for none), the allowing rule id
// ("" for a deny) and the reason.
func (e *Engine) decide(r *Request) (int, string, string) {
	cl, ok := e.client(r.Client)
	if !ok {
		return -1, "", ReasonUnknownClient
	}
	di := e.destFor(r.Host, r.Port, r.Client.Index)
	if di < 0 {
		return -1, "", ReasonNoDestination
	}
	d := &e.dests[di]
	if !d.clients[r.Client.Index] {
		return di, "", ReasonClientNotAllowed
	}
	if r.Subject != "" && !validSubject(r.Subject) {
		return di, "", ReasonSubjectInvalid
	}
	if r.Subject != "" && !cl.subjectOK(r.Subject) {
		return di, "", ReasonSubjectNotAllowed
	}
	var buf [512]byte
	path, ok := cleanInto(r.Path, buf[:0])
	if !ok {
		return di, "", ReasonBadPath
	}
	needSubject := false
	for i := range d.rules {
		ru := &d.rules[i]
		if !ru.methodOK(r.Method) {
			continue
		}
		for j := range ru.patterns {
			p := &ru.patterns[j]
			if p.match(path, r.Subject, false) {
				return di, ru.id, ReasonAllowed
			}
			if r.Subject == "" && p.needsSubject && p.match(path, "", true) {
				needSubject = true
			}
		}
	}
	if needSubject {
		return di, "", ReasonSubjectRequired
	}
	return di, "", ReasonNoRule
}

func (cl *cClient) subjectOK(s string) bool {
	if !validSubject(s) {
		return false
	}
	for _, g := range cl.subjects {
		if globMatch(g, s) {
			return true
		}
	}
	return false
}

func (r *cRule) methodOK(m string) bool {
	for _, rm := range r.methods {
		if len(rm) != len(m) {
			continue
		}
		eq := true
		for i := 0; i < len(m); i++ {
			c := m[i]
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			if c != rm[i] {
				eq = false
				break
			}
		}
		if eq {
			return true
		}
	}
	return false
}
