// Package certs owns every certificate the gateway holds: the listener
// certificate (from files, from an ACME CA through certmagic, or from
// syncgate's internal CA), the client CA bundles and CRLs that admit mTLS
// clients, the intercept CA that mints short-lived leaves for intercepted
// CONNECT hosts (name-constrained to the policy's hosts, a year's life,
// staged and promoted as a bundle, its key in a file or behind a
// SignerSource such as Vault Transit), and the client certificates the
// gateway presents upstream.
// It reloads all of them without dropping connections (atomic swaps; a broken
// new file keeps the old certificate and is reported). It makes no policy
// decisions: callers ask policy first and may pass an Allow guard as a second
// line of defence.
package certs
