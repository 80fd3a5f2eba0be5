package policy

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// XML namespaces of SOAP 1.1 and the EWS schemas. The parser matches
// elements on namespace and local name, as Exchange does: an element that
// only looks like an EWS element (same local name, another namespace) is
// one Exchange ignores or rejects, so the gateway must not act on it.
const (
	NSSOAP        = "http://schemas.xmlsoap.org/soap/envelope/"
	NSEWSMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
	NSEWSTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
	nsXSI         = "http://www.w3.org/2001/XMLSchema-instance"
)

// EWS decision reasons.
const (
	ReasonEWSNoPolicy        = "destination has no ews policy"
	ReasonEWSForeignDest     = "destination not from this policy"
	ReasonEWSMissing         = "ews request missing"
	ReasonEWSOperation       = "ews operation not allowed"
	ReasonEWSUnsupported     = "ews operation not supported by the gateway"
	ReasonEWSFolder          = "ews folder not allowed"
	ReasonEWSFolderID        = "ews folder id cannot be verified"
	ReasonEWSNoImpersonation = "ews impersonation missing"
	ReasonEWSImpersonation   = "ews impersonation does not match subject"
	ReasonEWSMailboxMismatch = "ews mailbox does not match subject"
	ReasonEWSSendsMail       = "ews request would send mail"
	ReasonEWSMeeting         = "ews request would send meeting messages"
	ReasonEWSTargetFolder    = "ews operation must name its target folder: exactly one allowed distinguished folder"
	ReasonEWSItemClass       = "ews item class not allowed in the target folder"
	ReasonEWSNoItems         = "ews request names no item"
	ReasonEWSItemUnknown     = "ews item id not relayed from an allowed folder for this subject"
	ReasonEWSItemIDForm      = "ews item reference the gateway cannot tie to a folder"
	ReasonEWSMove            = "ews UpdateItem must not move items"
	ReasonEWSTraversal       = "ews FindItem traversal must be Shallow"
)

// ewsOps are the operations the gateway understands well enough to keep
// inside the listed folders (decideShape says how for each). Listing any
// other operation is a policy error: an operation the gateway cannot read
// (GetAttachment by attachment id, ExportItems, ApplyConversationAction, ...)
// could reach items anywhere in the mailbox.
var ewsOps = []string{"CopyItem", "CreateItem", "DeleteItem", "FindItem", "GetFolder", "GetItem", "MoveItem", "SyncFolderItems", "UpdateItem"}

// ewsFolderClasses are the item classes CreateItem may put in a folder:
// those the distinguished folder holds. Other folders take no new items,
// and t:Message never goes anywhere.
var ewsFolderClasses = map[string]string{"contacts": "Contact", "calendar": "CalendarItem"}

// ewsMeetingModes are the values of the attributes that control meeting
// messages (CalendarItemCreateOrDeleteOperationType and
// CalendarItemUpdateOperationType in messages.xsd).
var ewsMeetingModes = []string{"SendToNone", "SendOnlyToAll", "SendOnlyToChanged", "SendToAllAndSaveCopy", "SendToChangedAndSaveCopy"}

// ewsMeetingAttrs are the operation attributes that send meeting messages.
var ewsMeetingAttrs = []string{"SendMeetingInvitations", "SendMeetingInvitationsOrCancellations", "SendMeetingCancellations"}

type cEWS struct {
	ops     map[string]string // operation -> rule id
	folders map[string]bool
	meeting map[string]bool // allowed meeting-message modes; always SendToNone
}

func (c *compiler) ews(f string, d *Destination) *cEWS {
	x := &cEWS{ops: map[string]string{}, folders: map[string]bool{}, meeting: map[string]bool{"SendToNone": true}}
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
		ff := fmt.Sprintf("%s.operations[%d]", f, i)
		switch {
		case !validXMLName(op):
			c.errf(ff, "invalid operation %q", op)
			continue
		case op == "SendItem":
			c.errf(ff, "operation SendItem sends mail; the gateway never allows it")
			continue
		case !slices.Contains(ewsOps, op):
			c.errf(ff, "operation %q is not supported: the gateway can keep only %s inside the listed folders", op, strings.Join(ewsOps, ", "))
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
	for i, m := range p.SendMeetingInvitations {
		if !slices.Contains(ewsMeetingModes, m) {
			c.errf(fmt.Sprintf("%s.send_meeting_invitations[%d]", f, i), "invalid meeting-message mode %q (one of %s)", m, strings.Join(ewsMeetingModes, ", "))
			continue
		}
		x.meeting[m] = true
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
// policy. Nothing may send mail (SendItem, a MessageDisposition other than
// SaveOnly, a meeting-message mode the policy does not list); monitor mode
// does not soften that. Then the operation must be listed and supported,
// every distinguished folder listed, no folder named by opaque FolderId
// (the gateway cannot tell which folder it is), the impersonated address,
// like every mailbox a folder id names, must be the subject, and the
// request must have the shape decideShape requires of its operation: item
// ids only ones the gateway relayed from an allowed folder for this subject
// (req.ItemFolders, filled by EWSItems.Resolve), new items only of the
// target folder's class. The proxy calls it after Decide allowed the HTTP
// request for a Dest whose EWS is set.
func (e *Engine) DecideEWS(d *Dest, subject string, req *EWSRequest) Decision {
	return e.decideEWSDecision(d, subject, req, true)
}

func (e *Engine) decideEWSDecision(d *Dest, subject string, req *EWSRequest, envelope bool) Decision {
	rule, reason := e.decideEWS(d, subject, req, envelope)
	dec := Decision{Mode: e.mode, Rule: rule, Reason: reason, Dest: d}
	if rule != "" {
		dec.Allow = true
	} else if e.monitor && !ewsHardDeny(reason) {
		dec.Allow, dec.WouldDeny = true, true
	}
	return dec
}

// ewsHardDeny: reasons monitor mode never lets through. Sending mail as a
// user cannot be undone, so observing a policy must not do it.
func ewsHardDeny(reason string) bool {
	switch reason {
	case ReasonEWSForeignDest, ReasonEWSSendsMail, ReasonEWSMeeting:
		return true
	}
	return false
}

func (e *Engine) decideEWS(d *Dest, subject string, req *EWSRequest, envelope bool) (string, string) {
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
	// First, so that no other reason (which monitor mode would soften)
	// can hide a request that sends mail.
	if reason := x.sendsMail(req); reason != "" {
		return "", reason
	}
	rule, ok := x.ops[req.Operation]
	if !ok {
		return "", ReasonEWSOperation
	}
	if !slices.Contains(ewsOps, req.Operation) {
		return "", ReasonEWSUnsupported
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
	if !asciiEqualFold(req.Impersonation, subject) {
		return "", ReasonEWSImpersonation
	}
	for _, m := range req.Mailboxes {
		if !asciiEqualFold(m, subject) {
			return "", ReasonEWSMailboxMismatch
		}
	}
	if envelope {
		if reason := x.decideShape(req); reason != "" {
			return "", reason
		}
	}
	return rule, ReasonAllowed
}

// sendsMail refuses every way the supported operations can send a message:
// SendItem, CreateItem/UpdateItem with MessageDisposition SendOnly or
// SendAndSaveCopy, and meeting requests, updates or cancellations beyond
// what the policy allows.
func (x *cEWS) sendsMail(req *EWSRequest) string {
	if req.Operation == "SendItem" {
		return ReasonEWSSendsMail
	}
	if v, ok := req.Attrs["MessageDisposition"]; ok && v != "SaveOnly" {
		return ReasonEWSSendsMail
	}
	for _, a := range ewsMeetingAttrs {
		if v, ok := req.Attrs[a]; ok && !x.meeting[v] {
			return ReasonEWSMeeting
		}
	}
	return ""
}

// decideShape checks what the operation touches: every item id must be one
// the gateway relayed from a folder that is still allowed, and each
// operation must name its target folder the way the schema does, so that
// the folder check above covers it.
func (x *cEWS) decideShape(req *EWSRequest) string {
	if req.OtherIDs > 0 {
		return ReasonEWSItemIDForm
	}
	for _, id := range req.ItemIDs {
		if f, ok := req.ItemFolders[id]; !ok || !x.folders[f] {
			return ReasonEWSItemUnknown
		}
	}
	targets := func(container string) []string {
		var out []string
		for _, r := range req.FolderRefs {
			if r.Container == container {
				out = append(out, r.Folder)
			}
		}
		return out
	}
	switch req.Operation {
	case "SyncFolderItems":
		if len(targets("SyncFolderId")) != 1 {
			return ReasonEWSTargetFolder
		}
	case "FindItem":
		// Deep traversal reaches subfolders, SoftDeleted the dumpster.
		if len(targets("ParentFolderIds")) != 1 {
			return ReasonEWSTargetFolder
		}
		if req.Attrs["Traversal"] != "Shallow" {
			return ReasonEWSTraversal
		}
	case "GetFolder":
		if len(targets("FolderIds")) == 0 {
			return ReasonEWSTargetFolder
		}
	case "GetItem", "DeleteItem":
		if len(req.TargetIDs) == 0 {
			return ReasonEWSNoItems
		}
	case "UpdateItem":
		if len(req.TargetIDs) == 0 {
			return ReasonEWSNoItems
		}
		// SavedItemFolderId on UpdateItem saves the item into that folder.
		if req.HasSavedItemFolder {
			return ReasonEWSMove
		}
	case "MoveItem", "CopyItem":
		if len(req.TargetIDs) == 0 {
			return ReasonEWSNoItems
		}
		if len(targets("ToFolderId")) != 1 {
			return ReasonEWSTargetFolder
		}
	case "CreateItem":
		saved := targets("SavedItemFolderId")
		if len(saved) != 1 {
			return ReasonEWSTargetFolder
		}
		if len(req.ItemClasses) == 0 {
			return ReasonEWSNoItems
		}
		want, ok := ewsFolderClasses[saved[0]]
		for _, c := range req.ItemClasses {
			if !ok || c != want {
				return ReasonEWSItemClass
			}
		}
	default:
		return ReasonEWSUnsupported
	}
	return ""
}

// asciiEqualFold compares addresses with ASCII case folding only: Unicode
// folding would let K (KELVIN SIGN) stand for k.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if asciiLowerByte(a[i]) != asciiLowerByte(b[i]) {
			return false
		}
	}
	return true
}

func asciiLowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = asciiLowerByte(b[j])
			}
			return string(b)
		}
	}
	return s
}

// ErrEWSTooLarge is returned by ParseEWS for an envelope over the limit.
var ErrEWSTooLarge = errors.New("ews: envelope larger than limit")

// EWSRefusal is a ParseEWS error for an envelope the gateway refuses on
// purpose (an identity or header trick, not broken XML). Reason is fixed
// text, safe for an audit record or a client; Error adds the element names.
type EWSRefusal struct {
	Reason string
	detail string
}

func (e *EWSRefusal) Error() string {
	if e.detail == "" {
		return "ews: " + e.Reason
	}
	return "ews: " + e.Reason + ": " + e.detail
}

func refuse(reason, detail string) error { return &EWSRefusal{Reason: reason, detail: detail} }

const (
	maxEWSDepth = 64
	maxEWSAttrs = 32
)

// ewsHeaders are the SOAP headers a sync client needs. Any other header is
// refused: SerializedSecurityContext would replace the caller's identity,
// and a header the gateway does not know is one whose effect it cannot vouch
// for.
var ewsHeaders = []string{"RequestServerVersion", "ExchangeImpersonation", "MailboxCulture", "TimeZoneContext"}

// ewsOtherIDs are item references that do not carry a plain ItemId the
// gateway could have relayed (masters named by an occurrence's id,
// attachments, conversations, response objects' references).
// OccurrenceItemId is not among them: it names its series by the master's
// ItemId (RecurringMasterId), which is checked like any ItemId.
var ewsOtherIDs = []string{"RecurringMasterItemId", "RecurringMasterItemIdRanges", "ReferenceItemId",
	"ParentItemId", "RootItemId", "AttachmentId", "ConversationId"}

// EWSOccurrenceTarget prefixes the RecurringMasterId of an
// OccurrenceItemId in EWSRequest.TargetIDs: the operation acts on an
// occurrence of that master, not on the master, so a successful DeleteItem
// of it must not make the gateway forget the master's id, while the ids a
// GetItem or UpdateItem of it returns are learnt in the master's folder. The
// master's id itself is in ItemIDs and checked like any ItemId. A NUL
// cannot occur in an XML attribute value, so no ItemId looks like this.
const EWSOccurrenceTarget = "\x00occurrence-of:"

// ewsTargetItem is the item id a TargetIDs entry's folder is looked up by
// and whether the entry is an occurrence.
func ewsTargetItem(target string) (id string, occurrence bool) {
	if rest, ok := strings.CutPrefix(target, EWSOccurrenceTarget); ok {
		return rest, true
	}
	return target, false
}

// ParseEWS reads a SOAP 1.1 EWS request of at most max bytes. Elements are
// matched on namespace and local name (SOAP envelope, EWS messages and
// types namespaces). It refuses a DOCTYPE or any other directive, processing
// instructions other than the XML declaration, duplicate attributes,
// namespaced attributes other than xmlns, xsi and SOAP ones, SOAP headers
// other than RequestServerVersion, ExchangeImpersonation, MailboxCulture
// and TimeZoneContext (each at most once), an ExchangeImpersonation in any
// other namespace, a ConnectingSID without exactly one child, elements of
// a foreign namespace in the Body, more or fewer than one operation, and
// content after the envelope.
func ParseEWS(r io.Reader, max int64) (*EWSRequest, error) {
	if max <= 0 {
		return nil, errors.New("ews: size limit must be positive")
	}
	cr := &capReader{r: r, left: max}
	dec := xml.NewDecoder(cr)
	dec.Strict = true
	p := &ewsParser{out: &EWSRequest{}, captureDepth: -1}
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
		if err := p.token(tok); err != nil {
			return nil, err
		}
	}
	if cr.over {
		return nil, ErrEWSTooLarge
	}
	switch {
	case !p.seenRoot:
		return nil, errors.New("ews: no Envelope")
	case !p.seenBody:
		return nil, errors.New("ews: no Body")
	case p.out.Operation == "":
		return nil, errors.New("ews: no operation in Body")
	}
	return p.out, nil
}

type ewsParser struct {
	out                         *EWSRequest
	stack                       []xml.Name
	tokens                      int
	seenRoot, seenHdr, seenBody bool
	headers                     []string // allowed headers seen
	seenSID                     bool     // ConnectingSID in the ExchangeImpersonation
	sidKids                     int      // children of ConnectingSID
	capture                     *strings.Builder
	captureDepth                int
	captureTo                   func(string)
}

func (p *ewsParser) token(tok xml.Token) error {
	p.tokens++
	switch t := tok.(type) {
	case xml.Directive:
		return errors.New("ews: DOCTYPE or other directive not allowed")
	case xml.ProcInst:
		if t.Target != "xml" || p.tokens != 1 {
			return errors.New("ews: processing instruction not allowed")
		}
	case xml.CharData:
		if p.capture != nil {
			p.capture.Write(t)
		} else if len(p.stack) == 0 && strings.TrimSpace(string(t)) != "" {
			return errors.New("ews: text outside the envelope")
		}
	case xml.StartElement:
		if p.capture != nil {
			return fmt.Errorf("ews: unexpected element %s in an address", t.Name.Local)
		}
		if len(p.stack) >= maxEWSDepth {
			return errors.New("ews: nesting too deep")
		}
		if err := checkEWSAttrs(t); err != nil {
			return err
		}
		depth := len(p.stack)
		var err error
		switch {
		case depth == 0:
			if p.seenRoot || t.Name != (xml.Name{Space: NSSOAP, Local: "Envelope"}) {
				return fmt.Errorf("ews: root element %s, want a single SOAP 1.1 Envelope", t.Name.Local)
			}
			p.seenRoot = true
		case depth == 1:
			switch {
			case t.Name == xml.Name{Space: NSSOAP, Local: "Header"} && !p.seenHdr && !p.seenBody:
				p.seenHdr = true
			case t.Name == xml.Name{Space: NSSOAP, Local: "Body"} && !p.seenBody:
				p.seenBody = true
			default:
				return fmt.Errorf("ews: unexpected %s in Envelope", t.Name.Local)
			}
		case p.stack[1].Local == "Header":
			err = p.header(t, depth)
		default:
			err = p.body(t, depth)
		}
		if err != nil {
			return err
		}
		p.stack = append(p.stack, t.Name)
	case xml.EndElement:
		p.stack = p.stack[:len(p.stack)-1]
		depth := len(p.stack)
		if p.capture != nil && depth == p.captureDepth {
			p.captureTo(strings.TrimSpace(p.capture.String()))
			p.capture, p.captureDepth, p.captureTo = nil, -1, nil
		}
		switch {
		case depth == 2 && p.stack[1].Local == "Header" && t.Name.Local == "ExchangeImpersonation" && !p.seenSID:
			return refuse("ExchangeImpersonation must hold exactly one ConnectingSID", "")
		case depth == 3 && p.stack[1].Local == "Header" && t.Name.Local == "ConnectingSID" && p.sidKids != 1:
			return refuse("ConnectingSID must hold exactly one child", "")
		}
	}
	return nil
}

// checkEWSAttrs refuses duplicate attributes (encoding/xml keeps both; .NET
// refuses the document, and which one the gateway read would be a guess)
// and namespaced attributes other than declarations, xsi and SOAP ones: a
// qualified m:MessageDisposition is not the attribute the gateway checks.
// Two attributes with the same local name are duplicates whatever their
// namespaces.
func checkEWSAttrs(t xml.StartElement) error {
	if len(t.Attr) > maxEWSAttrs {
		return refuse("too many attributes", t.Name.Local)
	}
	key := func(a xml.Attr) (bool, string) {
		switch {
		case a.Name.Space == "xmlns":
			return true, a.Name.Local
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			return true, ""
		}
		return false, a.Name.Local
	}
	for i, a := range t.Attr {
		decl, local := key(a)
		if !decl && a.Name.Space != "" && a.Name.Space != nsXSI && a.Name.Space != NSSOAP {
			return refuse("attribute in a foreign namespace", a.Name.Local+" of "+t.Name.Local)
		}
		for _, b := range t.Attr[:i] {
			if d2, l2 := key(b); d2 == decl && l2 == local {
				return refuse("duplicate attribute", local+" on "+t.Name.Local)
			}
		}
	}
	return nil
}

func (p *ewsParser) header(t xml.StartElement, depth int) error {
	n := t.Name
	if n.Space != NSEWSTypes {
		if depth == 2 && n.Local == "ExchangeImpersonation" {
			// Exchange would ignore it and act as the service account
			// while the audit record names the subject.
			return refuse("ExchangeImpersonation in a foreign namespace", n.Space)
		}
		return refuse("SOAP header element in a foreign namespace", n.Local)
	}
	switch {
	case depth == 2:
		if n.Local == "SerializedSecurityContext" {
			return refuse("SerializedSecurityContext header not allowed", "")
		}
		if !slices.Contains(ewsHeaders, n.Local) {
			return refuse("SOAP header not allowed", n.Local)
		}
		if slices.Contains(p.headers, n.Local) {
			return refuse("duplicate SOAP header", n.Local)
		}
		p.headers = append(p.headers, n.Local)
	case depth == 3 && p.stack[2].Local == "ExchangeImpersonation":
		if n.Local != "ConnectingSID" || p.seenSID {
			return refuse("ExchangeImpersonation must hold exactly one ConnectingSID", n.Local)
		}
		p.seenSID = true
	case depth == 4 && p.stack[2].Local == "ExchangeImpersonation":
		p.sidKids++
		if p.sidKids > 1 {
			return refuse("ConnectingSID must hold exactly one child", "")
		}
		to := func(string) {} // a principal name or SID is not an address
		switch n.Local {
		case "PrimarySmtpAddress", "SmtpAddress":
			to = func(s string) { p.out.Impersonation = s }
		case "PrincipalName", "SID":
		default:
			return refuse("ConnectingSID child not understood", n.Local)
		}
		p.capture, p.captureDepth, p.captureTo = &strings.Builder{}, depth, to
	}
	return nil
}

func (p *ewsParser) body(t xml.StartElement, depth int) error {
	n := t.Name
	if n.Space != NSEWSMessages && n.Space != NSEWSTypes {
		return refuse("element in a foreign namespace in the Body", n.Local)
	}
	out := p.out
	if depth == 2 {
		if n.Space != NSEWSMessages {
			return refuse("operation not in the EWS messages namespace", n.Local)
		}
		if out.Operation != "" {
			return errors.New("ews: more than one operation in Body")
		}
		out.Operation = n.Local
		for _, a := range t.Attr {
			if a.Name.Space == "" && a.Name.Local != "xmlns" {
				if out.Attrs == nil {
					out.Attrs = map[string]string{}
				}
				out.Attrs[a.Name.Local] = a.Value
			}
		}
		return nil
	}
	// container is the operation's child this element is in.
	container := n
	if depth > 3 {
		container = p.stack[3]
	}
	if depth == 3 && n == (xml.Name{Space: NSEWSMessages, Local: "SavedItemFolderId"}) {
		out.HasSavedItemFolder = true
	}
	if depth == 4 && out.Operation == "CreateItem" && container == (xml.Name{Space: NSEWSMessages, Local: "Items"}) {
		class := n.Local
		if n.Space != NSEWSTypes {
			class = "{" + n.Space + "}" + n.Local
		}
		out.ItemClasses = append(out.ItemClasses, class)
	}
	if n == (xml.Name{Space: NSEWSTypes, Local: "OccurrenceItemId"}) {
		id, ok := attr(t, "RecurringMasterId")
		if !ok || id == "" {
			return errors.New("ews: OccurrenceItemId without RecurringMasterId")
		}
		out.ItemIDs = append(out.ItemIDs, id)
		if p.targetPosition(depth, container) {
			out.TargetIDs = append(out.TargetIDs, EWSOccurrenceTarget+id)
		}
		return nil
	}
	if slices.Contains(ewsOtherIDs, n.Local) {
		out.OtherIDs++
		return nil
	}
	if n.Space != NSEWSTypes {
		return nil
	}
	switch n.Local {
	case "DistinguishedFolderId":
		id, ok := attr(t, "Id")
		if !ok || id == "" {
			return errors.New("ews: DistinguishedFolderId without Id")
		}
		id = strings.ToLower(id)
		out.Folders = append(out.Folders, id)
		if depth == 4 && container.Space == NSEWSMessages {
			out.FolderRefs = append(out.FolderRefs, EWSFolderRef{Container: container.Local, Folder: id})
		}
	case "FolderId":
		id, ok := attr(t, "Id")
		if !ok || id == "" {
			return errors.New("ews: FolderId without Id")
		}
		out.FolderIDs = append(out.FolderIDs, id)
	case "ItemId":
		id, ok := attr(t, "Id")
		if !ok || id == "" {
			return errors.New("ews: ItemId without Id")
		}
		out.ItemIDs = append(out.ItemIDs, id)
		if p.targetPosition(depth, container) {
			out.TargetIDs = append(out.TargetIDs, id)
		}
	case "EmailAddress":
		if depth >= 5 && p.stack[depth-1] == (xml.Name{Space: NSEWSTypes, Local: "Mailbox"}) &&
			p.stack[depth-2] == (xml.Name{Space: NSEWSTypes, Local: "DistinguishedFolderId"}) {
			p.capture, p.captureDepth = &strings.Builder{}, depth
			p.captureTo = func(s string) { out.Mailboxes = append(out.Mailboxes, s) }
		}
	}
	return nil
}

// targetPosition reports whether an item id at depth in container names
// an item the operation acts on (m:ItemIds/*, m:ItemChanges/t:ItemChange/*).
func (p *ewsParser) targetPosition(depth int, container xml.Name) bool {
	switch {
	case depth == 4 && container == xml.Name{Space: NSEWSMessages, Local: "ItemIds"},
		depth == 5 && container == xml.Name{Space: NSEWSMessages, Local: "ItemChanges"} &&
			p.stack[4] == xml.Name{Space: NSEWSTypes, Local: "ItemChange"}:
		return true
	}
	return false
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
