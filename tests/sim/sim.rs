//! What every vendor simulator shares: its [`SimServer`](crate::server::SimServer) methods.
//!
//! Each `<Vendor>Sim` holds a `server: SimServer` next to its vendor state, and
//! [`deref_to_server!`] gives it the server's whole surface (`addr`, `base_url`, `requests`,
//! `request_count`, `fail_next`, `fail_always`, `clear_requests`, `clear_faults`) by
//! `Deref<Target = SimServer>`, so these are written once, in `server.rs`. Vendor-specific
//! methods stay inherent on the vendor type (and win over the server's of the same name).

/// `impl Deref<Target = SimServer>` for a simulator type with a `server: SimServer` field.
macro_rules! deref_to_server {
    ($sim:ty) => {
        impl ::std::ops::Deref for $sim {
            type Target = $crate::server::SimServer;

            /// The underlying server: `sim.base_url()`, `sim.fail_next(…)` and the rest of
            /// [`SimServer`](crate::server::SimServer)'s methods work on the simulator itself.
            fn deref(&self) -> &Self::Target {
                &self.server
            }
        }
    };
}
pub(crate) use deref_to_server;
