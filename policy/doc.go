// Package policy owns the gateway's policy: the YAML schema, strict loading
// and validation, compilation into a matcher, and Decide, which answers
// allow or deny for one request without allocating. It also normalises hosts
// and paths (so that the proxy and the policy agree on what a request names),
// parses EWS SOAP envelopes for operation-level rules, and backs the
// `syncgate policy lint|test|explain` commands. It does no I/O beyond reading
// the policy file and the CA bundle files it names.
package policy
