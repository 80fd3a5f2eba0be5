// Package model holds the normalised items the sync engine moves between a
// CRM (Salesforce) and a mailbox (Graph, Google, EWS): Contact and Event,
// and the content hash over exactly the synced fields.
//
// Both sides map their own records onto these types, so the hash of a
// Salesforce contact and the hash of the Graph contact it was written to are
// equal when the synced content is equal. The engine compares hashes, never
// raw payloads: a change is a change only when the hash moved, which is what
// makes its own writes (echoes) and server-side reformatting invisible.
package model
