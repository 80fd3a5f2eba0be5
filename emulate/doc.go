// Package emulate runs every emulator (Microsoft identity + Graph, Google
// OAuth + Calendar + People, on-premises EWS, Salesforce, Vault) behind one
// TLS listener, routed by Host, for the demo and for tests. It owns the
// routing, the loopback-only admin API, the listener certificate and the
// demo seed; each service's behaviour lives in its sub-package. Production
// code must not import it.
//
// Hosts: login.microsoftonline.com, graph.microsoft.com,
// oauth2.googleapis.com, www.googleapis.com, people.googleapis.com,
// login.salesforce.com, test.salesforce.com, the Salesforce instance host
// (default corp.my.salesforce.com), the EWS host (default
// mail.corp.example) and VaultHost (vault.emulator.local). Any other Host
// answers 421 Misdirected Request with a JSON body. Requests addressed to a
// loopback name (localhost, 127.0.0.1, ::1) reach only the admin API and,
// under /v1/, the Vault API.
//
// Admin API, loopback clients on loopback names only (403 for any other
// client, whatever the Host):
//
//	GET  /_emulator/                services, hosts, clock
//	GET  /_emulator/clock
//	POST /_emulator/clock/advance   {"seconds": N}  (fake clock only; 409 otherwise)
//	*    /_emulator/{microsoft,google,ews,salesforce,vault}/...  each Admin(), prefix stripped
//
// Seed layout (SeedDemo(dir); secrets and keys 0600, never printed):
//
//	seeded.json               identifiers and paths (the Seeded struct), no secret
//	microsoft-client-secret   Entra app client secret
//	microsoft-app.key/.pem    RSA key + certificate registered for client assertions
//	google-sa.key             service account RSA key (PKCS#8 PEM)
//	google-sa.json            the same key as a Google JSON key file
//	salesforce-app.key/.pem   connected app RSA key + certificate (JWT bearer)
//	ews-password              EWS service account password
//	vault-token               the Vault emulator's root token (random per Set)
//
// Demo users are alice@ and bob@ the domain, in every service, each with two
// contacts and two events starting tomorrow (UTC); the EWS service account
// may impersonate exactly those mailboxes.
package emulate
