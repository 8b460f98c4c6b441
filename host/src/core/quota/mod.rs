//! Vendor quotas: each provider's request-rate limits (GCRA, `governor`), checked as each
//! vendor request is about to leave, so a burst never reaches the vendor faster than the
//! vendor allows.
//!
//! A provider has up to two limits on a call: the rate of all its operations together
//! (`rate`, e.g. Alibaba's 100/s per account) and the rate of the call's operation (`start`,
//! `stop`, `status`, e.g. Tencent's StartStreamIngest 20/s). A call takes a
//! turn from each. With `tenant_share` below 1, each tenant also has its own limiter at that
//! share of each rate, checked first, so one tenant's burst cannot take every turn.
//!
//! A call's first vendor request over a limit waits for its turn when that comes within
//! `max_wait_ms` and is refused otherwise: the call ends `rate-limited`, with the time until a
//! turn frees as `Retry-After`, and nothing of it reached the vendor. A later request of an
//! admitted call (a status query after an action, a second page) also takes a turn but waits
//! for it, up to the call's deadline, rather than fail a half-done operation. Turns are taken
//! when the request leaves, not when the call arrives: the plugin's work before it does not
//! blur the spacing the vendor sees.
//!
//! With `[quota] store = "redis://…"` the turns are taken from Redis (`shared.rs`), one round
//! trip per vendor request, so every replica counts against the same limits; the local
//! limiters then run at `local_fallback_share` of each rate and decide only while Redis does
//! not answer.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) mod shared;

use shared::{SharedLimit, SharedStore, Turn};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};

use crate::config::QuotaConfig;

/// The documented limits of the seed vendors, by plugin name: calls per second for all
/// operations together, then for `start`, `stop` and `status`. Sources: shared/vendors/*.md.
fn vendor_default(plugin: &str) -> [Option<u32>; 4] {
    match plugin {
        // "Rate limit 20 requests/s" for each of StartStreamIngest, StopStreamIngest and
        // DescribeStreamIngest.
        "tencent-trtc" => [None, Some(20), Some(20), Some(20)],
        // 100 requests/s per account, all APIs together.
        "alibaba-artc" => [Some(100), None, None, None],
        // RTMPDispatchV2: 40/s per AppID.
        "zego-dispatch" => [Some(40), None, None, None],
        // "Call frequency limit: 20 times/second" on each of CreatePlayer, DeletePlayer,
        // DescribePlayers (and UpdatePlayer, counted under `rate`): ZEGOCLOUD/docs_all,
        // extended_services/cloud_player/en/server/*.yaml.
        "zego-cloud-player" => [None, Some(20), Some(20), Some(20)],
        _ => [None; 4],
    }
}

/// Turns are this much farther apart than `1 s / rate`.
const SPACING: f64 = 1.10;

/// The operations with a quota of their own (each one sends vendor requests).
const OPERATIONS: [&str; 3] = ["start", "stop", "status"];
/// The operations that send vendor requests: the provider-wide `rate` counts all of them
/// (`update` has no quota of its own: no seed vendor documents one for it).
const VENDOR_OPERATIONS: [&str; 4] = ["start", "stop", "status", "update"];

/// One rate: the provider-wide limiter and, with a tenant share, one limiter per tenant.
struct Limit {
    /// What the limit is, for messages: `start`, or `all operations`.
    scope: &'static str,
    /// Its key under `[providers.quota]`: `rate`, `start` …
    key: &'static str,
    per_second: u32,
    shared: DefaultDirectRateLimiter,
    per_tenant: Option<DefaultKeyedRateLimiter<String>>,
    /// The limit in the shared store: emission interval and burst tolerance at the whole
    /// rate, and the tenant share's interval (its tolerance scales with it).
    period: Duration,
    tolerance: Duration,
    tenant_period: Option<(Duration, Duration)>,
}

impl Limit {
    /// A limit of `per_second`; its local limiters allow `local_share` of it (1 without a
    /// shared store; the fallback share with one).
    fn new(
        scope: &'static str,
        key: &'static str,
        per_second: u32,
        cfg: &QuotaConfig,
        local_share: f64,
    ) -> Option<Self> {
        NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(cfg.burst).unwrap_or(NonZeroU32::MIN);
        let scaled = |rate: u32, share: f64| {
            // Bounded: a configured rate times a share validated to (0, 1].
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = (f64::from(rate) * share).floor() as u32;
            NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
        };
        let rate = scaled(per_second, local_share);
        // Turns are spaced 10 % wider than the rate: a call admitted on time may reach the
        // vendor a little late and the next one on time, and the vendor counts arrivals.
        // 5 % was too little: under a burst of 100 on 2 cores the waiting calls' plugin steps
        // delayed a released request by over 50 ms and the simulator saw 21 in one second.
        let quota = |rate: NonZeroU32| {
            Quota::with_period(Duration::from_secs(1).mul_f64(SPACING) / rate.get())
                .unwrap_or_else(|| Quota::per_second(rate))
                .allow_burst(burst.min(rate))
        };
        let per_tenant = (cfg.tenant_share < 1.0).then(|| {
            DefaultKeyedRateLimiter::keyed(quota(scaled(
                per_second,
                cfg.tenant_share * local_share,
            )))
        });
        // The same spacing and burst in the shared store, at the whole rate.
        let gcra = |rate: NonZeroU32| {
            let period = Duration::from_secs(1).mul_f64(SPACING) / rate.get();
            (period, period * (burst.min(rate).get() - 1))
        };
        let (period, tolerance) = gcra(scaled(per_second, 1.0));
        let tenant_period =
            (cfg.tenant_share < 1.0).then(|| gcra(scaled(per_second, cfg.tenant_share)));
        Some(Self {
            scope,
            key,
            per_second,
            shared: DefaultDirectRateLimiter::direct(quota(rate)),
            per_tenant,
            period,
            tolerance,
            tenant_period,
        })
    }
}

/// How a call got past the quota (ordered: a call delayed by any limit was delayed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Admission {
    /// At once.
    Admitted,
    /// After waiting for its turn.
    Delayed,
}

/// Why a call was refused: the limit it hit and when a turn frees.
#[derive(Debug, Clone)]
pub(crate) struct Refused {
    /// `start` or `all operations`.
    pub scope: &'static str,
    /// Its key under `[providers.quota]`.
    pub key: &'static str,
    /// The limit, calls per second.
    pub per_second: u32,
    /// Whether the tenant's share was the limit (not the provider's whole rate).
    pub tenant_share: bool,
    /// Until a turn frees.
    pub retry_after: Duration,
}

/// A provider's quotas. They belong to the provider, not to its plugin version: a hot swap
/// keeps the count.
pub(crate) struct Quotas {
    all: Option<Limit>,
    /// `start`, `stop`, `status`, in [`OPERATIONS`] order.
    per_op: [Option<Limit>; 3],
    max_wait: Duration,
    /// The shared store and this provider's key prefix in it (`PREFIX:{provider}`: one hash
    /// slot per provider).
    store: Option<(Arc<SharedStore>, String)>,
    /// The provider's id, for metrics.
    provider: String,
}

impl std::fmt::Debug for Quotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rate = |l: &Option<Limit>| l.as_ref().map(|l| l.per_second);
        f.debug_struct("Quotas")
            .field("all", &rate(&self.all))
            .field("per_op", &self.per_op.each_ref().map(rate))
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

impl Quotas {
    /// The quotas of provider `provider` whose plugin is `plugin`: the configured rates, else
    /// the vendor's documented ones; counted in `store` when there is one.
    pub(crate) fn new(
        provider: &str,
        plugin: &str,
        cfg: &QuotaConfig,
        store: Option<Arc<SharedStore>>,
    ) -> Self {
        let local_share = store.as_ref().map_or(1.0, |s| s.fallback_share);
        let [all, start, stop, status] = vendor_default(plugin);
        let pick = |set: Option<u32>, default: Option<u32>| set.or(default).unwrap_or(0);
        let rates = [
            pick(cfg.start, start),
            pick(cfg.stop, stop),
            pick(cfg.status, status),
        ];
        Self {
            all: Limit::new(
                "all operations",
                "rate",
                pick(cfg.rate, all),
                cfg,
                local_share,
            ),
            per_op: [0, 1, 2]
                .map(|i| Limit::new(OPERATIONS[i], OPERATIONS[i], rates[i], cfg, local_share)),
            max_wait: Duration::from_millis(cfg.max_wait_ms),
            store: store.map(|s| {
                let prefix = format!("{}:{{{provider}}}", s.prefix);
                (s, prefix)
            }),
            provider: provider.to_string(),
        }
    }

    /// Whether no limit is set (calls then skip the quota gate).
    pub(crate) fn is_empty(&self) -> bool {
        self.all.is_none() && self.per_op.iter().all(Option::is_none)
    }

    /// The limits in effect, calls per second (`None`: no limit), for listings.
    pub(crate) fn rates(&self) -> [(&'static str, Option<u32>); 4] {
        let rate = |l: &Option<Limit>| l.as_ref().map(|l| l.per_second);
        [
            ("all", rate(&self.all)),
            ("start", rate(&self.per_op[0])),
            ("stop", rate(&self.per_op[1])),
            ("status", rate(&self.per_op[2])),
        ]
    }

    /// Takes a turn for one call of `operation` by `tenant` (empty without authentication),
    /// waiting for it up to `max_wait`. Operations without a quota (`describe`,
    /// `parse-callback`) pass at once.
    pub(crate) async fn admit(&self, operation: &str, tenant: &str) -> Result<Admission, Refused> {
        self.admit_within(operation, tenant, self.max_wait).await
    }

    /// [`admit`](Self::admit), waiting up to `max_wait` instead of the configured wait (a
    /// later vendor request of a call already admitted waits as long as the call may).
    pub(crate) async fn admit_within(
        &self,
        operation: &str,
        tenant: &str,
        max_wait: Duration,
    ) -> Result<Admission, Refused> {
        let deadline = Instant::now() + max_wait;
        if !VENDOR_OPERATIONS.contains(&operation) {
            return Ok(Admission::Admitted);
        }
        let own = OPERATIONS
            .iter()
            .position(|o| *o == operation)
            .and_then(|op| self.per_op[op].as_ref());
        let limits = [self.all.as_ref(), own];
        if limits.iter().all(Option::is_none) {
            return Ok(Admission::Admitted);
        }
        if let Some((store, prefix)) = &self.store {
            if store.is_up() {
                match self
                    .take_shared(store, prefix, &limits, tenant, max_wait)
                    .await
                {
                    Some(decided) => return decided,
                    None => self.note_fallback(),
                }
            } else {
                self.note_fallback();
            }
        }
        let mut admission = Admission::Admitted;
        for limit in limits.into_iter().flatten() {
            if let Some(keyed) = &limit.per_tenant {
                let key = tenant.to_string();
                let turn = take_turn(|| keyed.check_key(&key), deadline).await;
                admission = admission.max(turn.map_err(|wait| refused(limit, true, wait))?);
            }
            let turn = take_turn(|| limit.shared.check(), deadline).await;
            admission = admission.max(turn.map_err(|wait| refused(limit, false, wait))?);
        }
        Ok(admission)
    }
}

impl Quotas {
    fn note_fallback(&self) {
        if let Some((store, _)) = &self.store {
            store.metrics().quota_fallback(&self.provider);
        }
    }

    /// A turn from the shared store: every limit (and the tenant's shares) in one round
    /// trip, reserved at most `max_wait` ahead and slept until. `None` when the store did not
    /// answer: the local limiters decide.
    async fn take_shared(
        &self,
        store: &SharedStore,
        prefix: &str,
        limits: &[Option<&Limit>; 2],
        tenant: &str,
        max_wait: Duration,
    ) -> Option<Result<Admission, Refused>> {
        let mut asked: Vec<(&Limit, bool)> = Vec::with_capacity(4);
        let mut keys = Vec::with_capacity(4);
        for limit in limits.iter().flatten() {
            if let Some((period, tolerance)) = limit.tenant_period {
                asked.push((limit, true));
                keys.push(SharedLimit {
                    key: format!("{prefix}:{}:tenant:{tenant}", limit.key),
                    period,
                    tolerance,
                });
            }
            asked.push((limit, false));
            keys.push(SharedLimit {
                key: format!("{prefix}:{}", limit.key),
                period: limit.period,
                tolerance: limit.tolerance,
            });
        }
        match store.take(&keys, max_wait).await? {
            Turn::Reserved(wait) if wait.is_zero() => Some(Ok(Admission::Admitted)),
            Turn::Reserved(wait) => {
                tokio::time::sleep(wait).await;
                Some(Ok(Admission::Delayed))
            }
            Turn::Refused { index, wait } => {
                let (limit, tenant_share) = asked.get(index).or(asked.first())?;
                Some(Err(refused(limit, *tenant_share, wait)))
            }
        }
    }
}

/// For the benchmarks: `turns` quota turns of one `start` limit of `per_second` (high
/// enough that each is admitted at once), counted in `store` (`redis://…`) or in this
/// process; the time each turn took. This is what the quota adds to every admitted call.
pub async fn time_turns(
    store: Option<&str>,
    per_second: u32,
    turns: usize,
) -> Result<Vec<Duration>, String> {
    let metrics = Arc::new(crate::core::metrics::Metrics::new());
    let shared = match store {
        Some(url) => {
            let config = crate::config::QuotaStoreConfig {
                store: Some(url.to_string()),
                ..Default::default()
            };
            let store = SharedStore::open(&config, metrics)
                .await?
                .ok_or("no store")?;
            if !store.is_up() {
                return Err(format!("the quota store {} does not answer", store.name));
            }
            Some(store)
        }
        None => None,
    };
    let cfg = QuotaConfig {
        start: Some(per_second),
        burst: per_second,
        max_wait_ms: 0,
        ..QuotaConfig::default()
    };
    let provider = format!("bench-{}", crate::text::random_hex(6));
    let quotas = Quotas::new(&provider, "bench", &cfg, shared.clone());
    let mut took = Vec::with_capacity(turns);
    for _ in 0..turns {
        let t0 = Instant::now();
        quotas.admit("start", "").await.map_err(|r| {
            format!(
                "a turn was refused ({:?} to wait): raise the rate",
                r.retry_after
            )
        })?;
        took.push(t0.elapsed());
        // A turn the local fallback decided is not a shared turn.
        if shared.as_ref().is_some_and(|s| !s.is_up()) {
            return Err("the quota store stopped answering during the run".into());
        }
    }
    Ok(took)
}

fn refused(limit: &Limit, tenant_share: bool, retry_after: Duration) -> Refused {
    Refused {
        scope: limit.scope,
        key: limit.key,
        per_second: limit.per_second,
        tenant_share,
        retry_after,
    }
}

/// Takes one turn from a limiter, sleeping until it frees when that is before `deadline`;
/// otherwise the wait that would have been needed.
async fn take_turn(
    check: impl Fn() -> Result<(), NotUntil>,
    deadline: Instant,
) -> Result<Admission, Duration> {
    let mut admission = Admission::Admitted;
    loop {
        let wait = match check() {
            Ok(()) => return Ok(admission),
            Err(not_until) => wait_of(&not_until),
        };
        if Instant::now() + wait > deadline {
            return Err(wait);
        }
        // Another waiter may take the turn first; then this one checks again.
        tokio::time::sleep(wait).await;
        admission = Admission::Delayed;
    }
}

/// A refused check of any of the gateway's limiters (vendor quotas, tenant rates).
pub(crate) type NotUntil = governor::NotUntil<<DefaultClock as Clock>::Instant>;

/// The wait a refused check names, from now.
pub(crate) fn wait_of(not_until: &NotUntil) -> Duration {
    not_until.wait_time_from(DefaultClock::default().now())
}

/// A wait as `Retry-After` seconds: rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u32 {
    wait.as_secs_f64().ceil().max(1.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(f: impl FnOnce(&mut QuotaConfig)) -> QuotaConfig {
        let mut c = QuotaConfig::default();
        f(&mut c);
        c
    }

    #[test]
    fn seed_vendors_get_their_documented_limits_and_the_operator_overrides_them() {
        let trtc = Quotas::new("p", "tencent-trtc", &QuotaConfig::default(), None);
        assert_eq!(
            trtc.rates(),
            [
                ("all", None),
                ("start", Some(20)),
                ("stop", Some(20)),
                ("status", Some(20))
            ]
        );
        let raised = Quotas::new("p", "tencent-trtc", &config(|c| c.start = Some(50)), None);
        assert_eq!(raised.rates()[1], ("start", Some(50)));
        let off = Quotas::new("p", "tencent-trtc", &config(|c| c.start = Some(0)), None);
        assert_eq!(off.rates()[1], ("start", None));
        let unknown = Quotas::new("p", "third-party", &QuotaConfig::default(), None);
        assert!(unknown.rates().iter().all(|(_, r)| r.is_none()));
    }

    #[tokio::test]
    async fn over_the_rate_a_call_waits_for_its_turn_or_is_refused_with_the_wait() {
        let q = Quotas::new(
            "p",
            "x",
            &config(|c| {
                c.start = Some(2);
                c.max_wait_ms = 400;
            }),
            None,
        );
        assert_eq!(
            q.admit("start", "").await.expect("admitted"),
            Admission::Admitted
        );
        // The next turn is 550 ms away: past the 400 ms wait, refused with the time to wait.
        let refused = q.admit("start", "").await.expect_err("refused");
        assert_eq!((refused.scope, refused.per_second), ("start", 2));
        assert!(refused.retry_after > Duration::from_millis(400));
        assert!(refused.retry_after <= Duration::from_millis(550));
        // 200 ms later the turn is ~350 ms away: within the wait, so the call waits for it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t0 = Instant::now();
        assert_eq!(
            q.admit("start", "").await.expect("admitted"),
            Admission::Delayed
        );
        assert!(
            t0.elapsed() >= Duration::from_millis(100),
            "{:?}",
            t0.elapsed()
        );
        // Other operations have no limit here.
        assert_eq!(
            q.admit("status", "").await.expect("admitted"),
            Admission::Admitted
        );
        assert_eq!(
            q.admit("describe", "").await.expect("admitted"),
            Admission::Admitted
        );
    }

    #[tokio::test]
    async fn a_tenant_share_leaves_turns_for_the_other_tenants() {
        let q = Quotas::new(
            "p",
            "x",
            &config(|c| {
                c.rate = Some(4);
                c.burst = 4;
                c.max_wait_ms = 0;
                c.tenant_share = 0.5;
            }),
            None,
        );
        // Tenant a may take 2 of the 4 turns, not more.
        assert!(q.admit("start", "a").await.is_ok());
        assert!(q.admit("stop", "a").await.is_ok());
        let refused = q.admit("start", "a").await.expect_err("refused");
        assert!(refused.tenant_share);
        assert_eq!(refused.scope, "all operations");
        // Tenant b still gets its turns.
        assert!(q.admit("start", "b").await.is_ok());
        assert!(q.admit("start", "b").await.is_ok());
    }
}
