package audit

import "time"

// Record kinds.
const (
	KindHTTP       = "http"
	KindConnect    = "connect" // an allowed CONNECT: the tunnel, its minted leaf and the client's TLS
	KindToken      = "token"
	KindConfig     = "config"
	KindSync       = "sync"
	KindCheckpoint = "checkpoint"
)

// Record is one audit record (one JSON line). The field order of this struct
// is the canonical order used for hashing: change it only with docs/audit.md.
type Record struct {
	Time       time.Time   `json:"time"`
	ID         string      `json:"id"`
	Seq        uint64      `json:"seq"`
	Kind       string      `json:"kind"`
	Client     *Client     `json:"client,omitempty"`
	Subject    string      `json:"subject,omitempty"`
	Request    *Request    `json:"request,omitempty"`
	Decision   *Decision   `json:"decision,omitempty"`
	Upstream   *Upstream   `json:"upstream,omitempty"`
	Credential *Credential `json:"credential,omitempty"`
	Response   *Response   `json:"response,omitempty"`
	DurationMS float64     `json:"duration_ms"`
	// Detail carries kind-specific facts (config reloads, token expiry,
	// checkpoint data). Values must never be secrets.
	Detail map[string]string `json:"detail,omitempty"`
	Prev   string            `json:"prev"`
	Hash   string            `json:"hash"`
}

// Client identifies the caller.
type Client struct {
	Name       string `json:"name"`
	IP         string `json:"ip"`
	Identity   string `json:"identity,omitempty"`
	CertSHA256 string `json:"cert_sha256,omitempty"`
}

// Request describes the request; Path never contains the query string.
type Request struct {
	Method string `json:"method"`
	Host   string `json:"host"`
	Port   int    `json:"port"`
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	// Operation is the EWS SOAP operation, when there is one.
	Operation string `json:"operation,omitempty"`
}

// Decision is the policy outcome.
type Decision struct {
	Allow       bool   `json:"allow"`
	Mode        string `json:"mode"`
	Rule        string `json:"rule,omitempty"`
	Reason      string `json:"reason,omitempty"`
	WouldDeny   bool   `json:"would_deny,omitempty"`
	Destination string `json:"destination,omitempty"`
}

// Upstream describes the verified upstream connection.
type Upstream struct {
	IP         string `json:"ip,omitempty"`
	TLSVersion string `json:"tls_version,omitempty"`
	Cipher     string `json:"cipher,omitempty"`
	CertSHA256 string `json:"cert_sha256,omitempty"`
	Issuer     string `json:"issuer,omitempty"`
	CABundle   string `json:"ca_bundle,omitempty"`
	ClientCert string `json:"client_cert,omitempty"`
	// Error names why the upstream was refused: expired, unknown_authority,
	// name_mismatch, version, pin, dial, ssrf, ...
	Error string `json:"error,omitempty"`
}

// Credential names the injected credential; TokenFP is a short fingerprint,
// never the token.
type Credential struct {
	Name    string `json:"name"`
	TokenFP string `json:"token_fp,omitempty"`
}

// Response is what the client was answered.
type Response struct {
	Status int   `json:"status"`
	Bytes  int64 `json:"bytes"`
}
