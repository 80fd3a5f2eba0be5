package policy

import (
	"crypto/x509"
	"errors"
	"net/netip"
)

// The types in this file are the contract between the policy package and its
// callers (the proxy and the CLI). Change them only together with callers.

// Policy is the decoded policy file (see DESIGN.md, "Policy").
type Policy struct {
	Version      int                 `yaml:"version"`
	Mode         string              `yaml:"mode"` // enforce (default) | monitor
	CABundles    map[string]CABundle `yaml:"ca_bundles"`
	Clients      []Client            `yaml:"clients"`
	Destinations []Destination       `yaml:"destinations"`

	// Dir is the directory that relative paths in the file resolve against.
	Dir string `yaml:"-"`
	// File is the path the policy was loaded from (for messages).
	File string `yaml:"-"`

	// lines maps field paths to their line in File; nil for a Policy built
	// in code.
	lines map[string]int
}

// CABundle names a set of trusted roots. System roots are used only when
// System is explicitly true.
type CABundle struct {
	Files  []string `yaml:"files"`
	System bool     `yaml:"system"`
}

// Client is a caller of the gateway.
type Client struct {
	Name       string     `yaml:"name"`
	Identities []Identity `yaml:"identities"`
	Sources    []string   `yaml:"sources"`  // CIDRs
	Subjects   []string   `yaml:"subjects"` // globs, e.g. "*@corp.example"
}

// Identity is one way a client certificate can name a client; exactly one
// field is set.
type Identity struct {
	URI string `yaml:"uri"`
	DNS string `yaml:"dns"`
	CN  string `yaml:"cn"`
}

// Destination is an upstream service and what may be done there.
type Destination struct {
	Name       string     `yaml:"name"`
	Hosts      []string   `yaml:"hosts"`
	Port       int        `yaml:"port"` // default 443
	TLS        TLSPolicy  `yaml:"tls"`
	ClientCert string     `yaml:"client_cert"` // name from the serve config
	Credential string     `yaml:"credential"`  // name from the serve config
	Clients    []string   `yaml:"clients"`
	Rules      []Rule     `yaml:"rules"`
	EWS        *EWSPolicy `yaml:"ews"`
}

// TLSPolicy is the upstream TLS requirement of a destination.
type TLSPolicy struct {
	MinVersion string   `yaml:"min_version"` // "1.2" (default) | "1.3"
	CABundle   string   `yaml:"ca_bundle"`   // required
	SPKIPins   []string `yaml:"spki_pins"`   // base64 SHA-256 of SubjectPublicKeyInfo
}

// Rule allows methods on paths. ID is optional; a generated one is
// "<destination>#<index>".
type Rule struct {
	ID      string   `yaml:"id"`
	Methods []string `yaml:"methods"`
	Paths   []string `yaml:"paths"`
}

// EWSPolicy limits an EWS destination to operations and distinguished folders.
type EWSPolicy struct {
	Path       string   `yaml:"path"` // default /EWS/Exchange.asmx
	Operations []string `yaml:"operations"`
	Folders    []string `yaml:"folders"`
	// SendMeetingInvitations lists the meeting-message modes allowed besides
	// SendToNone (the default and only mode when empty), for CreateItem's
	// SendMeetingInvitations, UpdateItem's SendMeetingInvitationsOrCancellations
	// and DeleteItem's SendMeetingCancellations. Any other mode sends mail.
	SendMeetingInvitations []string `yaml:"send_meeting_invitations"`
}

// Dest is a compiled destination, handed to the proxy with an allow decision.
type Dest struct {
	Name        string
	Port        int
	MinTLS      uint16 // tls.VersionTLS12 or tls.VersionTLS13
	CABundle    string
	Roots       *x509.CertPool // the bundle's roots; nil only when SystemRoots
	SystemRoots bool
	Pins        [][32]byte
	ClientCert  string
	Credential  string
	EWS         *EWSPolicy // non-nil: the proxy must check the SOAP body with DecideEWS

	idx int // index into the engine's destinations, for DecideEWS
}

// Peer is what the proxy knows about a connection when identifying a client.
type Peer struct {
	URIs     []string // certificate URI SANs
	DNSNames []string // certificate DNS SANs
	CN       string   // certificate subject CN
	HasCert  bool
	Source   netip.Addr
	Plain    bool // arrived on the loopback plain listener
}

// ClientID is an identified client.
type ClientID struct {
	Name     string
	Index    int    // index into the compiled clients, for zero-allocation Decide
	Identity string // what matched, e.g. "uri:spiffe://corp.example/sync" or "source:127.0.0.1"
}

var (
	// ErrUnidentified: no client matches the peer (the proxy answers 407).
	ErrUnidentified = errors.New("client not identified")
	// ErrSourceDenied: a client matched but the source address is outside its sources (403).
	ErrSourceDenied = errors.New("source address not allowed for client")
)

// Request is one request as the policy sees it.
type Request struct {
	Client  ClientID
	Method  string
	Host    string // already normalised by NormalizeHost
	Port    int
	Path    string // escaped path as received (URL.EscapedPath), not yet cleaned
	Subject string // from Syncgate-Subject, "" when absent
}

// Decision is the answer to one request.
type Decision struct {
	Allow     bool
	Mode      string // "enforce" | "monitor"
	WouldDeny bool   // monitor mode allowed a request that enforce would deny
	Rule      string // id of the rule that allowed, or "" for a deny
	Reason    string // human-readable, never contains request values
	Dest      *Dest  // matched destination (nil if no host matched)
}

// EWSRequest is what the gateway reads from an EWS SOAP envelope.
type EWSRequest struct {
	Operation     string   // e.g. "SyncFolderItems"
	Folders       []string // DistinguishedFolderId Id values, lower-cased
	FolderIDs     []string // non-distinguished FolderId values (always denied unless policy allows)
	Impersonation string   // ExchangeImpersonation ConnectingSID address, "" if absent
	// Mailboxes are the Mailbox/EmailAddress values inside folder ids
	// (delegate access to another mailbox); each must equal the subject.
	Mailboxes []string

	// Attrs are the unqualified attributes of the operation element
	// (MessageDisposition, SendMeetingInvitations, DeleteType, Traversal, ...).
	Attrs map[string]string
	// FolderRefs are the DistinguishedFolderIds that sit directly in one of
	// the operation's child elements, with that element's local name
	// (SyncFolderId, ParentFolderIds, SavedItemFolderId, ToFolderId, FolderIds).
	FolderRefs []EWSFolderRef
	// HasSavedItemFolder is set when the operation has a SavedItemFolderId.
	HasSavedItemFolder bool
	// ItemIDs are the Id of every t:ItemId in the Body (ChangeKey dropped)
	// and the RecurringMasterId of every t:OccurrenceItemId: an occurrence
	// is judged by its series master's relayed id.
	ItemIDs []string
	// TargetIDs are the items the operation acts on, in request order
	// (m:ItemIds/t:ItemId, or m:ItemChanges/t:ItemChange/t:ItemId); the
	// n-th response message answers the n-th target. An occurrence target
	// is its master's id prefixed with EWSOccurrenceTarget.
	TargetIDs []string
	// ItemClasses are CreateItem's items (children of m:Items): the local
	// name for the types namespace, "{namespace}local" otherwise.
	ItemClasses []string
	// OtherIDs counts item references the gateway cannot tie to a folder
	// (RecurringMasterItemId, ReferenceItemId, ...); any is refused.
	OtherIDs int
	// ItemFolders is filled by EWSItems.Resolve, not by the parser: the
	// folder each known ItemIDs entry was relayed from for this subject.
	ItemFolders map[string]string
}

// EWSFolderRef is a distinguished folder and the operation child naming it.
type EWSFolderRef struct {
	Container string // e.g. "SavedItemFolderId"
	Folder    string // lower case
}
