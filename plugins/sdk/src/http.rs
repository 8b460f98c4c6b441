//! Vendor HTTP requests, answered by replay.
//!
//! [`send`] takes and returns [`::http`] types. A plugin performs no I/O: inside an operation
//! run by [`step::run`](crate::step::run) (as the [`export!`](crate::export) glue runs `start`,
//! `stop` and `status`), the `i`-th `send` returns the host's answer to the `i`-th request of
//! the operation; the first `send` past the answers so far ends the step: the host sends that
//! request (egress allowlist, timeouts, response size cap, placeholder substitution) and runs
//! the operation again with its answer. A refused or failed exchange is a [`SendError`], which
//! `?` turns into the matching [`ProviderError`].
//!
//! The request goes as a `vendor-request`: method, absolute URL, headers in order (values must
//! be UTF-8 text), body. The host sets `content-length` (after placeholder substitution) and
//! `host` (from the URL); the plugin sets neither. A request is `idempotent` (the host may
//! repeat it after a broken exchange) only when the plugin says so with the [`Idempotent`]
//! extension or [`send_idempotent`]: RPC-style vendor APIs put actions with effects (create,
//! stop) in `GET` query strings, so the method says nothing.

use crate::{
    ErrorKind, ProviderError, TransportError, VendorAnswer, VendorRequest, VendorResponse,
};

/// Why a request did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The request could not be built (bad URL, header, method), or was made outside `start`,
    /// `stop` and `status`.
    InvalidRequest(String),
    /// The host's egress policy refused the request.
    Denied,
    /// The vendor did not answer in time.
    Timeout(String),
    /// The connection failed or broke; also a dry run's request that was not sent.
    Transport(String),
    /// The response was larger than the host allows.
    TooLarge,
    /// The request was handed to the host; this step of the operation ends here. Let it
    /// propagate (with `?`): the SDK answers the host with the request whatever the plugin
    /// returns, and runs the operation again with the answer.
    #[doc(hidden)]
    Pending,
}

impl SendError {
    /// The normalized provider error for this failure.
    pub fn into_provider_error(self) -> ProviderError {
        let (kind, message) = match self {
            SendError::InvalidRequest(m) => (
                ErrorKind::PluginFault,
                format!("the plugin built an invalid vendor request: {m}"),
            ),
            SendError::Denied => (
                ErrorKind::Denied,
                "the gateway's egress policy refused the vendor request".to_string(),
            ),
            SendError::Timeout(m) => (
                ErrorKind::Timeout,
                format!("the vendor did not answer in time: {m}"),
            ),
            SendError::Transport(m) => (
                ErrorKind::Unavailable,
                format!("the vendor could not be reached: {m}"),
            ),
            SendError::TooLarge => (
                ErrorKind::VendorInternal,
                "the vendor's response exceeded the gateway's size limit".to_string(),
            ),
            SendError::Pending => (
                ErrorKind::PluginFault,
                "a vendor request is pending (this step of the operation ends here)".to_string(),
            ),
        };
        crate::error::new(kind, message)
    }
}

impl From<SendError> for ProviderError {
    fn from(e: SendError) -> Self {
        e.into_provider_error()
    }
}

/// A request extension saying whether a request is idempotent (by default none is, whatever
/// its method: RPC-style vendor APIs start and stop things with `GET`). Mark a pure query, or
/// a call carrying an idempotency key:
///
/// ```
/// use ingest_plugin_sdk::http::{Idempotent, vendor_request};
///
/// let request = http::Request::post("https://api.example.com/DescribeTask")
///     .extension(Idempotent(true))
///     .body(b"{}".to_vec())
///     .expect("request");
/// assert!(vendor_request(request).expect("valid").idempotent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idempotent(pub bool);

/// The response's `Retry-After` header as text, if present and visible ASCII; pass it to
/// [`crate::error::from_http_status`] (or read it with [`crate::error::parse_retry_after`]).
pub fn retry_after<B>(response: &::http::Response<B>) -> Option<&str> {
    response
        .headers()
        .get(::http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
}

fn invalid(what: impl Into<String>) -> SendError {
    SendError::InvalidRequest(what.into())
}

/// The `vendor-request` the host receives for `request`: method, the absolute URL, headers in
/// order as text, body, and whether it is idempotent (see [`Idempotent`]). Nothing is added:
/// no `content-length`, no `host`.
pub fn vendor_request(request: ::http::Request<Vec<u8>>) -> Result<VendorRequest, SendError> {
    let (parts, body) = request.into_parts();
    match parts.uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        Some(other) => {
            return Err(invalid(format!(
                "the URL's scheme `{other}` is not http(s)"
            )));
        }
        None => return Err(invalid("the URL has no scheme")),
    }
    if parts.uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(invalid("the URL has no host"));
    }
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        let value = std::str::from_utf8(value.as_bytes())
            .map_err(|_| invalid(format!("header `{name}`: the value is not UTF-8 text")))?;
        headers.push((name.as_str().to_string(), value.to_string()));
    }
    let idempotent = parts
        .extensions
        .get::<Idempotent>()
        .is_some_and(|Idempotent(yes)| *yes);
    Ok(VendorRequest {
        method: parts.method.as_str().to_string(),
        url: parts.uri.to_string(),
        headers,
        body,
        idempotent,
    })
}

/// The host's answer as the plugin sees it: the vendor's response, or why there is none.
pub fn from_answer(answer: VendorAnswer) -> Result<::http::Response<Vec<u8>>, SendError> {
    let response: VendorResponse = answer.map_err(|e| match e {
        TransportError::Denied(_) => SendError::Denied,
        TransportError::Unreachable(why) | TransportError::NotSent(why) => {
            SendError::Transport(why)
        }
        TransportError::Timeout(why) => SendError::Timeout(why),
        TransportError::TooLarge(_) => SendError::TooLarge,
    })?;
    let mut builder = ::http::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(response.body)
        .map_err(|e| SendError::Transport(format!("response: {e}")))
}

/// Sends `request` and returns the whole response (see the [module](self) documentation).
///
/// ```no_run
/// # fn call() -> Result<(), ingest_plugin_sdk::ProviderError> {
/// let request = http::Request::post("https://api.example-rtc.invalid/v1/relays")
///     .header("content-type", "application/json")
///     .body(br#"{"room_id":"42"}"#.to_vec())
///     .map_err(|e| ingest_plugin_sdk::error::invalid_argument(e.to_string()))?;
/// let response = ingest_plugin_sdk::http::send(request)?;
/// println!("{} {}", response.status(), String::from_utf8_lossy(response.body()));
/// # Ok(()) }
/// ```
///
/// Outside `start`, `stop` and `status` (in `describe` or `parse-callback`, or natively
/// outside [`step::run`](crate::step::run)) it fails with [`SendError::InvalidRequest`].
pub fn send(request: ::http::Request<Vec<u8>>) -> Result<::http::Response<Vec<u8>>, SendError> {
    let request = vendor_request(request)?;
    match crate::step::next_answer(request) {
        crate::step::Next::Answer(answer) => from_answer(answer),
        crate::step::Next::Suspend => Err(SendError::Pending),
        crate::step::Next::Outside => Err(invalid(
            "vendor requests can be made only in start, stop and status",
        )),
    }
}

/// [`send`] of the request `build` makes, calling `build` only when this step must send it:
/// at a later step the request's recorded answer is returned without building (and signing)
/// it again. `build` must make the same request it would have made at the step that sent it
/// (the replay's rule). Take what must differ between requests outside `build` — a nonce from
/// `context::next_nonce` counts calls, and a skipped `build`
/// would hand a later request the nonce an earlier one already used. Errors are
/// [`ProviderError`]s, as from [`exchange`].
///
/// ```no_run
/// # fn call() -> Result<(), ingest_plugin_sdk::ProviderError> {
/// let response = ingest_plugin_sdk::http::send_with(|| {
///     http::Request::post("https://api.example-rtc.invalid/v1/relays")
///         .body(br#"{"room_id":"42"}"#.to_vec())
///         .map_err(|e| ingest_plugin_sdk::error::invalid_argument(e.to_string()))
/// })?;
/// # Ok(()) }
/// ```
pub fn send_with(
    build: impl FnOnce() -> Result<::http::Request<Vec<u8>>, ProviderError>,
) -> Result<::http::Response<Vec<u8>>, ProviderError> {
    let sent = match crate::step::replayed_answer() {
        Some(answer) => from_answer(answer),
        None => send(build()?),
    };
    sent.map_err(SendError::into_provider_error)
}

/// [`send`] with the request marked idempotent (see [`Idempotent`]): for a query the vendor
/// takes as `POST`, or a call carrying an idempotency key.
pub fn send_idempotent(
    mut request: ::http::Request<Vec<u8>>,
) -> Result<::http::Response<Vec<u8>>, SendError> {
    request.extensions_mut().insert(Idempotent(true));
    send(request)
}

/// One vendor exchange as most adapters make it: [`send`]s `request`, reads the response with
/// `read(status, retry_after, body)` and logs the outcome at `debug` level —
/// "`{vendor} {action}` succeeded, RequestId …" with `request_id` of the result, or
/// "`{vendor} {action}` failed: … (vendor code …, RequestId …)". A [`SendError`] is returned
/// as its [`ProviderError`] (a pending request ends the step there, unlogged).
pub fn exchange<T>(
    vendor: &str,
    action: &str,
    request: ::http::Request<Vec<u8>>,
    read: impl FnOnce(u16, Option<&str>, &[u8]) -> Result<T, ProviderError>,
    request_id: impl FnOnce(&T) -> Option<&str>,
) -> Result<T, ProviderError> {
    exchange_with(vendor, action, || Ok(request), read, request_id)
}

/// [`exchange`] of the request `build` makes, built only when this step sends it (see
/// [`send_with`]): a plugin that signs its requests signs each once per operation, not once
/// per step.
pub fn exchange_with<T>(
    vendor: &str,
    action: &str,
    build: impl FnOnce() -> Result<::http::Request<Vec<u8>>, ProviderError>,
    read: impl FnOnce(u16, Option<&str>, &[u8]) -> Result<T, ProviderError>,
    request_id: impl FnOnce(&T) -> Option<&str>,
) -> Result<T, ProviderError> {
    let response = send_with(build)?;
    let reply = read(
        response.status().as_u16(),
        retry_after(&response),
        response.body(),
    );
    match &reply {
        Ok(r) => crate::debug!(
            "{vendor} {action} succeeded, RequestId {}",
            request_id(r).unwrap_or("-")
        ),
        Err(e) => crate::debug!(
            "{vendor} {action} failed: {} (vendor code {}, RequestId {})",
            e.message,
            e.vendor_code.as_deref().unwrap_or("-"),
            e.vendor_request_id.as_deref().unwrap_or("-")
        ),
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{self, Step};

    fn ok(status: u16, body: &str) -> VendorAnswer {
        Ok(VendorResponse {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-request-id".into(), "r-1".into()),
            ],
            body: body.as_bytes().to_vec(),
        })
    }

    fn get(url: &str) -> ::http::Request<Vec<u8>> {
        ::http::Request::get(url).body(Vec::new()).expect("request")
    }

    #[test]
    fn requests_convert_as_they_are() {
        let request = ::http::Request::post("http://127.0.0.1:9101")
            .header("X-TC-Action", "Start")
            .header("content-type", "application/json")
            .header("x-multi", "a")
            .header("x-multi", "b")
            .header(
                "x-utf8",
                ::http::HeaderValue::from_bytes("é".as_bytes()).expect("v"),
            )
            .body(b"{}".to_vec())
            .expect("request");
        let r = vendor_request(request).expect("valid");
        assert_eq!(r.method, "POST");
        assert_eq!(r.url, "http://127.0.0.1:9101/");
        let headers: Vec<(&str, &str)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            headers,
            vec![
                ("x-tc-action", "Start"),
                ("content-type", "application/json"),
                ("x-multi", "a"),
                ("x-multi", "b"),
                ("x-utf8", "é"),
            ]
        );
        assert_eq!(r.body, b"{}");
        assert!(!r.idempotent);

        let r = vendor_request(get("https://h.example/a/b?x=1&y=%20")).expect("valid");
        assert_eq!(
            (r.method.as_str(), r.url.as_str()),
            ("GET", "https://h.example/a/b?x=1&y=%20")
        );
        assert!(!r.idempotent && r.headers.is_empty() && r.body.is_empty());
    }

    #[test]
    fn idempotency_is_only_what_the_plugin_says() {
        for (method, expected) in [
            ("GET", false),
            ("HEAD", false),
            ("OPTIONS", false),
            ("POST", false),
            ("PUT", false),
            ("DELETE", false),
            ("PATCH", false),
        ] {
            let r = ::http::Request::builder()
                .method(method)
                .uri("https://h/")
                .body(Vec::new())
                .expect("request");
            assert_eq!(
                vendor_request(r).expect("valid").idempotent,
                expected,
                "{method}"
            );
        }
        let r = ::http::Request::post("https://h/")
            .extension(Idempotent(true))
            .body(Vec::new())
            .expect("request");
        assert!(vendor_request(r).expect("valid").idempotent);
    }

    #[test]
    fn invalid_requests_are_refused() {
        let bad_value = ::http::Request::post("https://h/")
            .header(
                "x-bin",
                ::http::HeaderValue::from_bytes(b"\xff\xfe").expect("v"),
            )
            .body(Vec::new())
            .expect("request");
        for (request, why) in [
            (bad_value, "UTF-8"),
            (get("/relative"), "scheme"),
            (get("ftp://h/x"), "scheme"),
        ] {
            match vendor_request(request) {
                Err(SendError::InvalidRequest(m)) => assert!(m.contains(why), "{m}"),
                other => panic!("{why}: {other:?}"),
            }
        }
        // An invalid request fails at once, at every step: it is never made pending.
        let step = step::run(Vec::new(), || {
            send(get("/relative"))?;
            Ok(())
        });
        match step {
            Step::Done(Err(e)) => assert_eq!(e.kind, ErrorKind::PluginFault),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn answers_convert_to_responses_and_errors() {
        let r = from_answer(ok(201, "{\"a\":1}")).expect("response");
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-request-id"], "r-1");
        assert_eq!(r.body(), b"{\"a\":1}");
        let cases = [
            (TransportError::Denied("d".into()), SendError::Denied),
            (
                TransportError::Unreachable("refused".into()),
                SendError::Transport("refused".into()),
            ),
            (
                TransportError::Timeout("slow".into()),
                SendError::Timeout("slow".into()),
            ),
            (TransportError::TooLarge("big".into()), SendError::TooLarge),
            (
                TransportError::NotSent("dry run".into()),
                SendError::Transport("dry run".into()),
            ),
        ];
        for (transport, expected) in cases {
            assert_eq!(from_answer(Err(transport)).expect_err("error"), expected);
        }
        let weird = Ok(VendorResponse {
            status: 1000,
            headers: Vec::new(),
            body: Vec::new(),
        });
        assert!(matches!(from_answer(weird), Err(SendError::Transport(_))));
    }

    #[test]
    fn outside_a_step_send_is_refused() {
        match send(get("https://h/")) {
            Err(SendError::InvalidRequest(m)) => assert!(m.contains("only in start"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(step::is_live());
    }

    /// Sends up to three requests, the second only after the first answered 200.
    fn flow() -> Result<Vec<u16>, ProviderError> {
        let mut seen = Vec::new();
        let a = send(get("https://h/1"))?;
        seen.push(a.status().as_u16());
        if a.status() == 200 {
            let b = send(get("https://h/2"))?;
            seen.push(b.status().as_u16());
        }
        match send(get("https://h/3")) {
            Ok(c) => seen.push(c.status().as_u16()),
            Err(SendError::Transport(_)) => seen.push(0),
            Err(e) => return Err(e.into()),
        }
        Ok(seen)
    }

    #[test]
    fn replay_sends_the_next_request_then_finishes() {
        let url = |s: Step<Vec<u16>>| match s {
            Step::Send(r) => r.url,
            Step::Done(d) => panic!("done early: {d:?}"),
        };
        assert_eq!(url(step::run(Vec::new(), flow)), "https://h/1");
        assert_eq!(url(step::run(vec![ok(200, "")], flow)), "https://h/2");
        assert_eq!(
            url(step::run(vec![ok(200, ""), ok(204, "")], flow)),
            "https://h/3"
        );
        assert_eq!(url(step::run(vec![ok(404, "")], flow)), "https://h/3");
        match step::run(vec![ok(200, ""), ok(204, ""), ok(202, "")], flow) {
            Step::Done(Ok(seen)) => assert_eq!(seen, vec![200, 204, 202]),
            other => panic!("{other:?}"),
        }
        let unreachable = Err(TransportError::Unreachable("refused".into()));
        match step::run(vec![ok(404, ""), unreachable], flow) {
            Step::Done(Ok(seen)) => assert_eq!(seen, vec![404, 0]),
            other => panic!("{other:?}"),
        }
        // The exchange ends with the step.
        assert!(matches!(
            send(get("https://h/")),
            Err(SendError::InvalidRequest(_))
        ));
    }

    #[test]
    fn only_the_first_request_past_the_answers_is_pending() {
        let step = step::run(Vec::new(), || {
            let first = send(get("https://h/first"));
            let second = send(get("https://h/second"));
            assert_eq!(first.as_ref().err(), Some(&SendError::Pending));
            assert_eq!(second.as_ref().err(), Some(&SendError::Pending));
            assert!(!step::is_live());
            // Whatever the plugin makes of it, the pending request is what the step answers.
            Ok::<_, ProviderError>("ignored the error")
        });
        match step {
            Step::Send(r) => assert_eq!(r.url, "https://h/first"),
            other => panic!("{other:?}"),
        }
        // Pending converts to an error without panicking.
        let e = ProviderError::from(SendError::Pending);
        assert_eq!(e.kind, ErrorKind::PluginFault);
    }

    #[test]
    fn logging_is_live_only_past_the_replayed_answers() {
        let step = step::run(vec![ok(200, "")], || {
            assert!(!step::is_live(), "replaying the first answer");
            send(get("https://h/1"))?;
            assert!(step::is_live(), "past the answers");
            Ok(())
        });
        assert!(matches!(step, Step::Done(Ok(()))));
    }

    #[test]
    fn send_with_builds_a_request_only_at_the_step_that_sends_it() {
        let builds = std::cell::Cell::new(0);
        let two = || {
            let build = |url: &'static str| {
                let builds = &builds;
                move || {
                    builds.set(builds.get() + 1);
                    Ok(get(url))
                }
            };
            let a = send_with(build("https://h/a"))?;
            let b = send_with(build("https://h/b"))?;
            Ok(a.status().as_u16() + b.status().as_u16())
        };
        match step::run(Vec::new(), two) {
            Step::Send(r) => assert_eq!(r.url, "https://h/a"),
            other => panic!("{other:?}"),
        }
        assert_eq!(builds.get(), 1);
        match step::run(vec![ok(200, "")], two) {
            Step::Send(r) => assert_eq!(r.url, "https://h/b"),
            other => panic!("{other:?}"),
        }
        // The first request's answer was replayed without building it again.
        assert_eq!(builds.get(), 2);
        match step::run(vec![ok(200, ""), ok(201, "")], two) {
            Step::Done(Ok(sum)) => assert_eq!(sum, 401),
            other => panic!("{other:?}"),
        }
        assert_eq!(builds.get(), 2);
    }

    #[test]
    fn exchange_reads_the_answer_and_passes_errors_on() {
        let read = |status: u16, retry: Option<&str>, body: &[u8]| {
            if status == 200 {
                Ok(String::from_utf8_lossy(body).into_owned())
            } else {
                Err(crate::error::from_http_status("V", "Act", status, retry))
            }
        };
        let run = |answers: Vec<VendorAnswer>| {
            step::run(answers, || {
                exchange("V", "Act", get("https://h/"), read, |r: &String| {
                    Some(r.as_str())
                })
            })
        };
        assert!(matches!(run(Vec::new()), Step::Send(_)));
        match run(vec![ok(200, "body")]) {
            Step::Done(Ok(text)) => assert_eq!(text, "body"),
            other => panic!("{other:?}"),
        }
        let slow = Ok(VendorResponse {
            status: 429,
            headers: vec![("retry-after".into(), "3".into())],
            body: Vec::new(),
        });
        match run(vec![slow]) {
            Step::Done(Err(e)) => {
                assert_eq!(
                    (e.kind, e.retry_after_secs),
                    (ErrorKind::RateLimited, Some(3))
                )
            }
            other => panic!("{other:?}"),
        }
        match run(vec![Err(TransportError::Timeout("slow".into()))]) {
            Step::Done(Err(e)) => assert_eq!(e.kind, ErrorKind::Timeout),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unused_answers_are_a_plugin_fault() {
        match step::run(vec![ok(200, ""), ok(200, "")], || {
            send(get("https://h/1"))?;
            Ok(())
        }) {
            Step::Done(Err(e)) => {
                assert_eq!(e.kind, ErrorKind::PluginFault);
                assert!(e.message.contains("not deterministic"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
    }
}
