// Package testpki makes throwaway certificate authorities and certificates for
// tests: real X.509, real keys, nothing mocked. It exists so that every package
// tests TLS the same way instead of each growing its own generator.
package testpki
