-- The first schema of the sync state (PostgreSQL). Same tables and
-- meaning as migrations/sqlite/0001_init.sql; see the comments there.
-- Ids are identity columns: never reused after a delete.

CREATE TABLE pairs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_name   TEXT   NOT NULL,
    kind        TEXT   NOT NULL,
    crm_id      TEXT   NOT NULL DEFAULT '',
    mail_id     TEXT   NOT NULL DEFAULT '',
    crm_marker  TEXT   NOT NULL DEFAULT '',
    mail_marker TEXT   NOT NULL DEFAULT '',
    crm_hash    TEXT   NOT NULL DEFAULT '',
    mail_hash   TEXT   NOT NULL DEFAULT '',
    idem_key    TEXT   NOT NULL DEFAULT '',
    updated_at  TIMESTAMPTZ,
    CHECK (crm_id <> '' OR mail_id <> '')
);
CREATE UNIQUE INDEX pairs_crm_id ON pairs (user_name, kind, crm_id) WHERE crm_id <> '';
CREATE UNIQUE INDEX pairs_mail_id ON pairs (user_name, kind, mail_id) WHERE mail_id <> '';
CREATE INDEX pairs_user_kind ON pairs (user_name, kind, id);

CREATE TABLE cursors (
    user_name  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    side       TEXT NOT NULL CHECK (side IN ('crm', 'mail')),
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ,
    PRIMARY KEY (user_name, kind, side)
);

CREATE TABLE intents (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_name  TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    op         TEXT   NOT NULL CHECK (op IN ('create', 'update', 'delete')),
    target     TEXT   NOT NULL CHECK (target IN ('crm', 'mail')),
    idem_key   TEXT   NOT NULL DEFAULT '',
    pair_id    BIGINT NOT NULL DEFAULT 0,
    source_id  TEXT   NOT NULL DEFAULT '',
    payload    BYTEA,
    created_at TIMESTAMPTZ
);
CREATE INDEX intents_user_kind ON intents (user_name, kind, id);

CREATE TABLE conflicts (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_name TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    crm_id    TEXT   NOT NULL DEFAULT '',
    mail_id   TEXT   NOT NULL DEFAULT '',
    winner    TEXT   NOT NULL CHECK (winner IN ('crm', 'mail')),
    loser     BYTEA,
    reason    TEXT   NOT NULL DEFAULT '',
    at        TIMESTAMPTZ
);
CREATE INDEX conflicts_user_kind ON conflicts (user_name, kind, id);

CREATE TABLE unresolved (
    user_name  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    side       TEXT NOT NULL CHECK (side IN ('crm', 'mail')),
    item_id    TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    candidates TEXT NOT NULL DEFAULT '[]',
    at         TIMESTAMPTZ,
    PRIMARY KEY (user_name, kind, side, item_id)
);

CREATE TABLE runs (
    user_name    TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    last_start   TIMESTAMPTZ,
    last_end     TIMESTAMPTZ,
    last_error   TEXT    NOT NULL DEFAULT '',
    paused       BOOLEAN NOT NULL DEFAULT false,
    pause_reason TEXT    NOT NULL DEFAULT '',
    force        BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (user_name, kind)
);
