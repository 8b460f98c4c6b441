//! The event outbox's storage: one small trait ([`EventStore`]) and its SQL implementation
//! ([`SqlStore`]) on SQLite (one file, the embedded default) or PostgreSQL (shared by a fleet).
//! Both run the same statements through sqlx's `Any` driver except where the dialects differ
//! (claiming with `FOR UPDATE SKIP LOCKED`, the commit-order lock), and both pass the same
//! test suite (`tests/all/outbox.rs`).
//!
//! One row of `ingest_events` is one event:
//!
//! | column | what |
//! |---|---|
//! | `seq` | its position in the stream, assigned in commit order (the SSE `id`, `Last-Event-ID`) |
//! | `id` | its id (`evt_…`), the `webhook-id` of every delivery attempt |
//! | `dedup_key` | SHA-256 of provider, tenant and the verified callback body: a vendor's retry of the same callback is the same event |
//! | `tenant`, `provider`, `ingest_id` | whose, from where, which ingest (the handle, when the plugin named the session) |
//! | `order_key` | SHA-256 of tenant, provider and the vendor session: events of one ingest are delivered in order |
//! | `body` | the JSON delivered, byte for byte the same on every attempt |
//! | `state` | `pending` (to be delivered), `delivered`, `failed` (the retry schedule ran out), `stream-only` (its tenant has no webhook) |
//! | `attempts`, `next_attempt_ms`, `last_error` | delivery progress |
//! | `lease_owner`, `lease_until_ms` | the replica delivering it now, and until when; an expired lease is anyone's |

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, Row, SqlSafeStr};

/// `state` of an event still to be delivered.
pub const PENDING: &str = "pending";
/// `state` of an event its webhook took.
pub const DELIVERED: &str = "delivered";
/// `state` of an event whose retry schedule ran out (kept for redelivery until retention ends).
pub const FAILED: &str = "failed";
/// `state` of an event whose tenant has no webhook (it is streamed and listed only).
pub const STREAM_ONLY: &str = "stream-only";
/// Every state, as the API filters by them.
pub const STATES: [&str; 4] = [PENDING, DELIVERED, FAILED, STREAM_ONLY];

/// The lock PostgreSQL appends take so that `seq` follows commit order (a stream reader that
/// has seen `seq` N will never later find a committed N-1).
const APPEND_LOCK: i64 = 0x696e_6765_7374; // "ingest"

/// The PostgreSQL channel appends notify when `[events] notify` is on.
pub const NOTIFY_CHANNEL: &str = "ingest_events";

/// A failure of the store: unreachable, or a statement refused.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self(e.to_string())
    }
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub dedup_key: String,
    pub tenant: String,
    pub provider: String,
    pub ingest_id: Option<String>,
    pub order_key: Option<String>,
    pub received_at_ms: i64,
    /// When the first delivery attempt is due (`retry_schedule_secs[0]` after receipt).
    pub first_attempt_ms: i64,
    pub body: String,
    /// [`PENDING`] or [`STREAM_ONLY`].
    pub state: &'static str,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: i64,
    /// The event's id: the new one, or the first one's for a duplicate.
    pub id: String,
    /// True when an event with the same dedup key was already stored.
    pub duplicate: bool,
}

/// An event leased for one delivery attempt.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub seq: i64,
    pub id: String,
    pub tenant: String,
    pub provider: String,
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The lease's end: with the owner, what identifies this claim (a settle after the
    /// lease expired and the event was claimed again changes nothing).
    pub lease_until_ms: i64,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone)]
pub enum Attempted {
    /// The webhook answered 2xx.
    Delivered,
    /// It failed; try again at `next_at_ms`.
    Retry { next_at_ms: i64, error: String },
    /// It failed and the schedule is exhausted (or there is no webhook any more).
    Failed { error: String },
}

/// One event as the stream carries it.
#[derive(Debug, Clone)]
pub struct Streamed {
    pub seq: i64,
    pub tenant: String,
    pub body: String,
}

/// One event with its delivery state, as the API lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stored {
    pub seq: i64,
    pub id: String,
    pub provider: String,
    pub ingest_id: Option<String>,
    pub received_at_ms: i64,
    pub state: String,
    pub attempts: i64,
    /// When the next attempt is due (pending events).
    pub next_attempt_ms: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at_ms: Option<i64>,
    /// The event as delivered.
    pub event: serde_json::Value,
}

/// A filter for [`EventStore::list`].
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub tenant: String,
    pub state: Option<String>,
    /// Only events of this ingest (its order key).
    pub order_key: Option<String>,
    /// Only events older than this `seq` (the next page).
    pub before: Option<i64>,
    pub limit: i64,
}

/// A tenant webhook endpoint's health, shared by every replica.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Endpoint {
    pub tenant: String,
    pub consecutive_failures: i64,
    /// Since when it has been failing (`None`: healthy).
    pub failing_since_ms: Option<i64>,
    pub last_error: Option<String>,
    /// When its last failed attempt was (0: none yet).
    pub last_failure_ms: i64,
}

/// The outbox's backlog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events waiting to be delivered.
    pub pending: i64,
    /// When the oldest of them was received.
    pub oldest_pending_ms: Option<i64>,
}

/// What the outbox needs of storage. Every method is one short transaction; none holds a
/// lock across a webhook call.
pub trait EventStore: Send + Sync + 'static {
    /// Appends events in one transaction; a duplicate (same `dedup_key`) is not appended
    /// again, the first one's id is returned instead.
    fn append(
        &self,
        batch: &[NewEvent],
    ) -> impl Future<Output = Result<Vec<Appended>, StoreError>> + Send;
    /// Leases up to `limit` due events to `owner` until `lease_until_ms`: pending, due, not
    /// leased by anyone else, and the oldest pending event of their ingest.
    fn claim(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Claimed>, StoreError>> + Send;
    /// Records an attempt on an event `owner` leased, and the endpoint's health; returns the
    /// endpoint as it now stands, or `None` when the lease was lost meanwhile (expired and
    /// taken again): then nothing changes.
    fn settle(
        &self,
        claimed: &Claimed,
        owner: &str,
        outcome: &Attempted,
        now_ms: i64,
        failing_after: i64,
    ) -> impl Future<Output = Result<Option<Endpoint>, StoreError>> + Send;
    /// Events after `seq` in stream order, of one tenant or all.
    fn after(
        &self,
        tenant: Option<&str>,
        seq: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Streamed>, StoreError>> + Send;
    /// The newest `seq` (0 when empty).
    fn last_seq(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// A tenant's events, newest first.
    fn list(&self, q: &ListQuery) -> impl Future<Output = Result<Vec<Stored>, StoreError>> + Send;
    /// One ingest's events, oldest first.
    fn history(
        &self,
        tenant: &str,
        order_key: &str,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Stored>, StoreError>> + Send;
    /// Makes a delivered, failed or stream-only event pending again, due now. `Ok(None)`: no such event of
    /// the tenant; `Ok(Some(false))`: it is pending already.
    fn redeliver(
        &self,
        tenant: &str,
        id: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<Option<bool>, StoreError>> + Send;
    /// Backlog figures.
    fn stats(&self) -> impl Future<Output = Result<Stats, StoreError>> + Send;
    /// The health of one tenant's endpoint, or of every endpoint.
    fn endpoints(
        &self,
        tenant: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Endpoint>, StoreError>> + Send;
    /// Deletes events received before `before_ms` that are not pending (an event still to be
    /// delivered is kept until it is delivered or fails); returns how many.
    fn purge(&self, before_ms: i64) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Which SQL dialect a store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The outbox on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    /// PostgreSQL: appends notify [`NOTIFY_CHANNEL`].
    notify: bool,
}

/// The migrations kept in the repository (`host/migrations/<dialect>/`), applied at start-up.
#[derive(Debug)]
struct Embedded(Dialect);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>> + Send>,
    > {
        let sql = match self.0 {
            Dialect::Sqlite => include_str!("../../../migrations/sqlite/0001_outbox.sql"),
            Dialect::Postgres => include_str!("../../../migrations/postgres/0001_outbox.sql"),
        };
        let migrations = vec![Migration::new(
            1,
            Cow::Borrowed("outbox"),
            MigrationType::Simple,
            sqlx::AssertSqlSafe(sql).into_sql_str(),
            false,
        )];
        Box::pin(async move { Ok(migrations) })
    }
}

impl SqlStore {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`), creating a SQLite file when
    /// missing, and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite://") || url == crate::config::MEMORY_EVENTS_STORE {
            Dialect::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else {
            return Err(StoreError(
                "the store must be `sqlite://PATH` or `postgres://…`".into(),
            ));
        };
        let options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(5))
            .max_connections(match dialect {
                Dialect::Sqlite => 4,
                Dialect::Postgres => 8,
            });
        let memory = url == crate::config::MEMORY_EVENTS_STORE;
        let options = if memory {
            // One in-memory database lives as long as its connection: keep exactly one.
            options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            options
        };
        let options = if dialect == Dialect::Sqlite {
            // WAL: readers never block the writer. NORMAL: leases and attempts survive a crash
            // of the process (not of the machine: then an attempt may be repeated, which
            // at-least-once allows); appends switch to FULL for their commit, so an event is
            // on disk before its callback is answered. busy_timeout: writers on other
            // connections wait instead of failing.
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;",
                    )
                    .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let url = match dialect {
            Dialect::Sqlite if url.starts_with("sqlite://") && !url.contains('?') => {
                format!("{url}?mode=rwc")
            }
            _ => url.to_string(),
        };
        let pool = options.connect(&url).await?;
        let migrator = Migrator::new(Embedded(dialect))
            .await
            .map_err(|e| StoreError(format!("migrations: {e}")))?;
        migrator
            .run(&pool)
            .await
            .map_err(|e| StoreError(format!("migrations: {e}")))?;
        Ok(Self {
            pool,
            dialect,
            notify: false,
        })
    }
}

/// Every row read with `read`.
fn each<T>(
    rows: &[AnyRow],
    read: impl Fn(&AnyRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, StoreError> {
    Ok(rows.iter().map(read).collect::<Result<_, sqlx::Error>>()?)
}

fn stored(row: &AnyRow) -> Result<Stored, sqlx::Error> {
    let body: String = row.try_get("body")?;
    let state: String = row.try_get("state")?;
    let next: i64 = row.try_get("next_attempt_ms")?;
    Ok(Stored {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        provider: row.try_get("provider")?,
        ingest_id: row.try_get("ingest_id")?,
        received_at_ms: row.try_get("received_at_ms")?,
        next_attempt_ms: (state == PENDING).then_some(next),
        state,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        delivered_at_ms: row.try_get("delivered_at_ms")?,
        event: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    })
}

/// The tenant's endpoint row after an attempt: a delivery (`error` is `None`) resets it, only
/// when it was failing (`None` otherwise: a healthy endpoint's row is not touched by every
/// delivery, or replicas would queue on that one row); a failure counts one more and marks it
/// failing at `failing_after` in a row.
async fn endpoint_after(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &str,
    error: Option<&String>,
    now_ms: i64,
    failing_after: i64,
) -> Result<Option<AnyRow>, sqlx::Error> {
    if error.is_none() {
        return sqlx::query(
            "UPDATE ingest_webhook_endpoints SET consecutive_failures = 0, failing_since_ms = NULL \
             WHERE tenant = $1 AND consecutive_failures <> 0 \
             RETURNING tenant, consecutive_failures, failing_since_ms, last_error, last_failure_ms",
        )
        .bind(tenant)
        .fetch_optional(&mut **tx)
        .await;
    }
    sqlx::query(
        "INSERT INTO ingest_webhook_endpoints (tenant, consecutive_failures, failing_since_ms, \
         last_error, last_failure_ms) \
         VALUES ($1, 1, CASE WHEN $4 <= 1 THEN $2 ELSE NULL END, $3, $2) \
         ON CONFLICT (tenant) DO UPDATE SET \
           consecutive_failures = ingest_webhook_endpoints.consecutive_failures + 1, \
           failing_since_ms = COALESCE(ingest_webhook_endpoints.failing_since_ms, \
             CASE WHEN ingest_webhook_endpoints.consecutive_failures + 1 >= $4 THEN $2 ELSE NULL END), \
           last_error = $3, last_failure_ms = $2 \
         RETURNING tenant, consecutive_failures, failing_since_ms, last_error, last_failure_ms",
    )
    .bind(tenant)
    .bind(now_ms)
    .bind(error)
    .bind(failing_after)
    .fetch_one(&mut **tx)
    .await
    .map(Some)
}

fn endpoint(row: &AnyRow) -> Result<Endpoint, sqlx::Error> {
    Ok(Endpoint {
        tenant: row.try_get("tenant")?,
        consecutive_failures: row.try_get("consecutive_failures")?,
        failing_since_ms: row.try_get("failing_since_ms")?,
        last_error: row.try_get("last_error")?,
        last_failure_ms: row.try_get("last_failure_ms")?,
    })
}

const STORED_COLUMNS: &str = "seq, id, provider, ingest_id, received_at_ms, state, attempts, \
     next_attempt_ms, last_error, delivered_at_ms, body";

impl SqlStore {
    /// Whether appends notify [`NOTIFY_CHANNEL`] (PostgreSQL only; ignored on SQLite).
    pub fn with_notify(mut self, on: bool) -> Self {
        self.notify = on && self.dialect == Dialect::Postgres;
        self
    }

    /// Whether appends notify.
    pub fn notifies(&self) -> bool {
        self.notify
    }

    /// Makes this transaction's commit return before its WAL record is flushed (PostgreSQL):
    /// for leases and attempts, whose loss in a crash of the server only repeats an attempt.
    /// Appends never use it.
    async fn relaxed_commit(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(), StoreError> {
        if self.dialect == Dialect::Postgres {
            tx.execute("SET LOCAL synchronous_commit = off").await?;
        }
        Ok(())
    }

    /// The append transaction on one connection.
    async fn append_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        batch: &[NewEvent],
    ) -> Result<Vec<Appended>, StoreError> {
        let mut tx = sqlx::Connection::begin(conn).await?;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(APPEND_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        let mut out = Vec::with_capacity(batch.len());
        for e in batch {
            let seq: Option<i64> = sqlx::query_scalar(
                "INSERT INTO ingest_events (id, dedup_key, tenant, provider, ingest_id, order_key, \
                 received_at_ms, body, state, next_attempt_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (dedup_key) DO NOTHING RETURNING seq",
            )
            .bind(&e.id)
            .bind(&e.dedup_key)
            .bind(&e.tenant)
            .bind(&e.provider)
            .bind(&e.ingest_id)
            .bind(&e.order_key)
            .bind(e.received_at_ms)
            .bind(&e.body)
            .bind(e.state)
            .bind(e.first_attempt_ms)
            .fetch_optional(&mut *tx)
            .await?;
            out.push(match seq {
                Some(seq) => Appended {
                    seq,
                    id: e.id.clone(),
                    duplicate: false,
                },
                None => {
                    let row = sqlx::query("SELECT seq, id FROM ingest_events WHERE dedup_key = $1")
                        .bind(&e.dedup_key)
                        .fetch_one(&mut *tx)
                        .await?;
                    Appended {
                        seq: row.try_get("seq")?,
                        id: row.try_get("id")?,
                        duplicate: true,
                    }
                }
            });
        }
        if self.notify && out.iter().any(|a| !a.duplicate) {
            // Delivered to every listening replica when the transaction commits.
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(NOTIFY_CHANNEL)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(out)
    }
}

impl EventStore for SqlStore {
    async fn append(&self, batch: &[NewEvent]) -> Result<Vec<Appended>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        if self.dialect == Dialect::Sqlite {
            conn.execute("PRAGMA synchronous = FULL").await?;
        }
        let appended = self.append_on(&mut conn, batch).await;
        if self.dialect == Dialect::Sqlite {
            conn.execute("PRAGMA synchronous = NORMAL").await?;
        }
        appended
    }

    async fn claim(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let sql = format!(
            "UPDATE ingest_events SET lease_until_ms = $1, lease_owner = $2 WHERE seq IN ( \
               SELECT e.seq FROM ingest_events e \
               WHERE e.state = 'pending' AND e.next_attempt_ms <= $3 AND e.lease_until_ms <= $3 \
                 AND NOT EXISTS (SELECT 1 FROM ingest_events p WHERE p.order_key = e.order_key \
                                 AND p.state = 'pending' AND p.seq < e.seq) \
               ORDER BY e.seq LIMIT $4 {lock}) \
             RETURNING seq, id, tenant, provider, body, attempts",
            lock = match self.dialect {
                Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
                Dialect::Sqlite => "",
            }
        );
        let mut tx = self.pool.begin().await?;
        self.relaxed_commit(&mut tx).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(lease_until_ms)
            .bind(owner)
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut claimed = each(&rows, |r| {
            Ok(Claimed {
                seq: r.try_get("seq")?,
                id: r.try_get("id")?,
                tenant: r.try_get("tenant")?,
                provider: r.try_get("provider")?,
                body: r.try_get("body")?,
                attempts: r.try_get("attempts")?,
                lease_until_ms,
            })
        })?;
        claimed.sort_by_key(|c| c.seq);
        Ok(claimed)
    }

    async fn settle(
        &self,
        claimed: &Claimed,
        owner: &str,
        outcome: &Attempted,
        now_ms: i64,
        failing_after: i64,
    ) -> Result<Option<Endpoint>, StoreError> {
        let mut tx = self.pool.begin().await?;
        self.relaxed_commit(&mut tx).await?;
        let (state, next, error, delivered_at) = match outcome {
            Attempted::Delivered => (DELIVERED, now_ms, None, Some(now_ms)),
            Attempted::Retry { next_at_ms, error } => (PENDING, *next_at_ms, Some(error), None),
            Attempted::Failed { error } => (FAILED, now_ms, Some(error), None),
        };
        let settled = sqlx::query(
            "UPDATE ingest_events SET state = $1, attempts = attempts + 1, next_attempt_ms = $2, \
             last_error = $3, delivered_at_ms = $4, lease_until_ms = 0, lease_owner = NULL \
             WHERE seq = $5 AND lease_owner = $6 AND lease_until_ms = $7",
        )
        .bind(state)
        .bind(next)
        .bind(error)
        .bind(delivered_at)
        .bind(claimed.seq)
        .bind(owner)
        .bind(claimed.lease_until_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if settled == 0 {
            tx.commit().await?;
            return Ok(None);
        }
        let endpoint =
            match endpoint_after(&mut tx, &claimed.tenant, error, now_ms, failing_after).await? {
                Some(row) => endpoint(&row)?,
                // Delivered to an endpoint that was not failing: nothing changed.
                None => Endpoint {
                    tenant: claimed.tenant.clone(),
                    consecutive_failures: 0,
                    failing_since_ms: None,
                    last_error: None,
                    last_failure_ms: 0,
                },
            };
        tx.commit().await?;
        Ok(Some(endpoint))
    }

    async fn after(
        &self,
        tenant: Option<&str>,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<Streamed>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, tenant, body FROM ingest_events \
             WHERE seq > $1 AND (CAST($2 AS TEXT) IS NULL OR tenant = $2) ORDER BY seq LIMIT $3",
        )
        .bind(seq)
        .bind(tenant)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        each(&rows, |r| {
            Ok(Streamed {
                seq: r.try_get("seq")?,
                tenant: r.try_get("tenant")?,
                body: r.try_get("body")?,
            })
        })
    }

    async fn last_seq(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(seq) FROM ingest_events")
                .fetch_one(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    async fn list(&self, q: &ListQuery) -> Result<Vec<Stored>, StoreError> {
        let sql = format!(
            "SELECT {STORED_COLUMNS} FROM ingest_events WHERE tenant = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR state = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR order_key = $3) \
             AND seq < $4 ORDER BY seq DESC LIMIT $5"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&q.tenant)
            .bind(&q.state)
            .bind(&q.order_key)
            .bind(q.before.unwrap_or(i64::MAX))
            .bind(q.limit)
            .fetch_all(&self.pool)
            .await?;
        each(&rows, stored)
    }

    async fn history(
        &self,
        tenant: &str,
        order_key: &str,
        limit: i64,
    ) -> Result<Vec<Stored>, StoreError> {
        let sql = format!(
            "SELECT {STORED_COLUMNS} FROM ingest_events WHERE tenant = $1 AND order_key = $2 \
             ORDER BY seq LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(order_key)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        each(&rows, stored)
    }

    async fn redeliver(
        &self,
        tenant: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<bool>, StoreError> {
        let changed = sqlx::query(
            "UPDATE ingest_events SET state = 'pending', attempts = 0, next_attempt_ms = $1, \
             lease_until_ms = 0, lease_owner = NULL \
             WHERE tenant = $2 AND id = $3 AND state IN ('delivered', 'failed', 'stream-only')",
        )
        .bind(now_ms)
        .bind(tenant)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed > 0 {
            return Ok(Some(true));
        }
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM ingest_events WHERE tenant = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(state.map(|_| false))
    }

    async fn stats(&self) -> Result<Stats, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS pending, MIN(received_at_ms) AS oldest FROM ingest_events \
             WHERE state = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Stats {
            pending: row.try_get("pending")?,
            oldest_pending_ms: row.try_get("oldest")?,
        })
    }

    async fn endpoints(&self, tenant: Option<&str>) -> Result<Vec<Endpoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant, consecutive_failures, failing_since_ms, last_error, last_failure_ms \
             FROM ingest_webhook_endpoints WHERE (CAST($1 AS TEXT) IS NULL OR tenant = $1) \
             ORDER BY tenant",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        each(&rows, endpoint)
    }

    async fn purge(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM ingest_events WHERE received_at_ms < $1 AND state <> 'pending'",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64, received_at_ms: i64) -> NewEvent {
        NewEvent {
            id: format!("evt_{n}"),
            dedup_key: format!("dedup-{n}"),
            tenant: "a".into(),
            provider: "p".into(),
            ingest_id: None,
            order_key: None,
            received_at_ms,
            first_attempt_ms: received_at_ms,
            body: "{}".into(),
            state: PENDING,
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(f))
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }

    async fn store() -> SqlStore {
        SqlStore::connect(crate::config::MEMORY_EVENTS_STORE)
            .await
            .unwrap_or_else(|e| panic!("store: {e}"))
    }

    #[test]
    fn retention_never_removes_an_event_still_to_be_delivered() {
        block_on(async {
            let s = store().await;
            s.append(&[event(1, 0), event(2, 0)]).await.expect("append");
            let claimed = s.claim("me", 10, 1_000, 1).await.expect("claim");
            assert_eq!(claimed.len(), 1);
            let settled = s
                .settle(&claimed[0], "me", &Attempted::Delivered, 20, 5)
                .await
                .expect("settle");
            assert!(settled.is_some());
            // Both are past retention; only the delivered one goes.
            assert_eq!(s.purge(1_000_000).await.expect("purge"), 1);
            let left = s.after(None, 0, 10).await.expect("read");
            assert_eq!(left.len(), 1);
            assert_eq!(s.stats().await.expect("stats").pending, 1);
        });
    }

    #[test]
    fn an_attempt_that_outlived_its_lease_changes_nothing() {
        block_on(async {
            let s = store().await;
            s.append(&[event(1, 0)]).await.expect("append");
            let first = s.claim("me", 10, 100, 1).await.expect("claim");
            // The lease ran out; the same replica claims the event again.
            let second = s.claim("me", 200, 300, 1).await.expect("claim");
            assert_eq!(second.len(), 1, "an expired lease is anyone's");
            let late = s
                .settle(&first[0], "me", &Attempted::Delivered, 250, 5)
                .await
                .expect("settle");
            assert!(
                late.is_none(),
                "the first attempt's outcome is not recorded"
            );
            assert_eq!(s.stats().await.expect("stats").pending, 1);
            let current = s
                .settle(&second[0], "me", &Attempted::Delivered, 260, 5)
                .await
                .expect("settle");
            assert!(current.is_some());
            assert_eq!(s.stats().await.expect("stats").pending, 0);
        });
    }
}
