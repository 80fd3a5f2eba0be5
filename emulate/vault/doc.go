// Package vault emulates the subset of the HashiCorp Vault HTTP API that
// syncgate uses — KV v2, Transit sign/verify for rsa-2048 and ecdsa-p256,
// token lookup/renew with TTLs, AppRole (with response wrapping),
// Kubernetes login, sys/health — so tests run without a Vault binary. It
// keeps everything in memory, follows Vault's documented response and error
// shapes ({"errors":[...]}), runs on a clock tests can advance, and has fault
// switches (down, latency). It does not enforce ACL policies: any live token
// may do anything. Production code must not import it.
package vault
