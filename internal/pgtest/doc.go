// Package pgtest gives tests a real, empty PostgreSQL database: it runs
// Debian's PostgreSQL binaries (initdb, postgres, pg_ctl) in a temporary
// directory, as an unprivileged user when the tests run as root (the server
// refuses to run as root), listening only on a unix socket in that
// directory, so nothing outside the test can reach it and no port can clash.
//
// It exists so that the state store is tested against the database it will
// run on, not a mock: the same suite runs on SQLite and PostgreSQL.
//
// A package that calls pgtest.Main from TestMain shares one server between
// all its tests (initdb costs a second or two) and gets a fresh database per
// Start; without Main every Start gets its own server, stopped by
// t.Cleanup. The server is started as a child with a parent-death signal,
// so a test binary killed by a timeout does not leave it running.
//
// Without the binaries a test is skipped, or fails when CI or
// SYNCGATE_REQUIRE_POSTGRES is set, naming the package to install.
package pgtest
