//! Running an operation by deterministic replay over the step's answers.
//!
//! In `ingest:provider@0.2` the host calls `start`, `stop`, `status` and `update` once per step, on a
//! fresh instance, with the vendor's answers to the requests the operation returned so far.
//! [`run`] executes the plugin's ordinary sequential code for one step: the `i`-th
//! [`http::send`](crate::http::send) returns the `i`-th answer; the first `send` past the
//! answers records its request as *pending* and returns an error that makes the plugin unwind
//! (the plugin's `?` carries it out); whatever the plugin then returns, the step's outcome is
//! [`Step::Send`] with the pending request. When the plugin returns without a pending request,
//! the outcome is [`Step::Done`] with its result.
//!
//! For this to be correct the plugin must be a deterministic function of its input and the
//! answers: the same code path must rebuild the same requests at every step. The host makes
//! the [`context`](crate::context) values (time, nonces, request id) and the credential
//! placeholders the same at every step of a call. A step that returns without consuming every
//! answer it was given (the plugin took another path than at the step before) is answered with
//! a `plugin-fault` error.
//!
//! [`run`] works on the build machine too, so a multi-request flow can be unit-tested with
//! recorded answers (as long as it does not call the host's interfaces):
//!
//! ```
//! use ingest_plugin_sdk::step::{self, Step};
//! use ingest_plugin_sdk::{ProviderError, VendorResponse};
//!
//! fn two_calls() -> Result<u16, ProviderError> {
//!     let get = |url: &str| http::Request::get(url).body(Vec::new()).expect("request");
//!     let a = ingest_plugin_sdk::http::send(get("https://api.example.com/a"))?;
//!     let b = ingest_plugin_sdk::http::send(get("https://api.example.com/b"))?;
//!     Ok(a.status().as_u16() + b.status().as_u16())
//! }
//!
//! let ok = |status| Ok(VendorResponse { status, headers: Vec::new(), body: Vec::new() });
//! match step::run(Vec::new(), two_calls) {
//!     Step::Send(request) => assert_eq!(request.url, "https://api.example.com/a"),
//!     Step::Done(_) => unreachable!(),
//! }
//! match step::run(vec![ok(200)], two_calls) {
//!     Step::Send(request) => assert_eq!(request.url, "https://api.example.com/b"),
//!     Step::Done(_) => unreachable!(),
//! }
//! match step::run(vec![ok(200), ok(204)], two_calls) {
//!     Step::Done(result) => assert_eq!(result.expect("done"), 404),
//!     Step::Send(_) => unreachable!(),
//! }
//! ```

use std::cell::RefCell;

use crate::{
    CallbackRequest, ErrorKind, IngestEvent, ProviderError, StartRequest, StartStep, StatusRequest,
    StatusStep, StopRequest, StopStep, UpdateRequest, UpdateStep, VendorAnswer, VendorRequest,
};

/// The outcome of one step.
#[derive(Debug, Clone)]
pub enum Step<T> {
    /// Send this request, then run the operation again with its answer appended.
    Send(VendorRequest),
    /// The operation's result.
    Done(Result<T, ProviderError>),
}

/// The exchange of the step being run.
struct Exchange {
    /// The answers not yet replayed, in order.
    answers: std::vec::IntoIter<VendorAnswer>,
    /// The first request made past the answers.
    pending: Option<VendorRequest>,
}

thread_local! {
    static EXCHANGE: RefCell<Option<Exchange>> = const { RefCell::new(None) };
}

/// What [`next_answer`] found.
pub(crate) enum Next {
    /// The recorded answer to this request.
    Answer(VendorAnswer),
    /// No answer: the request is (or another one already is) pending.
    Suspend,
    /// No step is being run (`describe`, `parse-callback`, or native code outside [`run`]).
    Outside,
}

/// Takes the next recorded answer for `request`, or records `request` as pending.
pub(crate) fn next_answer(request: VendorRequest) -> Next {
    EXCHANGE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let Some(exchange) = slot.as_mut() else {
            return Next::Outside;
        };
        if exchange.pending.is_some() {
            return Next::Suspend;
        }
        match exchange.answers.next() {
            Some(answer) => Next::Answer(answer),
            None => {
                exchange.pending = Some(request);
                Next::Suspend
            }
        }
    })
}

/// The recorded answer to the next request, taken, when there is one: the request was sent
/// at an earlier step, so the caller need not build it again ([`http::send_with`]).
/// `None` outside a step, past the answers, or with a request already pending.
///
/// [`http::send_with`]: crate::http::send_with
pub(crate) fn replayed_answer() -> Option<VendorAnswer> {
    EXCHANGE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let exchange = slot.as_mut()?;
        if exchange.pending.is_some() {
            return None;
        }
        exchange.answers.next()
    })
}

/// Whether the code running now runs for the first time in this operation: outside a step, or
/// past every replayed answer with no request pending. The SDK's log macros
/// ([`info!`](crate::info), [`warn!`](crate::warn), [`debug!`](crate::debug)) write only then,
/// so each line is logged once per operation, not once per step.
pub fn is_live() -> bool {
    EXCHANGE.with(|cell| match cell.borrow().as_ref() {
        None => true,
        Some(exchange) => exchange.pending.is_none() && exchange.answers.len() == 0,
    })
}

/// Whether the SDK's log macros write now: [`is_live`] (on the build machine the lines go to
/// [`testing::logged`](crate::testing::logged)).
#[doc(hidden)]
pub fn log_now() -> bool {
    is_live()
}

/// Removes the exchange when the step ends, also on unwinding.
struct Reset;

impl Drop for Reset {
    fn drop(&mut self) {
        EXCHANGE.with(|cell| cell.borrow_mut().take());
    }
}

/// Runs one step of an operation: `operation` with `answers` replayed to its
/// [`http::send`](crate::http::send) calls.
pub fn run<T>(
    answers: Vec<VendorAnswer>,
    operation: impl FnOnce() -> Result<T, ProviderError>,
) -> Step<T> {
    let given = answers.len();
    EXCHANGE.with(|cell| {
        *cell.borrow_mut() = Some(Exchange {
            answers: answers.into_iter(),
            pending: None,
        })
    });
    let reset = Reset;
    let result = operation();
    let exchange = EXCHANGE.with(|cell| cell.borrow_mut().take());
    drop(reset);
    let Some(exchange) = exchange else {
        return Step::Done(result);
    };
    if let Some(request) = exchange.pending {
        return Step::Send(request);
    }
    let left = exchange.answers.len();
    if left > 0 {
        return Step::Done(Err(crate::error::new(
            ErrorKind::PluginFault,
            format!(
                "the plugin is not deterministic: given {given} vendor answers it used only {}; \
                 at each step it must rebuild the same requests from the same input",
                given - left
            ),
        )));
    }
    Step::Done(result)
}

/// Glue for [`export!`](crate::export): `start` as a step.
#[doc(hidden)]
pub fn start<G: crate::Guest>(request: StartRequest, answers: Vec<VendorAnswer>) -> StartStep {
    match run(answers, || G::start(request)) {
        Step::Send(r) => StartStep::Send(r),
        Step::Done(r) => StartStep::Done(r),
    }
}

/// Glue for [`export!`](crate::export): `stop` as a step.
#[doc(hidden)]
pub fn stop<G: crate::Guest>(request: StopRequest, answers: Vec<VendorAnswer>) -> StopStep {
    match run(answers, || G::stop(request)) {
        Step::Send(r) => StopStep::Send(r),
        Step::Done(r) => StopStep::Done(r),
    }
}

/// Glue for [`export!`](crate::export): `status` as a step.
#[doc(hidden)]
pub fn status<G: crate::Guest>(request: StatusRequest, answers: Vec<VendorAnswer>) -> StatusStep {
    match run(answers, || G::status(request)) {
        Step::Send(r) => StatusStep::Send(r),
        Step::Done(r) => StatusStep::Done(r),
    }
}

/// Glue for [`export!`](crate::export): `update` as a step.
#[doc(hidden)]
pub fn update<G: crate::Guest>(request: UpdateRequest, answers: Vec<VendorAnswer>) -> UpdateStep {
    match run(answers, || G::update(request)) {
        Step::Send(r) => UpdateStep::Send(r),
        Step::Done(r) => UpdateStep::Done(r),
    }
}

/// Glue for [`export!`](crate::export): `parse-callback`, outside any step (a vendor request
/// made there fails with [`SendError::InvalidRequest`](crate::http::SendError::InvalidRequest)).
#[doc(hidden)]
pub fn parse_callback<G: crate::Guest>(
    request: CallbackRequest,
) -> Result<IngestEvent, ProviderError> {
    G::parse_callback(request)
}
