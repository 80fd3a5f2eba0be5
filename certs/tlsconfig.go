package certs

import "crypto/tls"

// ListenerCipherSuites is the TLS 1.2 cipher-suite list syncgate uses on
// every side it controls: ECDHE key exchange (forward secrecy) with an AEAD
// cipher only. TLS 1.3 suites are not configurable in Go and are all AEAD.
// It returns a fresh slice so no caller can change another's list.
func ListenerCipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}
