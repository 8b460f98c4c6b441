-- The event outbox (SQLite). See host/src/core/events/store.rs for what each column means;
-- postgres/0001_outbox.sql is the same schema in PostgreSQL's spelling.
CREATE TABLE ingest_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    dedup_key       TEXT    NOT NULL UNIQUE,
    tenant          TEXT    NOT NULL,
    provider        TEXT    NOT NULL,
    ingest_id       TEXT,
    order_key       TEXT,
    received_at_ms  INTEGER NOT NULL,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    lease_until_ms  INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    last_error      TEXT,
    delivered_at_ms INTEGER
);
-- Pending events in stream order: a claim walks them oldest first and stops at its limit.
CREATE INDEX ingest_events_pending ON ingest_events (seq) WHERE state = 'pending';
CREATE INDEX ingest_events_order ON ingest_events (order_key, seq);
CREATE INDEX ingest_events_tenant ON ingest_events (tenant, seq);
CREATE INDEX ingest_events_received ON ingest_events (received_at_ms);

CREATE TABLE ingest_webhook_endpoints (
    tenant               TEXT    PRIMARY KEY,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since_ms     INTEGER,
    last_error           TEXT,
    last_failure_ms      INTEGER NOT NULL DEFAULT 0
);
