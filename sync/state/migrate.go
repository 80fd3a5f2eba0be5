package state

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// ErrSchemaTooNew is returned by the constructors when the database was
// migrated by a newer syncgate than this one: running on it could corrupt
// what the newer version relies on, so this one refuses.
var ErrSchemaTooNew = errors.New("state: database schema is newer than this binary")

// migration is one NNNN_name.sql file.
type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// loadMigrations reads dir of fsys: versions 1..n, each exactly once, in
// order. Anything else in the directory is an error, so a misnamed file
// cannot be skipped silently.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", path.Join(dir, e.Name()))
		}
		v, _ := strconv.Atoi(m[1])
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: m[2], sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations in %s: version %d where %d was expected (gap or duplicate)", dir, m.version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("migrations in %s: none", dir)
	}
	return ms, nil
}

// migrate brings db to the newest version of ms. Each migration runs in
// its own transaction together with its schema_migrations row, so a crash
// leaves the database at the previous version, never half-way. Every
// transaction first takes the dialect's migration lock, then re-reads the
// version, so processes starting together do not apply a migration twice.
func migrate(ctx context.Context, db *sql.DB, d *dialect, ms []migration) error {
	latest := ms[len(ms)-1].version
	for {
		done, err := migrateStep(ctx, db, d, ms, latest)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// migrateStep applies the next pending migration, if any, and reports
// whether the database is now up to date.
func migrateStep(ctx context.Context, db *sql.DB, d *dialect, ms []migration, latest int) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("state: migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if d.migrationLock != "" {
		if _, err := tx.ExecContext(ctx, d.migrationLock); err != nil {
			return false, fmt.Errorf("state: migrate: lock: %w", err)
		}
	}
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)`
	if _, err := tx.ExecContext(ctx, create); err != nil {
		return false, fmt.Errorf("state: migrate: create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return false, fmt.Errorf("state: migrate: read version: %w", err)
	}
	if current > latest {
		return false, fmt.Errorf("%w: the %s database is at schema version %d, this syncgate knows versions up to %d; upgrade syncgate (or point it at another database)",
			ErrSchemaTooNew, d.name, current, latest)
	}
	if current == latest {
		return true, tx.Commit()
	}
	m := ms[current] // versions are 1..n without gaps
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("state: migrate: %04d_%s: %w", m.version, m.name, err)
	}
	if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
		m.version, m.name, now().Format("2006-01-02T15:04:05.000000Z")); err != nil {
		return false, fmt.Errorf("state: migrate: record %04d_%s: %w", m.version, m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("state: migrate: commit %04d_%s: %w", m.version, m.name, err)
	}
	return false, nil
}

// schemaVersion reports the version recorded in db (0 when none).
func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v int
	err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
