package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	_ "modernc.org/sqlite" // driver "sqlite"
)

// sqliteBusyTimeoutMS is how long a connection waits for another process's
// write lock before SQLITE_BUSY (which Tx then retries a few times).
const sqliteBusyTimeoutMS = 10000

// OpenSQLite opens (creating it 0600 when absent) the SQLite state file at
// path, whose directory must exist, and migrates it to the newest schema.
//
// The file is in WAL mode, so reads never wait for the writer. Within the
// process every write transaction goes through a single connection, so
// concurrent Tx calls queue instead of failing with SQLITE_BUSY; each one
// begins IMMEDIATE, so against another process it waits (busy_timeout) for
// the write lock up front rather than failing half-way when upgrading a read
// lock. synchronous=FULL: a committed intent survives power loss, which is
// what the outbox is for.
func OpenSQLite(ctx context.Context, path string) (Store, error) {
	if path == "" {
		return nil, errors.New("state: open sqlite: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state: open sqlite %s: %w", path, err)
	}
	dir := filepath.Dir(abs)
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("state: open sqlite %s: directory: %w", path, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("state: open sqlite %s: %s is not a directory", path, dir)
	}
	// SQLite would create the file 0644; the state names users and their
	// items, so create it owner-only first. SQLite gives the -wal and -shm
	// files the mode of the database file.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state: open sqlite %s: %w", path, err)
	}
	f.Close()

	u := url.URL{Scheme: "file", Path: abs}
	base := u.String() + "?_busy_timeout=" + fmt.Sprint(sqliteBusyTimeoutMS)
	wdb, err := sql.Open("sqlite", base+"&_journal_mode=WAL&_synchronous=FULL&_foreign_keys=1&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("state: open sqlite %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	// Migrate through the writer before the readers open: journal_mode=WAL
	// is then already recorded in the file.
	if err := wdb.PingContext(ctx); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("state: open sqlite %s: %w", path, err)
	}
	if err := migrateFS(ctx, wdb, sqliteDialect, migrationFiles); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("%w (sqlite %s)", err, path)
	}
	rdb, err := sql.Open("sqlite", base+"&_foreign_keys=1&_query_only=1")
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("state: open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	return newSQLStore(sqliteDialect, wdb, rdb), nil
}

// migrateFS loads the dialect's migrations from fsys and applies them.
func migrateFS(ctx context.Context, db *sql.DB, d *dialect, fsys fs.FS) error {
	ms, err := loadMigrations(fsys, d.migrations)
	if err != nil {
		return fmt.Errorf("state: migrate: %w", err)
	}
	return migrate(ctx, db, d, ms)
}
