// Package buildinfo owns the answer to "which syncgate is this" (version,
// commit, Go version, build time) for `syncgate version` and the
// syncgate_build_info metric of the gateway and the sync engine.
package buildinfo
