"""Ingest Gateway provider plugin for Example RTC, a fictitious vendor, in Python.

The Rust template (examples/plugin-template) implements the same vendor; both pass the same
cases in cases/ (`ingest-gateway plugin test example_vendor.wasm --cases cases`) and build the
same vendor requests byte for byte.

Contract ingest:provider@0.2.2: a plugin performs no I/O. `start`, `stop` and `status` get the
operation's input and the vendor's answers so far, and return the next step: a vendor request
to send (`StartStep_Send(request)`) or the result (`StartStep_Done(Ok(session))`). The host
sends the request and calls the function again, on a fresh instance, with the answer appended.
The clock, nonces, request id and placeholders are the same at every step, so the code below
simply runs from the top each time: `send(request)` returns the answer when there is one, and
otherwise ends the step with that request (see `step`).

How the WIT contract looks from Python (componentize-py):
- the exported `provider` interface is a class named `Provider` in this module (`app`), with
  snake_case methods; imports are modules under `wit_world.imports`;
- records are dataclasses with snake_case fields, enums are `Enum`s (`Direction.PULL_IN`),
  `option<T>` is the value or `None`, `list<u8>` is `bytes`, a tuple is a tuple;
- a variant is one dataclass per case (`StartStep_Send(value)`, `TransportError_Timeout(value)`),
  a `result` is `Ok(value)` or `Err(value)` (from `componentize_py_types`);
- an export whose return type *is* a `result` (`parse_callback`) returns the ok value and
  *raises* `Err(error)`; an import returning `result` raises `Err(error)` on error.

Everything is imported here, at module top level: the component is built from a snapshot of
the interpreter taken after this module is imported, and it carries no standard library to
import from at run time.
"""

import hmac as _hmac
import json
import re

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.exports import provider
from wit_world.imports import config, context, credentials, types
from wit_world.imports.credentials import HashAlgorithm, Part_Bytes, Part_Secret, Part_Text
from wit_world.imports.types import (
    ConfigKey,
    Direction,
    ErrorKind,
    IngestEvent,
    IngestState,
    IngestStatus,
    Operation,
    ProviderInfo,
    Session,
    StopResult,
    VendorRequest,
)

NAME = "example-vendor"
VERSION = "0.1.0"
DEFAULT_BASE = "https://api.example-rtc.invalid"
RELAY_ID = re.compile(r"[A-Za-z0-9_-]+")


class ProviderError(Exception):
    """A normalized provider error; raised inside an operation, `step` returns it as
    `done(err(...))`."""

    def __init__(self, kind, message, code=None, vendor_message=None, request_id=None, retryable=None):
        super().__init__(message)
        if retryable is None:
            retryable = kind in (ErrorKind.RATE_LIMITED, ErrorKind.UNAVAILABLE, ErrorKind.TIMEOUT)
        self.value = types.ProviderError(
            kind=kind,
            message=message,
            vendor_code=code,
            vendor_message=vendor_message,
            vendor_request_id=request_id,
            retryable=retryable,
            retry_after_secs=None,
        )


def host(what, f):
    """Host calls that return `result` raise `Err`; turn their error into a provider error."""
    try:
        return f()
    except Err as e:
        if isinstance(e.value, credentials.CredentialError_UnknownSecret):
            raise ProviderError(
                ErrorKind.INVALID_ARGUMENT, f"secret `{e.value.value}` is not configured for this provider"
            ) from None
        raise ProviderError(ErrorKind.PLUGIN_FAULT, f"{what} failed: {e.value.value}") from None


def dumps(value):
    """JSON as the Rust template writes it (serde_json): compact, keys sorted, non-ASCII
    characters as they are. The bytes are signed, so they must be the same at every step."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def text(value):
    """A JSON string's text; anything else (absent, `null`, a number ...) as empty."""
    return value if isinstance(value, str) else ""


KINDS = {
    1001: (ErrorKind.INVALID_ARGUMENT, False),
    1002: (ErrorKind.UNAUTHENTICATED, False),
    1003: (ErrorKind.NOT_FOUND, False),
    1004: (ErrorKind.RATE_LIMITED, True),
    1005: (ErrorKind.ALREADY_EXISTS, False),
}


def read_answer(status, body):
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict) or "code" not in envelope:
        if status == 429:
            raise ProviderError(ErrorKind.RATE_LIMITED, "Example RTC answered HTTP 429")
        if status >= 500:
            raise ProviderError(ErrorKind.UNAVAILABLE, f"Example RTC answered HTTP {status}; retry later")
        raise ProviderError(
            ErrorKind.VENDOR_INTERNAL, f"the vendor's response could not be understood: HTTP {status}"
        )
    request_id = envelope.get("request_id")
    request_id = request_id if isinstance(request_id, str) else None
    code = envelope["code"]
    if code == 0 and 200 <= status < 300:
        data = envelope.get("data")
        return (data if isinstance(data, dict) else {}), request_id
    message = text(envelope.get("message"))
    kind, retryable = KINDS.get(code, (ErrorKind.VENDOR_INTERNAL, False))
    raise ProviderError(
        kind,
        f"Example RTC refused the request: {message} (code {code})",
        code=str(code),
        vendor_message=message,
        request_id=request_id,
        retryable=retryable,
    )


# ---------------------------------------------------------------------------------------------
# Steps. Keep this helper as it is: it turns straight-line code that "sends" requests into the
# step the host expects.


class Pending(BaseException):
    """Raised by `send` when the answers are exhausted: the request to return as the next step.
    A `BaseException`, so an operation's `except Exception` does not swallow it."""

    def __init__(self, request):
        super().__init__()
        self.request = request


def step(answers, operation, send_case, done_case):
    """Runs `operation(send)` against the answers so far. The i-th `send(request)` returns the
    i-th answer (`Ok(VendorResponse)` or `Err(TransportError_...)`); the first request without
    an answer becomes the step `send_case(request)`. A returned value is `done_case(Ok(value))`,
    a raised ProviderError `done_case(Err(error))`; anything else raised is a bug and traps (the
    host reports a plugin fault)."""
    answered = iter(answers)

    def send(request):
        answer = next(answered, None)
        if answer is None:
            raise Pending(request)
        return answer

    try:
        return done_case(Ok(operation(send)))
    except Pending as p:
        return send_case(p.request)
    except ProviderError as e:
        return done_case(Err(e.value))


def transport_error(error):
    """A transport failure (the host got no response) as a provider error."""
    if isinstance(error, types.TransportError_Denied):
        return ProviderError(ErrorKind.DENIED, "the gateway's egress policy refused the vendor request")
    if isinstance(error, types.TransportError_Timeout):
        return ProviderError(ErrorKind.TIMEOUT, f"the vendor did not answer in time: {error.value}")
    if isinstance(error, types.TransportError_TooLarge):
        return ProviderError(ErrorKind.VENDOR_INTERNAL, "the vendor's response exceeded the gateway's size limit")
    # Unreachable, and NotSent (a dry run without a canned answer).
    return ProviderError(ErrorKind.UNAVAILABLE, f"the vendor could not be reached: {error.value}")


def call(send, method, path, body=None):
    """One signed request; the time and nonce come from the host, so every step (and every dry
    run) builds the same bytes."""
    base = (config.endpoint() or DEFAULT_BASE).rstrip("/")
    payload = "" if body is None else dumps(body)
    timestamp = context.now_ms() // 1000
    nonce = context.next_nonce()
    signed = f"{method}\n{path}\n{timestamp}\n{nonce}\n{payload}"
    signature = host(
        "signing",
        lambda: credentials.hmac(HashAlgorithm.SHA256, [Part_Secret("api_secret")], [Part_Text(signed)]),
    )
    key_id = host("placeholder", lambda: credentials.placeholder([Part_Secret("api_key_id")]))
    answer = send(
        VendorRequest(
            method=method,
            url=f"{base}{path}",
            headers=[
                ("content-type", "application/json"),
                ("x-api-key", key_id),
                ("x-timestamp", str(timestamp)),
                ("x-nonce", nonce),
                ("x-signature", signature.hex()),
            ],
            # The host sets content-length itself.
            body=b"" if method in ("GET", "DELETE") else payload.encode(),
            # May the host repeat it after a connection failure? Only a query.
            idempotent=method == "GET",
        )
    )
    if isinstance(answer, Err):
        raise transport_error(answer.value)
    return read_answer(answer.value.status, answer.value.body)


def app_path():
    app = config.get("app_id")
    if not app:
        raise ProviderError(ErrorKind.INVALID_ARGUMENT, "provider config key `app_id` is not set")
    return f"/v1/apps/{app}/relays"


def relay_id(ref):
    if not RELAY_ID.fullmatch(ref):
        raise ProviderError(ErrorKind.INVALID_ARGUMENT, "the session reference is not an Example RTC relay id")
    return ref


STATES = {
    "starting": IngestState.STARTING,
    "running": IngestState.RUNNING,
    "stopped": IngestState.STOPPED,
    "failed": IngestState.FAILED,
}


def start_body(req):
    """The vendor's start body, validated."""
    if req.direction != Direction.PULL_IN:
        raise ProviderError(ErrorKind.UNSUPPORTED, "example-vendor supports only direction `pull-in`")
    if not req.room_id.strip():
        raise ProviderError(ErrorKind.INVALID_ARGUMENT, "`room_id` must not be empty")
    source = (req.stream_url or "").strip()
    if not source.startswith(("rtmp://", "https://")):
        raise ProviderError(
            ErrorKind.INVALID_ARGUMENT,
            "`stream_url` is required for pull-in and must start with rtmp:// or https://",
        )
    try:
        options = json.loads(req.options_json or "{}")
    except ValueError as e:
        raise ProviderError(ErrorKind.INVALID_ARGUMENT, f"`options` is not JSON: {e}") from None
    if not isinstance(options, dict):
        raise ProviderError(ErrorKind.INVALID_ARGUMENT, "`options` must be a JSON object")
    body = {"room_id": req.room_id, "user_id": req.user_id, "source_url": source}
    volume = options.get("volume")
    if volume is not None:
        if type(volume) is not int or not 0 <= volume <= 100:
            raise ProviderError(ErrorKind.INVALID_ARGUMENT, "`options.volume` must be an integer between 0 and 100")
        body["volume"] = volume
    if req.callback_url:
        body["callback_url"] = req.callback_url
    return body


class Provider(exports.Provider):
    def describe(self):
        return ProviderInfo(
            name=NAME,
            version=VERSION,
            vendor="Example RTC (fictitious)",
            directions=[Direction.PULL_IN],
            operations=[Operation.START, Operation.STOP, Operation.STATUS, Operation.PARSE_CALLBACK],
            config_keys=[ConfigKey("app_id", True, "The Example RTC application id, e.g. `app-123`.")],
            secrets=["api_key_id", "api_secret"],
            default_hosts=["api.example-rtc.invalid:443"],
        )

    def start(self, request, answers):
        def operation(send):
            body = start_body(request)
            data, request_id = call(send, "POST", app_path(), body)
            relay = data.get("relay_id")
            if not isinstance(relay, str) or not RELAY_ID.fullmatch(relay):
                raise ProviderError(
                    ErrorKind.VENDOR_INTERNAL, "the vendor's response could not be understood: no valid `relay_id`"
                )
            return Session(
                session_ref=relay,
                vendor_task_id=relay,
                issued_urls=[],
                vendor_request_id=request_id,
                expires_at=None,
            )

        return step(answers, operation, provider.StartStep_Send, provider.StartStep_Done)

    def stop(self, request, answers):
        def operation(send):
            _, request_id = call(send, "DELETE", f"{app_path()}/{relay_id(request.session_ref)}")
            return StopResult(vendor_request_id=request_id)

        return step(answers, operation, provider.StopStep_Send, provider.StopStep_Done)

    def status(self, request, answers):
        def operation(send):
            try:
                data, request_id = call(send, "GET", f"{app_path()}/{relay_id(request.session_ref)}")
            except ProviderError as e:
                if e.value.kind == ErrorKind.NOT_FOUND:
                    return IngestStatus(IngestState.NOT_FOUND, None, e.value.message, e.value.vendor_request_id)
                raise
            vendor_state = text(data.get("state"))
            reason = data.get("reason")
            return IngestStatus(
                state=STATES.get(vendor_state, IngestState.UNKNOWN),
                vendor_state=vendor_state,
                detail=reason if isinstance(reason, str) else None,
                vendor_request_id=request_id,
            )

        return step(answers, operation, provider.StatusStep_Send, provider.StatusStep_Done)

    # Makes no vendor requests, so no steps: its return type is a `result`, so the ok value is
    # returned and the error raised as `Err(error)`.
    def parse_callback(self, request):
        try:
            return callback_event(request)
        except ProviderError as e:
            raise Err(e.value) from None


def callback_event(request):
    presented = next((v for k, v in request.headers if k.lower() == "x-signature"), "").lower()
    expected = host(
        "signing",
        lambda: credentials.hmac(HashAlgorithm.SHA256, [Part_Secret("api_secret")], [Part_Bytes(request.body)]),
    ).hex()
    if not _hmac.compare_digest(presented.encode(), expected.encode()):
        raise ProviderError(ErrorKind.UNAUTHENTICATED, "the callback's X-Signature does not verify")
    try:
        event = json.loads(request.body)
    except ValueError as e:
        raise ProviderError(ErrorKind.INVALID_ARGUMENT, f"the callback body is not JSON: {e}") from None
    if not isinstance(event, dict):
        raise ProviderError(ErrorKind.INVALID_ARGUMENT, "the callback body is not a JSON object")
    vendor_state = text(event.get("state"))
    relay = event.get("relay_id")
    relay = relay if isinstance(relay, str) else None
    reason = event.get("reason")
    ts_ms = event.get("ts_ms")
    return IngestEvent(
        session_ref=relay,
        vendor_task_id=relay,
        state=STATES.get(vendor_state, IngestState.UNKNOWN),
        vendor_event=event.get("event") if isinstance(event.get("event"), str) else vendor_state,
        detail=reason if isinstance(reason, str) else None,
        occurred_at_ms=ts_ms if type(ts_ms) is int and 0 <= ts_ms < 2**64 else None,
    )
