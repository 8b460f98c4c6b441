//! The hermetic integration suite: the real host, the compiled plugin components, and vendor
//! simulators on loopback. No test reaches the internet.

mod support;

mod agora;
mod alibaba;
mod cli;
mod connections;
mod envoy;
mod events;
mod faults;
mod fleet;
mod hostile;
mod hotswap;
mod https;
mod jocloud;
mod loading;
mod observability;
mod openapi;
mod outbox;
mod plugin_kit;
mod quota;
mod reload;
mod rongcloud;
mod soak;
mod tenants;
mod tencent;
mod update;
mod zego;
