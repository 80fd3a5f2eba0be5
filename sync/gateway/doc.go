// Package gateway is the sync engine's only way out: an HTTP client whose
// every request goes through `syncgate serve` (the mTLS listener with a
// client certificate, or the loopback plain listener of a sidecar), carries
// the acting user in Syncgate-Subject, honours Retry-After on 429/503, keeps
// at most a few requests per mailbox in flight, and records the gateway's
// Syncgate-Request-Id of every call so the engine's audit can name them.
//
// It holds no credential and adds no Authorization header: the gateway
// injects credentials after policy allows the call.
package gateway
