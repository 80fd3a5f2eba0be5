// Package vault emulates the subset of the HashiCorp Vault HTTP API that
// syncgate uses, answering as a real Vault (or OpenBao) dev server does, so
// tests run without a Vault binary: KV v2; Transit keys, sign and verify
// for rsa, ecdsa and ed25519 keys with key versions (public keys formatted
// as Vault formats them: ed25519 raw base64, the others PEM); tokens with
// TTLs, max TTLs, periods and use counts; AppRole with secret-id use
// counts, TTLs and CIDR bindings; response wrapping; Kubernetes login;
// ACL policies (HCL) enforced with Vault's 403 bodies; mounts; sys/health
// and the sealed 503. Each behaviour has a test that names the public
// Vault documentation page it follows.
//
// It keeps everything in memory, runs on a clock tests can advance, and can
// be sealed (SetSealed) or slowed (SetLatency). An unreachable Vault is a
// network fault: tests put a relay in front. Production code must not
// import it.
package vault
