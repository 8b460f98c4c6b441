//! `ingest:provider/context`: the call's timestamp, nonces and request id. Fixed for the
//! whole call, so every step of a call sees the same values; the nonce sequence restarts at
//! every step (contract 0.2's determinism rules).

use crate::contract;

/// The context capability of one call.
#[derive(Debug)]
pub(crate) struct CallContext {
    now_ms: u64,
    nonce: String,
    nonces_issued: u32,
    request_id: String,
}

impl CallContext {
    /// A context fixed at `now_ms` with base nonce `nonce`.
    pub(crate) fn new(now_ms: u64, nonce: String, request_id: String) -> Self {
        Self {
            now_ms,
            nonce,
            nonces_issued: 0,
            request_id,
        }
    }

    /// Starts a step: the nonce sequence begins again.
    pub(crate) fn restart(&mut self) {
        self.nonces_issued = 0;
    }
}

impl contract::context::Host for CallContext {
    fn now_ms(&mut self) -> u64 {
        self.now_ms
    }

    fn next_nonce(&mut self) -> String {
        self.nonces_issued = self.nonces_issued.saturating_add(1);
        if self.nonces_issued == 1 {
            self.nonce.clone()
        } else {
            format!("{}-{}", self.nonce, self.nonces_issued)
        }
    }

    fn request_id(&mut self) -> String {
        self.request_id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::context::Host;

    #[test]
    fn nonces_are_distinct_within_a_step_and_repeat_across_steps() {
        let mut c = CallContext::new(7, "n".into(), "req-1".into());
        assert_eq!((c.next_nonce(), c.next_nonce()), ("n".into(), "n-2".into()));
        c.restart();
        assert_eq!(c.next_nonce(), "n");
        assert_eq!(c.now_ms(), 7);
    }
}
