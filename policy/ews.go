package policy

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// EWS decision reasons.
const (
	ReasonEWSNoPolicy        = "destination has no ews policy"
	ReasonEWSForeignDest     = "destination not from this policy"
	ReasonEWSMissing         = "ews request missing"
	ReasonEWSOperation       = "ews operation not allowed"
	ReasonEWSFolder          = "ews folder not allowed"
	ReasonEWSFolderID        = "ews folder id cannot be verified"
	ReasonEWSNoImpersonation = "ews impersonation missing"
	ReasonEWSImpersonation   = "ews impersonation does not match subject"
	ReasonEWSMailboxMismatch = "ews mailbox does not match subject"
)

type cEWS struct {
	ops     map[string]string // operation -> rule id
	folders map[string]bool
}

func (c *compiler) ews(f string, d *Destination) *cEWS {
	x := &cEWS{ops: map[string]string{}, folders: map[string]bool{}}
	p := d.EWS
	if p.Path != "" {
		pt, err := compilePattern(p.Path)
		if err != nil {
			c.errf(f+".path", "invalid path %q: %v", p.Path, err)
		} else {
			for _, s := range pt.segs {
				if s.kind != segLit {
					c.errf(f+".path", "path %q must be literal", p.Path)
					break
				}
			}
		}
	}
	if len(p.Operations) == 0 {
		c.errf(f+".operations", "at least one operation required")
	}
	for i, op := range p.Operations {
		if !validXMLName(op) {
			c.errf(fmt.Sprintf("%s.operations[%d]", f, i), "invalid operation %q", op)
			continue
		}
		x.ops[op] = d.Name + "#ews:" + op
	}
	for i, fo := range p.Folders {
		if !validXMLName(fo) {
			c.errf(fmt.Sprintf("%s.folders[%d]", f, i), "invalid distinguished folder %q", fo)
			continue
		}
		x.folders[strings.ToLower(fo)] = true
	}
	return x
}

func validXMLName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// DecideEWS checks an EWS SOAP request against the destination's ews
// policy: the operation must be listed, every distinguished folder listed,
// no folder named by opaque FolderId (the gateway cannot tell whose folder
// it is), and the impersonated address, like every mailbox a folder id
// names, must be the subject. The proxy calls it after Decide allowed the
// HTTP request for a Dest whose EWS is set.
func (e *Engine) DecideEWS(d *Dest, subject string, req *EWSRequest) Decision {
	rule, reason := e.decideEWS(d, subject, req)
	dec := Decision{Mode: e.mode, Rule: rule, Reason: reason, Dest: d}
	if rule != "" {
		dec.Allow = true
	} else if e.monitor && reason != ReasonEWSForeignDest {
		dec.Allow, dec.WouldDeny = true, true
	}
	return dec
}

func (e *Engine) decideEWS(d *Dest, subject string, req *EWSRequest) (string, string) {
	if d == nil || d.idx < 0 || d.idx >= len(e.dests) || e.dests[d.idx].dest != d {
		return "", ReasonEWSForeignDest
	}
	x := e.dests[d.idx].ews
	switch {
	case x == nil:
		return "", ReasonEWSNoPolicy
	case req == nil:
		return "", ReasonEWSMissing
	}
	rule, ok := x.ops[req.Operation]
	if !ok {
		return "", ReasonEWSOperation
	}
	if len(req.FolderIDs) > 0 {
		return "", ReasonEWSFolderID
	}
	for _, f := range req.Folders {
		if !x.folders[strings.ToLower(f)] {
			return "", ReasonEWSFolder
		}
	}
	if subject == "" {
		return "", ReasonSubjectRequired
	}
	if req.Impersonation == "" {
		return "", ReasonEWSNoImpersonation
	}
	if !strings.EqualFold(req.Impersonation, subject) {
		return "", ReasonEWSImpersonation
	}
	for _, m := range req.Mailboxes {
		if !strings.EqualFold(m, subject) {
			return "", ReasonEWSMailboxMismatch
		}
	}
	return rule, ReasonAllowed
}

// ErrEWSTooLarge is returned by ParseEWS for an envelope over the limit.
var ErrEWSTooLarge = errors.New("ews: envelope larger than limit")

const maxEWSDepth = 64

// ParseEWS reads a SOAP 1.1 EWS request of at most max bytes. Elements are
// matched by local name (EWS puts them in the .../2006/messages and
// .../2006/types namespaces under varying prefixes). It refuses a DOCTYPE
// or any other directive, more or fewer than one operation in the Body,
// more than one impersonation header, and content after the envelope.
func ParseEWS(r io.Reader, max int64) (*EWSRequest, error) {
	if max <= 0 {
		return nil, errors.New("ews: size limit must be positive")
	}
	cr := &capReader{r: r, left: max}
	dec := xml.NewDecoder(cr)
	dec.Strict = true
	out := &EWSRequest{}
	var (
		stack                       []string
		seenRoot, seenHdr, seenBody bool
		seenImp, seenAddr           bool
		capture                     *strings.Builder
		captureDepth                = -1
		captureTo                   func(string)
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if cr.over {
				return nil, ErrEWSTooLarge
			}
			return nil, fmt.Errorf("ews: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, errors.New("ews: DOCTYPE or other directive not allowed")
		case xml.CharData:
			if capture != nil {
				capture.Write(t)
			} else if len(stack) == 0 && strings.TrimSpace(string(t)) != "" {
				return nil, errors.New("ews: text outside the envelope")
			}
		case xml.StartElement:
			if capture != nil {
				return nil, fmt.Errorf("ews: unexpected element %s in an address", t.Name.Local)
			}
			if len(stack) >= maxEWSDepth {
				return nil, errors.New("ews: nesting too deep")
			}
			name := t.Name.Local
			depth := len(stack)
			switch {
			case depth == 0:
				if seenRoot || name != "Envelope" {
					return nil, fmt.Errorf("ews: root element %s, want a single Envelope", name)
				}
				seenRoot = true
			case depth == 1:
				switch {
				case name == "Header" && !seenHdr && !seenBody:
					seenHdr = true
				case name == "Body" && !seenBody:
					seenBody = true
				default:
					return nil, fmt.Errorf("ews: unexpected %s in Envelope", name)
				}
			case depth == 2 && stack[1] == "Header":
				if name == "ExchangeImpersonation" {
					if seenImp {
						return nil, errors.New("ews: more than one ExchangeImpersonation")
					}
					seenImp = true
				}
			case depth == 2 && stack[1] == "Body":
				if out.Operation != "" {
					return nil, errors.New("ews: more than one operation in Body")
				}
				out.Operation = name
			case depth == 4 && stack[2] == "ExchangeImpersonation" && stack[3] == "ConnectingSID" &&
				(name == "PrimarySmtpAddress" || name == "SmtpAddress"):
				if seenAddr {
					return nil, errors.New("ews: more than one impersonation address")
				}
				seenAddr = true
				capture, captureDepth = &strings.Builder{}, depth
				captureTo = func(s string) { out.Impersonation = s }
			case depth > 2 && stack[1] == "Body":
				switch name {
				case "DistinguishedFolderId":
					id, ok := attr(t, "Id")
					if !ok || id == "" {
						return nil, errors.New("ews: DistinguishedFolderId without Id")
					}
					out.Folders = append(out.Folders, strings.ToLower(id))
				case "FolderId":
					id, ok := attr(t, "Id")
					if !ok || id == "" {
						return nil, errors.New("ews: FolderId without Id")
					}
					out.FolderIDs = append(out.FolderIDs, id)
				case "EmailAddress":
					if depth >= 4 && stack[depth-1] == "Mailbox" && stack[depth-2] == "DistinguishedFolderId" {
						capture, captureDepth = &strings.Builder{}, depth
						captureTo = func(s string) { out.Mailboxes = append(out.Mailboxes, s) }
					}
				}
			}
			stack = append(stack, name)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			if capture != nil && len(stack) == captureDepth {
				captureTo(strings.TrimSpace(capture.String()))
				capture, captureDepth, captureTo = nil, -1, nil
			}
		}
	}
	if cr.over {
		return nil, ErrEWSTooLarge
	}
	switch {
	case !seenRoot:
		return nil, errors.New("ews: no Envelope")
	case !seenBody:
		return nil, errors.New("ews: no Body")
	case out.Operation == "":
		return nil, errors.New("ews: no operation in Body")
	}
	return out, nil
}

func attr(t xml.StartElement, local string) (string, bool) {
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// capReader fails once more than left bytes have been read.
type capReader struct {
	r    io.Reader
	left int64
	over bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.over {
		return 0, ErrEWSTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		c.over = true
		return 0, ErrEWSTooLarge
	}
	return n, err
}
