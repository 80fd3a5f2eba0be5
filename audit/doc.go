// Package audit owns the audit log: the record schema, the writer (JSON
// Lines, hash chain, group-commit fsync, rotation, signed checkpoints),
// verification, and query. A record is never dropped: if it cannot be
// written, the caller is told, so the gateway can refuse the request.
package audit
