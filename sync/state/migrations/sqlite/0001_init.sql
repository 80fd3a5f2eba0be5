-- The first schema of the sync state (SQLite).
--
-- Instants are INTEGER unix microseconds, UTC (NULL = never): SQLite has no
-- time type and text dates would compare wrongly across offsets. Tables are
-- STRICT so a wrongly typed value is an error, not a silent conversion.
-- Ids are AUTOINCREMENT so that an id is never reused after a delete: an
-- intent that names pair 7 must never come to mean a different pair.

-- One row per linked CRM record and mailbox item of a user and kind. An id
-- is '' while only the intent to create that side exists.
CREATE TABLE pairs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_name   TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    crm_id      TEXT    NOT NULL DEFAULT '',
    mail_id     TEXT    NOT NULL DEFAULT '',
    crm_marker  TEXT    NOT NULL DEFAULT '',
    mail_marker TEXT    NOT NULL DEFAULT '',
    crm_hash    TEXT    NOT NULL DEFAULT '',
    mail_hash   TEXT    NOT NULL DEFAULT '',
    idem_key    TEXT    NOT NULL DEFAULT '',
    updated_at  INTEGER,
    CHECK (crm_id <> '' OR mail_id <> '')
) STRICT;
-- An item is in at most one pair; '' (not created yet) may repeat.
CREATE UNIQUE INDEX pairs_crm_id ON pairs (user_name, kind, crm_id) WHERE crm_id <> '';
CREATE UNIQUE INDEX pairs_mail_id ON pairs (user_name, kind, mail_id) WHERE mail_id <> '';
CREATE INDEX pairs_user_kind ON pairs (user_name, kind, id);

-- Where each side's change feed was read up to.
CREATE TABLE cursors (
    user_name  TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    side       TEXT    NOT NULL CHECK (side IN ('crm', 'mail')),
    value      TEXT    NOT NULL,
    updated_at INTEGER,
    PRIMARY KEY (user_name, kind, side)
) STRICT;

-- The outbox: a remote write is recorded here before it is made and the
-- row is deleted in the transaction that records its result. pair_id is a
-- plain reference (0 = none yet), not a foreign key: a delete intent
-- outlives the pair it removes until its result is recorded.
CREATE TABLE intents (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_name  TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    op         TEXT    NOT NULL CHECK (op IN ('create', 'update', 'delete')),
    target     TEXT    NOT NULL CHECK (target IN ('crm', 'mail')),
    idem_key   TEXT    NOT NULL DEFAULT '',
    pair_id    INTEGER NOT NULL DEFAULT 0,
    source_id  TEXT    NOT NULL DEFAULT '',
    payload    BLOB,
    created_at INTEGER
) STRICT;
CREATE INDEX intents_user_kind ON intents (user_name, kind, id);

-- The losing version of every both-sides change, never dropped.
CREATE TABLE conflicts (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_name TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    crm_id    TEXT    NOT NULL DEFAULT '',
    mail_id   TEXT    NOT NULL DEFAULT '',
    winner    TEXT    NOT NULL CHECK (winner IN ('crm', 'mail')),
    loser     BLOB,
    reason    TEXT    NOT NULL DEFAULT '',
    at        INTEGER
) STRICT;
CREATE INDEX conflicts_user_kind ON conflicts (user_name, kind, id);

-- Items the engine would not decide alone. candidates is a JSON array.
CREATE TABLE unresolved (
    user_name  TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    side       TEXT    NOT NULL CHECK (side IN ('crm', 'mail')),
    item_id    TEXT    NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    candidates TEXT    NOT NULL DEFAULT '[]',
    at         INTEGER,
    PRIMARY KEY (user_name, kind, side, item_id)
) STRICT;

-- The last pass of each user and kind, and the mass-delete guard's pause.
CREATE TABLE runs (
    user_name    TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    last_start   INTEGER,
    last_end     INTEGER,
    last_error   TEXT    NOT NULL DEFAULT '',
    paused       INTEGER NOT NULL DEFAULT 0,
    pause_reason TEXT    NOT NULL DEFAULT '',
    force        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_name, kind)
) STRICT;
