//! The shared quota store: every replica takes its vendor-quota turns from one Redis, so the
//! fleet together stays under each vendor's rate.
//!
//! A turn is one round trip: a Lua script runs GCRA (the generic cell rate algorithm, as
//! redis-cell and Envoy's global rate-limit service do) over all the limits a call takes a
//! turn from, on Redis's own clock (`TIME`), not the replicas'. The script either reserves a
//! turn in every limit at once — at most `max_wait` ahead; the caller sleeps until it — or
//! reserves nothing and answers how long until a turn frees. Nothing is held while the call
//! talks to the vendor.
//!
//! When Redis does not answer within `[quota] timeout_ms`, the call is decided by this
//! replica's local limiter at `local_fallback_share` of each rate, and the store is marked
//! away: calls stop asking it (none waits on a dead connection), a probe asks it every
//! [`PROBE_INTERVAL`] with a fresh connection, and the first answer brings every call back
//! to the shared count. Both switches are logged, counted and shown on `/healthz`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::QuotaStoreConfig;
use crate::core::metrics::Metrics;

/// How often an away store is asked again.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// GCRA over several limits at once, on Redis's clock, all or nothing.
///
/// `KEYS`: one per limit. `ARGV[1]`: the longest wait the caller accepts, µs; then, per key,
/// its emission interval and its burst tolerance, µs. Answers `{0, wait_us, 0}` when a turn
/// was reserved in every limit `wait_us` from now, or `{1, wait_us, i}` when the earliest
/// turn is further than the caller waits (`i`: the limit that is furthest, 1-based);
/// nothing is written then. Times are integers of µs (below 2^53: exact in Lua's doubles).
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local max_wait = tonumber(ARGV[1])
local wait, worst = 0, 0
local tats = {}
for i, key in ipairs(KEYS) do
  local tolerance = tonumber(ARGV[i * 2 + 1])
  local tat = tonumber(redis.call('GET', key) or now) or now
  if tat < now then tat = now end
  tats[i] = tat
  local w = tat - tolerance - now
  if w > wait then wait, worst = w, i end
end
if wait > max_wait then return {1, wait, worst} end
local at = now + wait
for i, key in ipairs(KEYS) do
  local period = tonumber(ARGV[i * 2])
  local tat = tats[i]
  if tat < at then tat = at end
  local next_tat = tat + period
  local ttl_ms = math.floor((next_tat - now) / 1000) + 1000
  redis.call('SET', key, string.format('%d', next_tat), 'PX', string.format('%d', ttl_ms))
end
return {0, wait, 0}
";

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(GCRA));

/// One limit as the script sees it: its key, emission interval and burst tolerance.
#[derive(Debug, Clone)]
pub(crate) struct SharedLimit {
    pub key: String,
    pub period: Duration,
    pub tolerance: Duration,
}

/// The store's answer to a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Reserved: the call goes after this wait.
    Reserved(Duration),
    /// Not within the wait: limit `index` (into the limits asked) frees a turn after this.
    Refused { index: usize, wait: Duration },
}

/// The connection to the shared store and whether it answers.
pub(crate) struct SharedStore {
    client: redis::Client,
    conn: RwLock<Option<ConnectionManager>>,
    up: AtomicBool,
    timeout: Duration,
    /// The prefix of every key (`[quota] key_prefix`).
    pub prefix: String,
    /// The share of each rate a replica allows alone while the store is away.
    pub fallback_share: f64,
    /// The store's URL without its password.
    pub name: String,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStore")
            .field("store", &self.name)
            .field("up", &self.is_up())
            .finish()
    }
}

impl SharedStore {
    /// Opens the store `[quota]` names, or `None` when it names none. A store that does not
    /// answer yet is not an error: the gateway starts on its local fallback and the probe
    /// keeps asking. A URL that cannot be used is an error naming it (without its password).
    pub(crate) async fn open(
        config: &QuotaStoreConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Option<Arc<Self>>, String> {
        let (Some(url), Some(name)) = (&config.store, config.store_name()) else {
            return Ok(None);
        };
        let client = redis::Client::open(url.as_str())
            .map_err(|e| format!("quota.store {name}: {}", e.kind_text()))?;
        let store = Arc::new(Self {
            client,
            conn: RwLock::new(None),
            up: AtomicBool::new(false),
            timeout: Duration::from_millis(config.timeout_ms),
            prefix: config.key_prefix.clone(),
            fallback_share: config.fallback_share(),
            name,
            metrics,
        });
        store.metrics.set_quota_store_up(false);
        if store.reconnect().await {
            store.set_up(true);
        } else {
            tracing::warn!(
                store = %store.name,
                share = store.fallback_share,
                "the quota store does not answer: each replica limits alone at its fallback share until it does"
            );
        }
        let probe = Arc::downgrade(&store);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_INTERVAL).await;
                let Some(store) = probe.upgrade() else { return };
                if !store.is_up() && store.reconnect().await {
                    store.set_up(true);
                }
            }
        });
        Ok(Some(store))
    }

    /// The metrics the store's state and the fallback's turns are counted in.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Whether calls take their turns here (else from the local fallback).
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    fn set_up(&self, up: bool) {
        if self.up.swap(up, Ordering::AcqRel) == up {
            return;
        }
        self.metrics.set_quota_store_up(up);
        if up {
            tracing::info!(store = %self.name, "the quota store answers: vendor quotas are shared by the fleet again");
        } else {
            tracing::error!(
                store = %self.name,
                share = self.fallback_share,
                "the quota store does not answer: this replica limits alone at its fallback share of each rate until it does"
            );
        }
    }

    /// A fresh connection, checked with the script itself (no keys: it only reads the
    /// clock) within the timeout; kept when it answers. A Redis that answers PING but not
    /// the script in time stays away.
    async fn reconnect(&self) -> bool {
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(self.timeout.max(Duration::from_millis(250))))
            .set_response_timeout(Some(self.timeout));
        let attempt = async {
            let mut conn = ConnectionManager::new_with_config(self.client.clone(), config).await?;
            tokio::time::timeout(
                self.timeout,
                SCRIPT
                    .prepare_invoke()
                    .arg(0)
                    .invoke_async::<Vec<i64>>(&mut conn),
            )
            .await
            .map_err(|_| {
                redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
            })??;
            Ok::<_, redis::RedisError>(conn)
        };
        match tokio::time::timeout(self.timeout.max(Duration::from_millis(500)), attempt).await {
            Ok(Ok(conn)) => {
                *self.conn.write().unwrap_or_else(|p| p.into_inner()) = Some(conn);
                true
            }
            Ok(Err(e)) => {
                tracing::debug!(store = %self.name, error = %e.kind_text(), "quota store probe failed");
                false
            }
            Err(_) => false,
        }
    }

    /// Takes a turn from every one of `limits` at once, waiting at most `max_wait` for it.
    /// `None` when the store did not answer in time (it is then marked away).
    pub(crate) async fn take(&self, limits: &[SharedLimit], max_wait: Duration) -> Option<Turn> {
        let conn = self.conn.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(mut conn) = conn else {
            self.set_up(false);
            return None;
        };
        let mut invocation = SCRIPT.prepare_invoke();
        invocation.arg(micros(max_wait));
        for limit in limits {
            invocation
                .key(&limit.key)
                .arg(micros(limit.period))
                .arg(micros(limit.tolerance));
        }
        let answer =
            tokio::time::timeout(self.timeout, invocation.invoke_async::<Vec<i64>>(&mut conn))
                .await;
        match answer {
            Ok(Ok(reply)) => match reply.as_slice() {
                [0, wait, _] => Some(Turn::Reserved(from_micros(*wait))),
                [1, wait, index] => Some(Turn::Refused {
                    index: usize::try_from(*index).unwrap_or(1).saturating_sub(1),
                    wait: from_micros(*wait),
                }),
                other => {
                    tracing::error!(store = %self.name, reply = ?other, "the quota store answered something else than the script's reply");
                    self.set_up(false);
                    None
                }
            },
            Ok(Err(e)) => {
                tracing::warn!(store = %self.name, error = %e.kind_text(), "the quota store failed a turn");
                self.set_up(false);
                None
            }
            Err(_) => {
                tracing::warn!(store = %self.name, timeout_ms = self.timeout.as_millis() as u64, "the quota store did not answer in time");
                self.set_up(false);
                None
            }
        }
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn from_micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

/// A Redis error as text that never carries the URL's password (the crate's messages name
/// what failed, not the credentials; this keeps to its kind and detail).
trait KindText {
    fn kind_text(&self) -> String;
}

impl KindText for redis::RedisError {
    fn kind_text(&self) -> String {
        let mut text = self.category().to_string();
        if let Some(detail) = self.detail() {
            text.push_str(": ");
            text.push_str(detail);
        }
        if self.is_io_error() {
            text.push_str(if self.is_timeout() {
                " (timed out)"
            } else {
                " (connection failed)"
            });
        }
        text
    }
}
