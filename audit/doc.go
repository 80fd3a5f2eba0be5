// Package audit owns the audit log: the record schema (record.go), the
// canonical encoding and hash chain (encode.go), the writer with
// group-commit fsync, in-memory retention and retry on disk failure, torn
// tail repair, rotation, gzip and retention (writer.go), signed checkpoints
// (signer.go), verification (verify.go), query and summary (query.go), and
// SIEM forwarding over syslog/TLS (syslog.go). A record is never dropped: if
// it cannot be written, the caller is told, so the gateway can refuse the
// request. docs/audit.md is the auditor-facing contract.
package audit
