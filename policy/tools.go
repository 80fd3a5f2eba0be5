package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Warnings lists risky but valid choices in a policy, for `policy lint`:
// a rule allowing every path, system roots, monitor mode, clients allowed
// from any address, and clients with identities that list loopback sources
// (the plain loopback listener never identifies them).
func Warnings(p *Policy) []string {
	var out []string
	warn := func(field, format string, args ...any) {
		e := &Error{File: p.File, Line: p.line(field), Field: field, Msg: "warning: " + fmt.Sprintf(format, args...)}
		out = append(out, e.Error())
	}
	if len(p.Destinations) == 0 {
		warn("", "no destinations: every request is denied")
	}
	if p.Mode == ModeMonitor {
		warn("mode", "monitor mode allows every request; denials are only audited")
	}
	names := make([]string, 0, len(p.CABundles))
	for n := range p.CABundles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if p.CABundles[n].System {
			warn("ca_bundles."+n, "bundle %q trusts every system root", n)
		}
	}
	for i, c := range p.Clients {
		for j, s := range c.Sources {
			if pfx, err := parseSource(s); err == nil && pfx.Bits() == 0 {
				warn(fmt.Sprintf("clients[%d].sources[%d]", i, j), "client %q is allowed from any address", c.Name)
			}
		}
	}
	// The plain loopback listener identifies only clients without
	// identities, by source address (see Identify): a client with identities
	// that lists a loopback source is never identified there.
	for i, c := range p.Clients {
		if len(c.Identities) == 0 {
			continue
		}
		for j, s := range c.Sources {
			pfx, err := parseSource(s)
			if err != nil || pfx.Bits() == 0 {
				continue // any address: warned above
			}
			if pfx.Overlaps(loopback4) || pfx.Overlaps(loopback6) {
				warn(fmt.Sprintf("clients[%d].sources[%d]", i, j),
					"client %q has identities, so it is identified only by its client certificate: the loopback source %s applies to the TLS listener, and plain_listen, which identifies only clients without identities by source address, never identifies it (define a client without identities for plain-listener sidecars)",
					c.Name, s)
			}
		}
	}
	for i, d := range p.Destinations {
		if b, ok := p.CABundles[d.TLS.CABundle]; ok && b.System {
			warn(fmt.Sprintf("destinations[%d].tls.ca_bundle", i), "destination %q verifies upstream TLS against system roots", d.Name)
		}
		for j, r := range d.Rules {
			for k, ps := range r.Paths {
				if ps == "/**" {
					warn(fmt.Sprintf("destinations[%d].rules[%d].paths[%d]", i, j, k), "destination %q: rule allows every path", d.Name)
				}
			}
		}
	}
	return out
}

var (
	loopback4 = netip.MustParsePrefix("127.0.0.0/8")
	loopback6 = netip.MustParsePrefix("::1/128")
)

// Query is one hypothetical request, as `policy explain` and `policy test`
// describe it: a client by name instead of a certificate.
type Query struct {
	Client       string
	Source       string
	Method       string
	URL          string
	Subject      string
	EWSOperation string   // when set, the request is also checked as EWS
	EWSFolders   []string // distinguished folders of the EWS request
}

// Explanation is a decision with the request it was made for; its JSON form
// is the output of `policy explain`.
type Explanation struct {
	Allow       bool   `json:"allow"`
	Mode        string `json:"mode"`
	WouldDeny   bool   `json:"would_deny"`
	Rule        string `json:"rule"`
	Reason      string `json:"reason"`
	Destination string `json:"destination"`
	Client      string `json:"client"`
	Host        string `json:"host"`
	Port        int    `json:"port"`
	Path        string `json:"path"`
}

// Explain decides a Query. The error is for a bad query (unknown client,
// bad source, bad URL), never for a deny. A source outside the client's
// sources is a deny whatever the mode: identification is not policy, and
// the gateway refuses such a connection before Decide.
func (e *Engine) Explain(q Query) (Explanation, error) {
	c, ok := e.ClientByName(q.Client)
	if !ok {
		return Explanation{}, fmt.Errorf("unknown client %q", q.Client)
	}
	src, err := netip.ParseAddr(q.Source)
	if err != nil {
		return Explanation{}, fmt.Errorf("invalid source address %q", q.Source)
	}
	if !validMethod(q.Method) {
		return Explanation{}, fmt.Errorf("invalid method %q", q.Method)
	}
	u, err := url.Parse(q.URL)
	if err != nil {
		return Explanation{}, fmt.Errorf("invalid url: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return Explanation{}, errors.New("url must be absolute http:// or https://")
	}
	// Origination upgrades http:// to TLS upstream, so both schemes default
	// to 443.
	host, port, err := SplitHostPort(u.Host, 443)
	if err != nil {
		return Explanation{}, fmt.Errorf("invalid url host: %w", err)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	x := Explanation{Mode: e.mode, Client: c.Name, Host: host, Port: port, Path: path}
	if !e.SourceAllowed(c, src) {
		x.Reason = ReasonSourceDenied
		return x, nil
	}
	d := e.Decide(&Request{Client: c, Method: strings.ToUpper(q.Method), Host: host, Port: port, Path: path, Subject: q.Subject})
	if d.Allow && !d.WouldDeny && q.EWSOperation != "" {
		if d.Dest == nil || d.Dest.EWS == nil {
			return Explanation{}, fmt.Errorf("ews operation given but destination %q has no ews policy", destName(d.Dest))
		}
		folders := make([]string, len(q.EWSFolders))
		for i, f := range q.EWSFolders {
			folders[i] = strings.ToLower(f)
		}
		// Only the operation, its folders and the impersonation can be
		// explained without an envelope; the checks that read one (item
		// ids, item classes, send options) run in the gateway.
		d = e.decideEWSDecision(d.Dest, q.Subject, &EWSRequest{Operation: q.EWSOperation, Folders: folders, Impersonation: q.Subject}, false)
	}
	x.Allow, x.WouldDeny, x.Rule, x.Reason = d.Allow, d.WouldDeny, d.Rule, d.Reason
	x.Destination = destName(d.Dest)
	return x, nil
}

func destName(d *Dest) string {
	if d == nil {
		return ""
	}
	return d.Name
}

// Case is one entry of a `policy test` cases file.
type Case struct {
	Name         string   `yaml:"name"`
	Client       string   `yaml:"client"`
	Source       string   `yaml:"source"`
	Method       string   `yaml:"method"`
	URL          string   `yaml:"url"`
	Subject      string   `yaml:"subject"`
	EWSOperation string   `yaml:"ews_operation"`
	EWSFolders   []string `yaml:"ews_folders"`
	Expect       string   `yaml:"expect"` // allow | deny
	Rule         string   `yaml:"rule"`   // when set, the allowing rule must be this one
}

// LoadCases reads a cases file strictly.
func LoadCases(path string) ([]Case, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	var cases []Case
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cases); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("cases: %s: empty", path)
		}
		return nil, fmt.Errorf("cases: %w", yamlErrors(path, err))
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("cases: %s: no cases", path)
	}
	for i, c := range cases {
		switch {
		case c.Name == "":
			return nil, fmt.Errorf("cases: %s: case %d: name required", path, i+1)
		case c.Expect != "allow" && c.Expect != "deny":
			return nil, fmt.Errorf("cases: %s: case %q: expect must be allow or deny", path, c.Name)
		case c.Rule != "" && c.Expect != "allow":
			return nil, fmt.Errorf("cases: %s: case %q: rule only with expect: allow", path, c.Name)
		}
	}
	return cases, nil
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	Pass bool
	Got  Explanation
	Msg  string // why it failed
}

// RunCase decides one case. A monitor-mode would-deny counts as deny: the
// cases describe what the policy means, not what monitor mode lets through.
// The error is for a case that cannot be evaluated (a bad file).
func (e *Engine) RunCase(c Case) (CaseResult, error) {
	x, err := e.Explain(Query{Client: c.Client, Source: c.Source, Method: c.Method, URL: c.URL, Subject: c.Subject, EWSOperation: c.EWSOperation, EWSFolders: c.EWSFolders})
	if err != nil {
		return CaseResult{}, fmt.Errorf("case %q: %w", c.Name, err)
	}
	allowed := x.Allow && !x.WouldDeny
	r := CaseResult{Got: x, Pass: true}
	switch {
	case c.Expect == "allow" && !allowed:
		r.Pass, r.Msg = false, "expected allow, got deny ("+x.Reason+")"
	case c.Expect == "deny" && allowed:
		r.Pass, r.Msg = false, "expected deny, got allow by rule "+x.Rule
	case c.Rule != "" && x.Rule != c.Rule:
		r.Pass, r.Msg = false, fmt.Sprintf("expected rule %q, got %q", c.Rule, x.Rule)
	}
	return r, nil
}
