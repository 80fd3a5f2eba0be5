package ews

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// XML namespaces of SOAP 1.1 and the EWS messages and types schemas.
const (
	NSSoap     = "http://schemas.xmlsoap.org/soap/envelope/"
	NSMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
	NSTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
	NSErrors   = "http://schemas.microsoft.com/exchange/services/2006/errors"
)

// Parser limits; requests beyond them are rejected, not truncated.
const (
	maxDepth = 64
	maxNodes = 50000
	maxAttrs = 32
)

// Node is one XML element of a request, with namespaces resolved.
type Node struct {
	Space, Local string
	Attr         []xml.Attr
	Text         string // character data directly inside the element, trimmed
	Kids         []*Node
}

// Child returns the first child element with the given namespace and local
// name, or nil.
func (n *Node) Child(space, local string) *Node {
	if n == nil {
		return nil
	}
	for _, k := range n.Kids {
		if k.Local == local && k.Space == space {
			return k
		}
	}
	return nil
}

// Children returns every child element with the given namespace and name.
func (n *Node) Children(space, local string) []*Node {
	if n == nil {
		return nil
	}
	var out []*Node
	for _, k := range n.Kids {
		if k.Local == local && k.Space == space {
			out = append(out, k)
		}
	}
	return out
}

// AttrValue returns the value of the un-namespaced attribute name.
func (n *Node) AttrValue(name string) (string, bool) {
	if n == nil {
		return "", false
	}
	for _, a := range n.Attr {
		if a.Name.Local == name && (a.Name.Space == "" || a.Name.Space == n.Space) {
			return a.Value, true
		}
	}
	return "", false
}

// Walk calls fn for n and every descendant, depth first.
func (n *Node) Walk(fn func(*Node)) {
	if n == nil {
		return
	}
	fn(n)
	for _, k := range n.Kids {
		k.Walk(fn)
	}
}

// Impersonation is the ExchangeImpersonation SOAP header's ConnectingSID.
type Impersonation struct {
	PrimarySmtpAddress string
	SmtpAddress        string
	PrincipalName      string
	SID                string
}

// Address returns the SMTP address (or UPN) the request acts as.
func (i *Impersonation) Address() string {
	switch {
	case i == nil:
		return ""
	case i.PrimarySmtpAddress != "":
		return i.PrimarySmtpAddress
	case i.SmtpAddress != "":
		return i.SmtpAddress
	}
	return i.PrincipalName
}

// Request is a parsed EWS SOAP request.
type Request struct {
	// Version is RequestServerVersion/@Version ("" when the header is absent).
	Version string
	// Impersonation is nil when the ExchangeImpersonation header is absent.
	Impersonation *Impersonation
	// Operation is the local name of the single element in soap:Body, in the
	// messages namespace (SyncFolderItems, GetItem, ...).
	Operation string
	// Body is that operation element.
	Body *Node
	// Header holds the soap:Header children.
	Header []*Node
}

// DistinguishedFolders lists every t:DistinguishedFolderId/@Id in the
// operation, in document order.
func (r *Request) DistinguishedFolders() []string {
	var out []string
	r.Body.Walk(func(n *Node) {
		if n.Space == NSTypes && n.Local == "DistinguishedFolderId" {
			id, _ := n.AttrValue("Id")
			out = append(out, id)
		}
	})
	return out
}

// ParseError is a request that is not a well-formed EWS SOAP envelope.
type ParseError struct{ Msg string }

func (e *ParseError) Error() string { return "ews: malformed request: " + e.Msg }

func perr(format string, a ...any) error { return &ParseError{Msg: fmt.Sprintf(format, a...)} }

// ErrTooLarge reports a request body larger than the parser's limit.
var ErrTooLarge = errors.New("ews: request body exceeds the size limit")

// ParseRequest reads one SOAP 1.1 EWS request of at most max bytes. It
// rejects DOCTYPE and entity declarations, processing instructions other
// than the XML declaration, more than one operation in the body, and
// documents deeper or larger than fixed limits.
func ParseRequest(r io.Reader, max int64) (*Request, error) {
	if max <= 0 {
		return nil, errors.New("ews: ParseRequest needs a positive size limit")
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("ews: read request: %w", err)
	}
	if int64(len(data)) > max {
		return nil, ErrTooLarge
	}
	root, err := parseTree(data)
	if err != nil {
		return nil, err
	}
	if root.Space != NSSoap || root.Local != "Envelope" {
		return nil, perr("root element is not a SOAP 1.1 Envelope")
	}
	req := &Request{}
	var body *Node
	for _, k := range root.Kids {
		switch {
		case k.Space == NSSoap && k.Local == "Header" && body == nil && req.Header == nil:
			req.Header = k.Kids
			if req.Header == nil {
				req.Header = []*Node{}
			}
		case k.Space == NSSoap && k.Local == "Body" && body == nil:
			body = k
		default:
			return nil, perr("unexpected element %s in Envelope", truncate(k.Local, 40))
		}
	}
	if body == nil {
		return nil, perr("Envelope has no Body")
	}
	if len(body.Kids) != 1 {
		return nil, perr("Body must hold exactly one operation, found %d", len(body.Kids))
	}
	op := body.Kids[0]
	if op.Space != NSMessages {
		return nil, perr("operation %s is not in the EWS messages namespace", truncate(op.Local, 40))
	}
	req.Operation, req.Body = op.Local, op
	for _, h := range req.Header {
		if h.Space != NSTypes {
			continue
		}
		switch h.Local {
		case "RequestServerVersion":
			req.Version, _ = h.AttrValue("Version")
		case "ExchangeImpersonation":
			sid := h.Child(NSTypes, "ConnectingSID")
			if sid == nil {
				return nil, perr("ExchangeImpersonation without ConnectingSID")
			}
			imp := &Impersonation{}
			for _, k := range sid.Kids {
				if k.Space != NSTypes {
					continue
				}
				switch k.Local {
				case "PrimarySmtpAddress":
					imp.PrimarySmtpAddress = k.Text
				case "SmtpAddress":
					imp.SmtpAddress = k.Text
				case "PrincipalName":
					imp.PrincipalName = k.Text
				case "SID":
					imp.SID = k.Text
				}
			}
			if imp.Address() == "" && imp.SID == "" {
				return nil, perr("ConnectingSID names no user")
			}
			req.Impersonation = imp
		}
	}
	return req, nil
}

func parseTree(data []byte) (*Node, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.Entity = nil // only the five predefined entities
	var stack []*Node
	var root *Node
	nodes := 0
	sawDecl := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, perr("XML syntax: %s", truncate(err.Error(), 120))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			nodes++
			if nodes > maxNodes {
				return nil, perr("too many elements")
			}
			if len(stack) >= maxDepth {
				return nil, perr("elements nested too deeply")
			}
			if len(t.Attr) > maxAttrs {
				return nil, perr("too many attributes on %s", truncate(t.Name.Local, 40))
			}
			n := &Node{Space: t.Name.Space, Local: t.Name.Local}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" && a.Name.Space == "" {
					continue
				}
				n.Attr = append(n.Attr, a)
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, perr("more than one root element")
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.Kids = append(p.Kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			n := stack[len(stack)-1]
			n.Text = strings.TrimSpace(n.Text)
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, perr("text outside the root element")
				}
				continue
			}
			n := stack[len(stack)-1]
			if len(n.Text)+len(t) > 1<<20 {
				return nil, perr("text too long")
			}
			n.Text += string(t)
		case xml.Directive:
			return nil, perr("DOCTYPE and entity declarations are not allowed")
		case xml.ProcInst:
			if t.Target != "xml" || sawDecl || root != nil {
				return nil, perr("processing instructions are not allowed")
			}
			sawDecl = true
		case xml.Comment:
		}
	}
	if root == nil {
		return nil, perr("empty document")
	}
	return root, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
