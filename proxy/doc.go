// Package proxy is the gateway's data plane: the listeners (TLS with optional
// mTLS, and a loopback-only plain listener), CONNECT interception, TLS
// origination for absolute-form http:// requests, the request pipeline
// (identify → authorize → credential → forward → relay, one audit record per
// request; see pipeline.go) shared by clients' requests and the gateway's
// own token requests, the upstream transport
// with its TLS rules, the SSRF guard, and header hygiene.
//
// It reads HTTP/1.1 framing itself instead of using net/http's server: the
// gateway must reject smuggling shapes (Content-Length together with
// Transfer-Encoding, obfuscated Transfer-Encoding) that net/http quietly
// repairs, and must see every byte of the request head before deciding.
// It never parses policy files and never talks to Vault; those arrive as a
// compiled *policy.Engine and an Injector (the credential broker, given the
// proxy's token transport through Options.NewInjector).
//
// Every client request, with or without a body, runs in its connection's
// own goroutine over a per-destination pool of verified upstream
// connections, with the package's own request writer and strict response
// parser (exchange.go); a request is sent again after an upstream's close
// only when that is safe (an idempotent method with its whole body, or no
// byte of it sent). Only the gateway's own token requests use net/http's
// Transport, dialled through the same TLS rules and guard.
// A client connection keeps its per-request state (connState) from one
// request to the next, so a kept-alive request allocates little.
package proxy
