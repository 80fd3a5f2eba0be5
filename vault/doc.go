// Package vault owns syncgate's secrets: the Store interface with its two
// backends (an AES-256-GCM encrypted file, the embedded default, and
// HashiCorp Vault KV v2), Vault Transit signing, and the token Broker that
// turns a named credential into the header the gateway injects upstream.
// The sync engine never sees what this package holds; nothing here knows
// about HTTP proxying.
package vault
