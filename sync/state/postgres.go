package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
)

// postgresMaxConns bounds the pool of one process, so that several
// workers stay well inside the server's max_connections (default 100).
const postgresMaxConns = 16

// OpenPostgres connects to the PostgreSQL database named by dsn (a URL or
// key=value string as libpq takes it) and migrates it to the newest
// schema. Write transactions are SERIALIZABLE and retried by Tx when the
// server reports a serialization failure, so several workers can share the
// database without losing updates.
func OpenPostgres(ctx context.Context, dsn string) (Store, error) {
	if dsn == "" {
		return nil, errors.New("state: open postgres: empty dsn")
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		// pgx's parse errors do not repeat the password.
		return nil, fmt.Errorf("state: open postgres: %w", err)
	}
	db.SetMaxOpenConns(postgresMaxConns)
	db.SetMaxIdleConns(postgresMaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("state: open postgres: %w", err)
	}
	if err := migrateFS(ctx, db, postgresDialect, migrationFiles); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w (postgres)", err)
	}
	return newSQLStore(postgresDialect, db, db), nil
}
