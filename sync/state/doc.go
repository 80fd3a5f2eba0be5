// Package state is the sync engine's memory: for each (user, kind) the
// pairs that link a CRM record with a mailbox item and what each side last
// looked like, the cursors of both sides, the durable outbox of intents,
// the kept losing versions of conflicts, unresolved items and run records.
//
// One interface (Store), two implementations over database/sql with
// embedded, versioned migrations: SQLite through modernc.org/sqlite (pure
// Go, the embedded default) and PostgreSQL through pgx (several workers).
package state
