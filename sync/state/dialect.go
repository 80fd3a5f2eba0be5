package state

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// dialect is everything that differs between the two databases. The SQL
// text itself is shared: it is written with "?" placeholders and standard
// syntax both understand (ON CONFLICT ... DO UPDATE, RETURNING, partial
// indexes), so a query fixed for one store is fixed for the other.
type dialect struct {
	name string
	// dollar turns "?" placeholders into PostgreSQL's $1, $2, ...
	dollar bool
	// txOpts are the options of a write transaction.
	txOpts *sql.TxOptions
	// readOpts are the options of a read-only snapshot (Status).
	readOpts *sql.TxOptions
	// intTime stores instants as INTEGER unix microseconds (SQLite has no
	// time type, and text dates compare wrongly across offsets); otherwise
	// they are passed as time.Time to a timestamptz column.
	intTime bool
	// migrationLock is run first in every migration transaction so that
	// several processes starting together apply each migration once.
	// SQLite needs none: its write transactions begin IMMEDIATE.
	migrationLock string
	// retryable reports an error after which the whole transaction can be
	// run again and may succeed.
	retryable func(error) bool
	// duplicate reports a unique constraint violation.
	duplicate func(error) bool
	// migrations is the directory of this dialect's migration files.
	migrations string
}

// migrationLockKey is an arbitrary constant shared by every syncgate
// process: pg_advisory_xact_lock takes a bigint.
const migrationLockKey = 0x73796e6367617465 // "syncgate"

var sqliteDialect = &dialect{
	name:       "sqlite",
	txOpts:     nil, // the DSN makes every write transaction BEGIN IMMEDIATE
	readOpts:   &sql.TxOptions{ReadOnly: true},
	intTime:    true,
	migrations: "migrations/sqlite",
	retryable: func(err error) bool {
		// SQLITE_BUSY (and its extended codes) once busy_timeout ran out:
		// another process held the write lock. Nothing was written.
		var e *sqlite.Error
		return errors.As(err, &e) && e.Code()&0xff == 5
	},
	duplicate: func(err error) bool {
		// SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY.
		var e *sqlite.Error
		return errors.As(err, &e) && (e.Code() == 2067 || e.Code() == 1555)
	},
}

var postgresDialect = &dialect{
	name:   "postgres",
	dollar: true,
	// Serializable: a transaction that read a row another one changed
	// fails with 40001 instead of losing that update, and Tx runs it again.
	txOpts:        &sql.TxOptions{Isolation: sql.LevelSerializable},
	readOpts:      &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
	migrationLock: "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(migrationLockKey, 10) + ")",
	migrations:    "migrations/postgres",
	retryable: func(err error) bool {
		var e *pgconn.PgError
		if !errors.As(err, &e) {
			return false
		}
		// serialization_failure, deadlock_detected
		return e.Code == "40001" || e.Code == "40P01"
	},
	duplicate: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505" // unique_violation
	},
}

// rebind rewrites the "?" placeholders of q for the dialect. The queries of
// this package never contain a literal "?".
func (d *dialect) rebind(q string) string {
	if !d.dollar || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// timeArg is the argument for an instant column: NULL for the zero time.
func (d *dialect) timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if d.intTime {
		return t.UnixMicro()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// now is the store's clock at the precision both databases keep, so that
// what a caller holds after a write equals what a later read returns.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// timeCol scans an instant column of either dialect into a UTC time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMicro(v).UTC()
	case time.Time:
		*c.t = v.UTC()
	default:
		return fmt.Errorf("unexpected time column value of type %T", src)
	}
	return nil
}
