// Package audit owns the audit log: the record schema (record.go), the
// canonical encoding and hash chain (encode.go), the writer with
// in-memory retention and retry on disk failure, torn tail repair, gzip and
// retention (writer.go), its flusher: group commit with overlapping
// fdatasyncs acknowledged in file order, preallocation and rotation
// (flusher.go, datasync_*.go), signed checkpoints
// (signer.go), verification (verify.go), query and summary (query.go), and
// SIEM forwarding over syslog/TLS (syslog.go). A record is never dropped: if
// it cannot be written, the caller is told, so the gateway can refuse the
// request. docs/audit.md is the auditor-facing contract.
package audit
