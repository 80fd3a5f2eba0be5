package policy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

const (
	// DefaultEWSPath is the EWS endpoint when ews.path is not set.
	DefaultEWSPath = "/EWS/Exchange.asmx"

	ModeEnforce = "enforce"
	ModeMonitor = "monitor"
)

// Engine is a compiled policy. It is immutable once built and safe for
// concurrent use; a reload builds a new Engine.
type Engine struct {
	policy  *Policy
	mode    string
	monitor bool
	clients []cClient
	dests   []cDest
	exact   map[hostKey][]int // host:port -> destination indexes, file order
	wild    map[hostKey][]int // parent domain of a "*." host -> destinations
	byName  map[string]int
}

type hostKey struct {
	host string
	port int
}

type cClient struct {
	name       string
	identities []cIdentity
	sources    []netip.Prefix
	subjects   []string
}

type cIdentity struct {
	kind  byte // 'u', 'd', 'c'
	value string
	label string // "uri:...", precomputed for ClientID.Identity
}

type cDest struct {
	dest    *Dest
	clients []bool // indexed by client index
	rules   []cRule
	ews     *cEWS
}

type cRule struct {
	id       string
	methods  []string // upper case
	patterns []pattern
}

// Compile validates p completely, reads the CA bundle files it names, and
// builds the matcher. Errors are an ErrorList.
func Compile(p *Policy) (*Engine, error) {
	e, errs := compile(p, true)
	if len(errs) > 0 {
		return nil, errs
	}
	return e, nil
}

type compiler struct {
	p    *Policy
	errs ErrorList
}

func (c *compiler) errf(field, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.p.File, Line: c.p.line(field), Field: field, Msg: fmt.Sprintf(format, args...)})
}

func compile(p *Policy, readFiles bool) (*Engine, ErrorList) {
	if p == nil {
		return nil, ErrorList{{Msg: "nil policy"}}
	}
	c := &compiler{p: p}
	e := &Engine{
		policy: p,
		exact:  map[hostKey][]int{},
		wild:   map[hostKey][]int{},
		byName: map[string]int{},
	}
	if p.Version != 1 {
		c.errf("version", "version must be 1, got %d", p.Version)
	}
	switch p.Mode {
	case "", ModeEnforce:
		e.mode = ModeEnforce
	case ModeMonitor:
		e.mode, e.monitor = ModeMonitor, true
	default:
		c.errf("mode", "mode must be enforce or monitor, got %q", p.Mode)
		e.mode = ModeEnforce
	}
	pools := c.bundles(readFiles)
	c.clients(e)
	c.destinations(e, pools)
	return e, c.errs
}

type bundle struct {
	pool   *x509.CertPool
	system bool
}

func (c *compiler) bundles(readFiles bool) map[string]bundle {
	out := map[string]bundle{}
	for name, b := range c.p.CABundles {
		f := "ca_bundles." + name
		if name == "" {
			c.errf(f, "empty bundle name")
			continue
		}
		switch {
		case b.System && len(b.Files) > 0:
			c.errf(f, "system and files are exclusive")
			continue
		case b.System:
			out[name] = bundle{system: true}
			continue
		case len(b.Files) == 0:
			c.errf(f, "no files (set system: true to use the system roots)")
			continue
		}
		var pool *x509.CertPool
		if readFiles {
			pool = x509.NewCertPool()
		}
		ok := true
		for i, file := range b.Files {
			ff := fmt.Sprintf("%s.files[%d]", f, i)
			if file == "" {
				c.errf(ff, "empty file name")
				ok = false
				continue
			}
			if !readFiles {
				continue
			}
			path := file
			if !filepath.IsAbs(path) {
				path = filepath.Join(c.p.Dir, path)
			}
			if err := addPEM(pool, path); err != nil {
				c.errf(ff, "%v", err)
				ok = false
			}
		}
		if ok {
			out[name] = bundle{pool: pool}
		} else {
			out[name] = bundle{} // known name, so references do not also fail
		}
	}
	return out
}

func addPEM(pool *x509.CertPool, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read CA bundle: %w", err)
	}
	n := 0
	for rest := data; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return fmt.Errorf("CA bundle %s: unexpected PEM block %q", path, blk.Type)
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return fmt.Errorf("CA bundle %s: certificate %d: %w", path, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return fmt.Errorf("CA bundle %s: no certificate", path)
	}
	return nil
}

func (c *compiler) clients(e *Engine) {
	for i, cl := range c.p.Clients {
		f := fmt.Sprintf("clients[%d]", i)
		cc := cClient{name: cl.Name}
		switch {
		case cl.Name == "":
			c.errf(f+".name", "client name required")
		case strings.ContainsAny(cl.Name, " \t\r\n#,"):
			c.errf(f+".name", "client name %q contains a space, # or comma", cl.Name)
		default:
			if _, dup := e.byName[cl.Name]; dup {
				c.errf(f+".name", "duplicate client %q", cl.Name)
			} else {
				e.byName[cl.Name] = i
			}
		}
		for j, id := range cl.Identities {
			ff := fmt.Sprintf("%s.identities[%d]", f, j)
			set := 0
			for _, v := range []string{id.URI, id.DNS, id.CN} {
				if v != "" {
					set++
				}
			}
			if set != 1 {
				c.errf(ff, "exactly one of uri, dns, cn must be set")
				continue
			}
			switch {
			case id.URI != "":
				if u, err := url.Parse(id.URI); err != nil || u.Scheme == "" {
					c.errf(ff+".uri", "invalid URI %q", id.URI)
					continue
				}
				cc.identities = append(cc.identities, cIdentity{kind: 'u', value: id.URI, label: "uri:" + id.URI})
			case id.DNS != "":
				h, err := NormalizeHost(id.DNS)
				if err != nil || h != id.DNS {
					c.errf(ff+".dns", "invalid DNS name %q (lower case, no trailing dot)", id.DNS)
					continue
				}
				cc.identities = append(cc.identities, cIdentity{kind: 'd', value: id.DNS, label: "dns:" + id.DNS})
			default:
				cc.identities = append(cc.identities, cIdentity{kind: 'c', value: id.CN, label: "cn:" + id.CN})
			}
		}
		if len(cl.Sources) == 0 {
			c.errf(f+".sources", "at least one source CIDR required (0.0.0.0/0 and ::/0 allow any)")
		}
		for j, s := range cl.Sources {
			ff := fmt.Sprintf("%s.sources[%d]", f, j)
			pfx, err := parseSource(s)
			if err != nil {
				c.errf(ff, "%v", err)
				continue
			}
			cc.sources = append(cc.sources, pfx)
		}
		for j, g := range cl.Subjects {
			ff := fmt.Sprintf("%s.subjects[%d]", f, j)
			if err := validGlob(g); err != nil {
				c.errf(ff, "%v", err)
				continue
			}
			cc.subjects = append(cc.subjects, asciiLower(g))
		}
		e.clients = append(e.clients, cc)
	}
}

// parseSource accepts a CIDR, or a bare address as a single-host prefix. A
// prefix with host bits set is refused: "10.20.1.0/16" is almost always a
// typo, and silently masking it would widen the grant.
func parseSource(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
	}
	if pfx.Masked() != pfx {
		return netip.Prefix{}, fmt.Errorf("CIDR %q has host bits set (did you mean %s?)", s, pfx.Masked())
	}
	if pfx.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("CIDR %q: write IPv4-mapped ranges as IPv4", s)
	}
	return pfx, nil
}

func (c *compiler) destinations(e *Engine, pools map[string]bundle) {
	ids := map[string]string{}
	names := map[string]bool{}
	for i := range c.p.Destinations {
		d := &c.p.Destinations[i]
		f := fmt.Sprintf("destinations[%d]", i)
		cd := cDest{dest: &Dest{Name: d.Name, idx: i, ClientCert: d.ClientCert, Credential: d.Credential}, clients: make([]bool, len(c.p.Clients))}
		switch {
		case d.Name == "":
			c.errf(f+".name", "destination name required")
		case strings.ContainsAny(d.Name, " \t\r\n#"):
			c.errf(f+".name", "destination name %q contains a space or #", d.Name)
		case names[d.Name]:
			c.errf(f+".name", "duplicate destination %q", d.Name)
		}
		names[d.Name] = true

		port := d.Port
		if port == 0 {
			port = 443
		}
		if port < 1 || port > 65535 {
			c.errf(f+".port", "port %d out of range", d.Port)
		}
		cd.dest.Port = port

		if len(d.Hosts) == 0 {
			c.errf(f+".hosts", "at least one host required")
		}
		for j, h := range d.Hosts {
			ff := fmt.Sprintf("%s.hosts[%d]", f, j)
			wild := strings.HasPrefix(h, "*.")
			name := h
			if wild {
				name = h[2:]
			}
			n, err := NormalizeHost(name)
			if err != nil {
				c.errf(ff, "invalid host %q: %v", h, err)
				continue
			}
			if wild {
				if _, err := netip.ParseAddr(n); err != nil && strings.Contains(n, ".") {
					k := hostKey{n, port}
					e.wild[k] = append(e.wild[k], i)
				} else {
					c.errf(ff, "wildcard %q must name a domain with at least two labels", h)
				}
				continue
			}
			k := hostKey{n, port}
			e.exact[k] = append(e.exact[k], i)
		}

		c.tls(f+".tls", &d.TLS, cd.dest, pools)

		if len(d.Clients) == 0 {
			c.errf(f+".clients", "at least one client required")
		}
		for j, cn := range d.Clients {
			idx, ok := e.byName[cn]
			if !ok {
				c.errf(fmt.Sprintf("%s.clients[%d]", f, j), "unknown client %q", cn)
				continue
			}
			cd.clients[idx] = true
		}

		rules := d.Rules
		if d.EWS != nil {
			cd.ews = c.ews(f+".ews", d)
			ep := *d.EWS
			if ep.Path == "" {
				ep.Path = DefaultEWSPath
			}
			cd.dest.EWS = &ep
			if len(rules) == 0 {
				rules = []Rule{{Methods: []string{"POST"}, Paths: []string{ep.Path}}}
			}
		} else if len(rules) == 0 {
			c.errf(f+".rules", "no rules: the destination would allow nothing")
		}
		for j, r := range rules {
			ff := fmt.Sprintf("%s.rules[%d]", f, j)
			cr := cRule{id: r.ID}
			if cr.id == "" {
				cr.id = fmt.Sprintf("%s#%d", d.Name, j)
			}
			if prev, dup := ids[cr.id]; dup {
				c.errf(ff+".id", "duplicate rule id %q (also %s)", cr.id, prev)
			}
			ids[cr.id] = ff
			if len(r.Methods) == 0 {
				c.errf(ff+".methods", "at least one method required")
			}
			for k, m := range r.Methods {
				if !validMethod(m) {
					c.errf(fmt.Sprintf("%s.methods[%d]", ff, k), "invalid method %q", m)
					continue
				}
				cr.methods = append(cr.methods, strings.ToUpper(m))
			}
			if len(r.Paths) == 0 {
				c.errf(ff+".paths", "at least one path required")
			}
			for k, ps := range r.Paths {
				pt, err := compilePattern(ps)
				if err != nil {
					c.errf(fmt.Sprintf("%s.paths[%d]", ff, k), "invalid path pattern %q: %v", ps, err)
					continue
				}
				cr.patterns = append(cr.patterns, pt)
			}
			cd.rules = append(cd.rules, cr)
		}
		e.dests = append(e.dests, cd)
	}
}

func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

func (c *compiler) tls(f string, t *TLSPolicy, d *Dest, pools map[string]bundle) {
	switch t.MinVersion {
	case "", "1.2":
		d.MinTLS = tls.VersionTLS12
	case "1.3":
		d.MinTLS = tls.VersionTLS13
	default:
		c.errf(f+".min_version", "min_version must be \"1.2\" or \"1.3\", got %q", t.MinVersion)
	}
	_, known := c.p.CABundles[t.CABundle]
	switch {
	case t.CABundle == "":
		c.errf(f+".ca_bundle", "ca_bundle required")
	case !known:
		c.errf(f+".ca_bundle", "unknown CA bundle %q", t.CABundle)
	default:
		b := pools[t.CABundle]
		d.CABundle = t.CABundle
		d.Roots = b.pool
		d.SystemRoots = b.system
	}
	for i, pin := range t.SPKIPins {
		raw, err := base64.StdEncoding.DecodeString(pin)
		if err != nil || len(raw) != 32 {
			c.errf(fmt.Sprintf("%s.spki_pins[%d]", f, i), "pin must be base64 of a 32-byte SHA-256, got %q", pin)
			continue
		}
		d.Pins = append(d.Pins, [32]byte(raw))
	}
}

// Mode is "enforce" or "monitor".
func (e *Engine) Mode() string { return e.mode }

// Policy returns the policy this engine was compiled from. Callers must not
// modify it.
func (e *Engine) Policy() *Policy { return e.policy }

// ClientByName finds a client by its policy name (for the CLI, which names
// clients instead of presenting certificates).
func (e *Engine) ClientByName(name string) (ClientID, bool) {
	i, ok := e.byName[name]
	if !ok {
		return ClientID{}, false
	}
	return ClientID{Name: name, Index: i, Identity: "name:" + name}, true
}

// SourceAllowed reports whether addr is inside the client's sources.
func (e *Engine) SourceAllowed(c ClientID, addr netip.Addr) bool {
	cl, ok := e.client(c)
	return ok && cl.sourceOK(addr)
}

func (e *Engine) client(c ClientID) (*cClient, bool) {
	if c.Index < 0 || c.Index >= len(e.clients) || e.clients[c.Index].name != c.Name || c.Name == "" {
		return nil, false
	}
	return &e.clients[c.Index], true
}

func (cl *cClient) sourceOK(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range cl.sources {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
