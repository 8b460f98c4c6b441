//! Egress: every vendor request a plugin returns passes through [`send`], one job a file:
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | [`send`]: admit (the policy's checks), record, then a dry run's answer or the live exchange |
//! | `policy.rs` | [`EgressPolicy`] per provider: allowlist, timeouts, caps; the bounds on a request |
//! | `placeholders.rs` | tokens to labels (the record) and to values (the wire), percent-encoding, reflected values back to tokens |
//! | `dry_run.rs` | [`EgressMode`]: canned answers played back in front of the vendor client |
//! | `wire.rs` | the live request, the exchange on the provider's pooled client (one retry when idempotent), the body read up to its cap |
//!
//! The connection itself is the provider's [`VendorClient`](super::vendor::VendorClient).
//!
//! Set-up: [`EgressPolicy`] per provider (from config and the plugin's `describe`);
//! per call: a [`SharedCallLog`] shared with the call's credentials.

mod dry_run;
mod placeholders;
mod policy;
mod wire;

pub use dry_run::{CannedResponse, EgressMode};
pub use policy::{EgressPolicy, MAX_REQUEST_BYTES, MAX_REQUESTS_PER_CALL, request_bounds};

use types::TransportError as T;

use super::call_log::SharedCallLog;
use super::secret_scan::SecretSet;
use crate::config::HostPort;
use crate::contract::types;
use dry_run::dry_run_answer;
use placeholders::{record_and_headers, unsubstitute_response, utf8};
use policy::clip_url;
use wire::{exchange, wire_request};

/// Sends one vendor request a plugin returned, under the provider's policy, and gives the
/// plugin's answer: the vendor's response (placeholder values reverted to tokens, any other
/// value of `secrets` — every provider's — redacted) or why there is none. Every request is
/// recorded in `call_log` with placeholders as labels.
pub async fn send(
    policy: &EgressPolicy,
    mode: &EgressMode,
    call_log: &SharedCallLog,
    secrets: &SecretSet,
    request: types::VendorRequest,
) -> types::VendorAnswer {
    let (target, method) = admit(policy, call_log, &request)?;
    // Placeholders: real values for the wire, labels for the record.
    let subs = call_log.lock().substitutions.clone();
    let (recorded, headers) = record_and_headers(call_log, &subs, &method, &request)?;
    let index = {
        let mut call_log = call_log.lock();
        call_log.requests.push(recorded);
        call_log.requests.len() - 1
    };
    if let Some(answer) = dry_run_answer(mode, call_log, index) {
        return answer;
    }
    let wire = wire_request(policy, call_log, &target, method, headers, &subs, request)?;
    let sent = std::time::Instant::now();
    match tokio::time::timeout(
        policy.request_timeout,
        exchange(policy, call_log, &target, &wire),
    )
    .await
    {
        Ok(Ok((mut head, body))) => {
            call_log.lock().latencies.push(sent.elapsed());
            let body = unsubstitute_response(&mut head, body, &subs, secrets);
            Ok(types::VendorResponse {
                status: head.status.as_u16(),
                headers: head
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), utf8(v.as_bytes())))
                    .collect(),
                body: body.to_vec(),
            })
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(T::Timeout(call_log.fail(format!(
            "request to {target} took longer than {} ms",
            policy.request_timeout.as_millis()
        )))),
    }
}

/// The policy's checks before anything is recorded: the per-call cap, the URL, the
/// allowlist, the body size, the method.
fn admit(
    policy: &EgressPolicy,
    call_log: &SharedCallLog,
    request: &types::VendorRequest,
) -> Result<(HostPort, http::Method), T> {
    if call_log.lock().requests.len() >= MAX_REQUESTS_PER_CALL {
        return Err(T::Denied(call_log.deny(format!(
            "more than {MAX_REQUESTS_PER_CALL} vendor requests in one call"
        ))));
    }
    // One parse decides the scheme, the userinfo and the host:port the allowlist checks.
    let parsed = url::Url::parse(&request.url).ok();
    if let Some(u) = &parsed
        && !matches!(u.scheme(), "http" | "https")
    {
        return Err(T::Denied(call_log.deny(format!(
                "`{}` is not an http:// or https:// URL (scheme `{}`); the host sends vendor requests over HTTP only",
                clip_url(&request.url),
                clip_url(u.scheme())
            ),
        )));
    }
    let Some((u, target)) = parsed.and_then(|u| HostPort::of_parsed(&u).map(|t| (u, t))) else {
        return Err(T::Denied(call_log.deny(format!(
            "`{}` is not an http(s) URL with a host",
            clip_url(&request.url)
        ))));
    };
    if !u.username().is_empty() || u.password().is_some() {
        return Err(T::Denied(call_log.deny(format!(
            "`{}` carries userinfo (`user:password@`); vendor URLs may not (a connection \
                 pool would log it): send credentials in a header instead (HTTP Basic: the \
                 credentials interface's basic-auth-placeholder)",
            clip_url(&request.url)
        ))));
    }
    if !policy.allows(&target) {
        let allowed: Vec<String> = policy.allow.iter().map(ToString::to_string).collect();
        return Err(T::Denied(call_log.deny(format!(
                "{target} is not on provider `{}`'s egress allowlist [{}]; add it to `allow_hosts` if the plugin should reach it",
                policy.provider,
                allowed.join(", ")
            ),
        )));
    }
    if request.body.len() > MAX_REQUEST_BYTES {
        return Err(T::Denied(call_log.deny(format!(
            "request body larger than {MAX_REQUEST_BYTES} bytes"
        ))));
    }
    let Ok(method) = http::Method::from_bytes(request.method.as_bytes()) else {
        return Err(T::Denied(call_log.deny(format!(
            "`{}` is not an HTTP method",
            clip_url(&request.method)
        ))));
    };
    Ok((target, method))
}

#[cfg(test)]
mod tests {
    use super::super::call_log::Substitution;
    use super::placeholders::percent_encode;
    use super::*;
    use crate::config::EgressConfig;
    use bytes::Bytes;

    #[test]
    fn reflected_secrets_become_tokens_again() {
        let subs = vec![
            Substitution {
                token: "ingest-secret-0-aa".into(),
                value: zeroize::Zeroizing::new(b"AKID/secret+1".to_vec()),
                label: "secret_id".into(),
            },
            Substitution {
                token: "ingest-secret-1-bb".into(),
                value: zeroize::Zeroizing::new(b"plain-literal".to_vec()),
                label: "literal".into(),
            },
        ];
        // Every provider's secrets: this call's own value, and another provider's.
        let secrets = SecretSet::new([b"AKID/secret+1".as_slice(), b"other provider's key"]);
        let mut head = http::Response::builder()
            .header("x-echo", "id=AKID/secret+1")
            .header("x-lower", "id=akid%2fsecret%2b1;AKID%2fsecret%2b1")
            .header("x-other", "k=other+provider%27s+key")
            .header("x-akid%2fsecret%2b1", "a name that spells the value")
            .body(())
            .expect("response")
            .into_parts()
            .0;
        let body = Bytes::from_static(
            b"{\"echo\":\"AKID/secret+1\",\"url\":\"?k=AKID%2Fsecret%2B1\",\"lower\":\"AKID%2fsecret%2b1\",\"mixed\":\"%41KID/s%65cret%2B%31\",\"l\":\"plain-literal\",\"other\":\"other%20provider%27s%20key\"}",
        );
        let body = unsubstitute_response(&mut head, body, &subs, &secrets);
        assert_eq!(
            String::from_utf8_lossy(&body),
            "{\"echo\":\"ingest-secret-0-aa\",\"url\":\"?k=ingest-secret-0-aa\",\"lower\":\"ingest-secret-0-aa\",\"mixed\":\"ingest-secret-0-aa\",\"l\":\"plain-literal\",\"other\":\"[redacted]\"}"
        );
        assert_eq!(head.headers["x-echo"], "id=ingest-secret-0-aa");
        // Another case is another value: only the escapes' hex digits may differ in case.
        assert_eq!(
            head.headers["x-lower"],
            "id=akid%2fsecret%2b1;ingest-secret-0-aa"
        );
        assert_eq!(head.headers["x-other"], "k=[redacted]");
        assert!(!head.headers.contains_key("x-akid%2fsecret%2b1"));
        assert_eq!(head.headers.len(), 3);
    }

    /// Without placeholders, another provider's secret (or one this call never asked a
    /// placeholder for) is still kept from the plugin.
    #[test]
    fn any_providers_secret_is_redacted_without_placeholders() {
        let secrets = SecretSet::new([b"provider-a secret".as_slice()]);
        let mut head = http::Response::builder()
            .body(())
            .expect("response")
            .into_parts()
            .0;
        let body = Bytes::from_static(b"seen: provider-a+secret, provider-a%20secret");
        let body = unsubstitute_response(&mut head, body, &[], &secrets);
        assert_eq!(&body[..], b"seen: [redacted], [redacted]");
        let untouched = Bytes::from_static(b"nothing to see");
        let same = unsubstitute_response(&mut head, untouched.clone(), &[], &secrets);
        assert_eq!(same, untouched);
    }

    fn request(url: &str) -> types::VendorRequest {
        types::VendorRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            idempotent: true,
        }
    }

    /// A scheme other than http(s) is refused as `denied`, even towards an allowed host:port
    /// (it used to fail later as `unreachable`, as if the host had tried). The SDK refuses such
    /// a URL in the plugin already; a plugin built without it reaches this check.
    #[test]
    fn a_non_http_scheme_is_denied() {
        let target = HostPort::of_url("ftp://127.0.0.1/x").expect("host and port");
        let policy = EgressPolicy::with("p", vec![target], true, &EgressConfig::default(), None);
        let call_log = SharedCallLog::default();
        for url in [
            "ftp://127.0.0.1/x",
            "FTP://127.0.0.1/x",
            "gopher://127.0.0.1:21/",
        ] {
            match admit(&policy, &call_log, &request(url)) {
                Err(T::Denied(reason)) => assert!(reason.contains("scheme"), "{url}: {reason}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        assert_eq!(call_log.lock().denials.len(), 3);
        let http = HostPort::of_url("HTTP://127.0.0.1:80/x").expect("host and port");
        let policy = EgressPolicy::with("p", vec![http], true, &EgressConfig::default(), None);
        assert!(admit(&policy, &call_log, &request("HTTP://127.0.0.1:80/x")).is_ok());
    }

    /// Egress itself never panics on a header count past the header map's maximum (the call
    /// loop refuses such a request before it gets here): it is refused as `denied`.
    #[test]
    fn too_many_headers_are_refused_not_a_panic() {
        let mut req = request("https://vendor.example/x");
        req.headers = (0..40_000)
            .map(|i| (format!("x-h{i}"), "v".to_string()))
            .collect();
        let call_log = SharedCallLog::default();
        match record_and_headers(&call_log, &[], &http::Method::GET, &req) {
            Err(T::Denied(reason)) => assert!(reason.contains("more headers"), "{reason}"),
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("40,000 headers were accepted"),
        }
    }

    /// A plugin cannot ask for a compressed answer (the host could not look for secrets in
    /// it): its `accept-encoding` and `te` are dropped and the host asks for `identity`.
    #[test]
    fn the_answer_is_never_compressed_at_a_plugins_request() {
        let mut req = request("https://vendor.example/x");
        req.headers = vec![
            ("Accept-Encoding".into(), "gzip, br".into()),
            ("te".into(), "gzip".into()),
            ("x-other".into(), "kept".into()),
        ];
        let call_log = SharedCallLog::default();
        let (_, headers) =
            record_and_headers(&call_log, &[], &http::Method::GET, &req).expect("valid headers");
        let encodings: Vec<_> = headers
            .get_all(http::header::ACCEPT_ENCODING)
            .iter()
            .collect();
        assert_eq!(encodings, vec!["identity"]);
        assert!(headers.get(http::header::TE).is_none());
        assert_eq!(headers["x-other"], "kept");
    }

    #[test]
    fn userinfo_is_found_in_the_authority_only() {
        let allow = [
            "vendor.example:80",
            "vendor.example:443",
            "vendor.example:8080",
        ]
        .map(|h| HostPort::parse(h).expect("host:port"));
        let policy = EgressPolicy::with("p", allow.to_vec(), false, &EgressConfig::default(), None);
        let call_log = SharedCallLog::default();
        let userinfo = |url: &str| match admit(&policy, &call_log, &request(url)) {
            Err(T::Denied(reason)) => reason.contains("userinfo"),
            _ => false,
        };
        for url in [
            "http://user:pw@vendor.example/x",
            "https://{{tok}}@vendor.example",
            "http://a@b@vendor.example:8080?q",
        ] {
            assert!(userinfo(url), "{url}");
        }
        for url in [
            "http://vendor.example/a@b",
            "https://vendor.example?to=a@b",
            "https://vendor.example#x@y",
            "http://vendor.example\\@evil.example/",
        ] {
            assert!(admit(&policy, &call_log, &request(url)).is_ok(), "{url}");
        }
        assert!(!userinfo("not a url @"));
    }

    #[test]
    fn percent_encoding_keeps_unreserved() {
        assert_eq!(percent_encode(b"aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode(b"a b/+="), "a%20b%2F%2B%3D");
    }
}
