// Package state is the sync engine's memory: for each (user, kind) the
// pairs that link a CRM record with a mailbox item and what each side last
// looked like, the cursors of both sides, the durable outbox of intents,
// the kept losing versions of conflicts, unresolved items and run records.
//
// One interface (Store), two implementations over database/sql with
// embedded, versioned migrations: SQLite through modernc.org/sqlite (pure
// Go, the embedded default) and PostgreSQL through pgx (several workers).
// Both share one body of SQL; a small dialect (placeholders, how instants
// are stored, isolation, which errors mean "retry" or "duplicate") is all
// that differs, so a fix to a query is a fix on both stores, and one test
// suite runs against both.
//
// Why the transaction rules are what they are:
//   - The engine's crash safety rests on "pair upsert + intent done +
//     cursor" committing together, so every write goes through Tx.
//   - SQLite: one writer connection per process (concurrent Tx queue
//     instead of failing with SQLITE_BUSY), BEGIN IMMEDIATE and a busy
//     timeout against other processes, WAL so reads never wait, and
//     synchronous=FULL so a committed intent survives a power cut.
//   - PostgreSQL: SERIALIZABLE, so a transaction that read what another
//     changed fails instead of losing that update; Tx runs it again (a
//     bounded number of times, alone in the process). fn may therefore run
//     more than once and must only act through its Writer.
//   - A database error inside a transaction ends it on both stores (as
//     PostgreSQL does by itself), so the engine sees the same behaviour
//     whichever store it runs on. ErrNotFound is an answer, not an error:
//     DeletePair and DoneIntent of a row that is not there report it and
//     the transaction stays usable; a second DoneIntent for one intent
//     means two workers finished it, which must not pass silently.
//
// Migrations are NNNN_name.sql files per dialect, applied in order, each in
// its own transaction with its schema_migrations row; a database already
// at a newer version than this binary knows is refused (ErrSchemaTooNew)
// rather than written to. Instants are kept to the microsecond, in UTC.
package state
