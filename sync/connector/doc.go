// Package connector is the contract between the sync engine and one end of
// a sync (a CRM or a mailbox): read changes since a cursor, read one item,
// write with optimistic concurrency, find an item by syncgate's idempotency
// key. Implementations live in the sub-packages (salesforce; the mailboxes
// graph, google and ews; memory for the engine's property tests) and reach
// their service only through the gateway's HTTP client; none of them holds
// a credential.
package connector
