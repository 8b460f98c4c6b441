//! The hermetic integration suite: the real host, the compiled plugin components, and vendor
//! simulators on loopback. No test reaches the internet.

mod support;

mod cli;
mod hostile;
mod loading;
mod tencent;
