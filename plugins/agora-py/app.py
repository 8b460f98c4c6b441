"""Ingest Gateway provider plugin for Agora Media Pull ("cloud player"), pull-in, in Python.

A second implementation of plugins/agora-js (JavaScript), built into a component with
componentize-py (see README.md): the same operations, checks, errors and vendor requests,
byte for byte, passing the same cases (cases/ is agora-js's). Where JavaScript's engine
decides the bytes (JSON text, `String(value)`, `trim`, `encodeURIComponent`, UTF-16 lengths,
URL serialization), `js` reproduces it.

Contract ingest:provider@0.2.2, world `adapter-plugin-with-update`: the plugin performs no
I/O. `start`, `stop`, `status` and `update` return the vendor request to send (`send`) or the
result (`done`); the host sends the request and calls again, on a fresh instance, with the
answers so far (see `step`).

start  → POST   {base}/{region}/v1/projects/{appId}/cloud-player/players
stop   → DELETE {base}/{region}/v1/projects/{appId}/cloud-player/players/{playerId}
status → GET    {base}/{region}/v1/projects/{appId}/cloud-player/players?filter=channelName eq {channel}
update → PATCH  {base}/{region}/v1/projects/{appId}/cloud-player/players/{playerId}?sequence={n}
parse-callback: an Agora Notifications (NCS) notice for Media Pull, verified with the
                operator's notification secret through the host (no vendor request).

Authentication is HTTP Basic with the project's RESTful credentials. The plugin never holds
them: `basic_auth_placeholder` returns an opaque token that the host replaces with
base64(customer_id:customer_secret) as the request leaves, towards allowed hosts only. Time,
nonces and the request id come from the host, identical at every step of a call.
"""

import hmac as _hmac
import re

import js
from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.exports import provider, secret_catalog, updater
from wit_world.imports import config, context, credentials, types
from wit_world.imports.credentials import HashAlgorithm, Part_Bytes, Part_Secret
from wit_world.imports.types import (
    ConfigKey,
    Direction,
    ErrorKind,
    IngestEvent,
    IngestState,
    IngestStatus,
    MediaKind,
    Operation,
    ProviderInfo,
    Session,
    StopResult,
    UpdateResult,
    VendorRequest,
)

NAME = "agora-py"
VERSION = "0.3.0"
DEFAULT_BASE = "https://api.agora.io"
DEFAULT_REGION = "na"
SECRET_ID = "customer_id"
SECRET_KEY = "customer_secret"
#: The optional secret holding the Agora Notifications secret (only `parse_callback` uses it).
SECRET_NOTIFICATION = "notification_secret"
#: Longest source URL Agora takes (`streamUrl`), bytes.
MAX_STREAM_URL = 1024
#: Longest session reference the contract allows, bytes: `MAX_SESSION_REF_BYTES` of the
#: `ingest-contract` crate (wit/src/lib.rs), which the host enforces; tests/all/agora.rs checks
#: that the two agree.
MAX_SESSION_REF = 2048
#: Longest excerpt of a caller's value an error message repeats, in characters.
MAX_ECHO = 64

RETRYABLE = (ErrorKind.RATE_LIMITED, ErrorKind.UNAVAILABLE, ErrorKind.TIMEOUT)


class ProviderError(Exception):
    """A normalized provider error; raised inside an operation, `step` returns it as
    `done(err(...))`."""

    def __init__(self, kind, message, code=None, vendor_message=None, request_id=None, retry_after=None):
        super().__init__(message)
        self.value = types.ProviderError(
            kind=kind,
            message=message,
            vendor_code=code,
            vendor_message=vendor_message,
            vendor_request_id=request_id,
            retryable=kind in RETRYABLE,
            retry_after_secs=retry_after,
        )


def invalid(message):
    return ProviderError(ErrorKind.INVALID_ARGUMENT, message)


def shown(value):
    """A caller's value as an error message may repeat it: a JSON string literal, cut to its
    first MAX_ECHO characters with `…` and the full length after it when longer. A value that
    is not a string is named by its type only."""
    if not isinstance(value, str):
        if value is None:
            return "null"
        if isinstance(value, list):
            return "an array"
        if isinstance(value, dict):
            return "an object"
        return "a boolean" if isinstance(value, bool) else "a number"
    if len(value) <= MAX_ECHO:
        return js.quoted(value)
    return f"{js.quoted(value[:MAX_ECHO])}… ({len(value)} characters)"


# ---------------------------------------------------------------------------------------------
# Settings

ENDPOINT = re.compile(r"(https?)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?/?")
APP_ID = re.compile(r"[0-9A-Za-z]{1,64}")
REGION = re.compile(r"[a-z]{2,8}")


def base_url():
    """The base URL: the operator's `endpoint` (checked), else Agora's host."""
    configured = config.endpoint()
    if configured is None:
        return DEFAULT_BASE
    m = ENDPOINT.fullmatch(js.trim(configured))
    if not m:
        raise invalid(
            f"the provider's `endpoint` `{configured}` must look like `https://api.agora.io` or "
            "`http://127.0.0.1:9106` (no path)"
        )
    return f"{m.group(1).lower()}://{m.group(2)}{m.group(3) or ''}"


def settings():
    app_id = js.trim(config.get("app_id") or "")
    if not APP_ID.fullmatch(app_id):
        raise invalid(
            f"provider config key `app_id` `{app_id}` must be the Agora App ID (letters and digits)"
            if app_id
            else 'provider config key `app_id` is not set; add `app_id = "…"` under [providers.config]'
        )
    region = config.get("region")
    region = js.trim(DEFAULT_REGION if region is None else region)
    if not REGION.fullmatch(region):
        raise invalid(
            f"provider config key `region` `{region}` must be an Agora region code in lowercase, "
            "e.g. `na`, `eu`, `ap` or `cn`"
        )
    return app_id, region, base_url()


def players_path(app_id, region):
    return f"/{region}/v1/projects/{js.encode_uri_component(app_id)}/cloud-player/players"


# ---------------------------------------------------------------------------------------------
# Start request → Agora `player`

#: Characters Agora allows in channel names and user accounts (besides letters and digits).
NAME_CHARS = re.compile(r"[A-Za-z0-9 !#$%&()+\-:;<=.>?@\[\]^_{}|~,]+")
#: The player `name` Agora takes: 1 to 64 characters of `a-z A-Z 0-9 - _`.
PLAYER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
NAME_CHAR = re.compile(r"[A-Za-z0-9_-]")
#: Longest stem of a derived player name, so that `stem-<16 hex>` fits in 64.
MAX_NAME_STEM = 64 - 1 - 16


def fnv1a64(text):
    """FNV-1a, 64 bits, of `text`'s UTF-8 bytes, as 16 lowercase hex digits."""
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8", "surrogatepass"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def player_name(req, channel_name):
    """The player `name`: `display_name` when given (it must already be a valid name: refused
    otherwise, never rewritten), else `user_id`'s first 47 characters with every character
    outside `a-z A-Z 0-9 - _` replaced by `_` (a character outside the BMP by two, as
    JavaScript's UTF-16 replace does), a `-`, and the FNV-1a 64 hash of
    `channelName + "\\0" + user_id` (plugins/agora-js README, "Player names")."""
    if req.display_name is not None:
        if not PLAYER_NAME.fullmatch(req.display_name):
            raise invalid(
                f"`display_name` {shown(req.display_name)} cannot be the Agora player `name`, which "
                "must be 1 to 64 characters of a-z, A-Z, 0-9, `-` and `_`; pass such a name, or leave "
                "display_name out to have one derived from room_id and user_id"
            )
        return req.display_name
    stem = "".join(
        c if NAME_CHAR.fullmatch(c) else ("__" if ord(c) > 0xFFFF else "_") for c in req.user_id
    )[:MAX_NAME_STEM]
    pair = channel_name + "\0" + req.user_id
    return f"{stem}-{fnv1a64(pair)}"


#: How `user_id` joins the channel: `account` (a String user account, the default) or `uid`.
USER_ID_AS = ("account", "uid")
#: Largest Agora uid (2^32-1).
MAX_UID = 4294967295
UID = re.compile(r"[1-9][0-9]{0,9}")


def user_id_as(value, where, hint):
    """A `user_id_as` value, from the option or the provider config alike: a string, surrounding
    whitespace trimmed, then exactly `account` or `uid`; `None` when absent."""
    if value is None:
        return None
    v = js.trim(value) if isinstance(value, str) else value
    if not isinstance(v, str) or v not in USER_ID_AS:
        raise invalid(f'{where} is {shown(value)}; it must be "account" {hint} or "uid"')
    return v


def player_user(req, options):
    """`user_id` as Agora's `uid` or `account` (never guessed from its digits)."""
    mode, source = "account", "the default"
    given = user_id_as(
        options.get("user_id_as"),
        "`options.user_id_as`",
        "(user_id is the player's user account, a string; the default)",
    )
    if given is not None:
        mode, source = given, "`options.user_id_as`"
    else:
        configured = user_id_as(config.get("user_id_as"), "the provider config key `user_id_as`", "(the default)")
        if configured is not None:
            mode, source = configured, "the provider config key `user_id_as`"
    if mode == "uid":
        if not UID.fullmatch(req.user_id) or int(req.user_id) > MAX_UID:
            raise invalid(
                f"`user_id` {shown(req.user_id)} is not an Agora uid: with user_id_as \"uid\" ({source}) "
                f"it must be an integer 1..={MAX_UID} in decimal digits, without a sign or leading zero "
                "(uid 0, which asks Agora to assign one, is not accepted). An id such as \"007\" is the "
                'user account "007", a different user from uid 7: leave user_id_as at "account" to send '
                "it as one"
            )
        return {"uid": int(req.user_id)}
    return {"account": check_name("user_id", req.user_id, 255)}


def check_name(field, value, max_bytes):
    if not value or not js.trim(value):
        raise invalid(f"`{field}` must not be empty")
    if js.utf8_length(value) > max_bytes or not NAME_CHARS.fullmatch(value):
        raise invalid(
            f"`{field}` {shown(value)} must be 1 to {max_bytes} bytes of letters, digits, space and "
            "!#$%&()+-:;<=.>?@[]^_{}|~,"
        )
    return value


DIGITS = re.compile(r"-?[0-9]+")


def int_option(options, key, low, high):
    v = options.get(key)
    if v is None:
        return None
    if isinstance(v, str) and DIGITS.fullmatch(js.trim(v)):
        v = float(js.trim(v)) if abs(int(js.trim(v))) > js.MAX_SAFE_INTEGER else int(js.trim(v))
    n = js.safe_integer(v)
    if n is None:
        raise invalid(f"`options.{key}` must be an integer")
    if n < low or n > high:
        raise invalid(f"`options.{key}` is {n}; it must be between {low} and {high}")
    return n


def object_option(options, key):
    v = options.get(key)
    if v is None:
        return None
    if not isinstance(v, dict):
        raise invalid(f"`options.{key}` must be a JSON object")
    return v


def bool_option(options, key):
    v = options.get(key)
    if v is None:
        return None
    if not isinstance(v, bool):
        raise invalid(f"`options.{key}` must be true or false")
    return v


def parse_options(text):
    """The request's `options`: a JSON object (`{}` when empty)."""
    try:
        options = js.parse(text or "{}")
    except ValueError as e:
        raise invalid(f"`options` is not valid JSON: {e}") from None
    if not isinstance(options, dict):
        raise invalid("`options` must be a JSON object")
    return options


#: A scheme Agora pulls (ASCII case-insensitive, as JavaScript's `/i`) and a host's first
#: character (not `/`, not JavaScript's `\s`).
SOURCE = re.compile(r"(?ai:rtmps?|https?)://[^/" + js.WS + "]")


def source_url(raw, missing):
    """A source URL Agora can pull, trimmed; `missing` says why it is needed when absent."""
    source = js.trim(raw or "")
    if not SOURCE.match(source):
        raise invalid(
            f"`stream_url` {missing}: the source Agora pulls (http://, https://, rtmp:// or rtmps://; "
            "FLV, MP4, MPEG-TS, MKV or HLS)"
        )
    if js.utf8_length(source) > MAX_STREAM_URL:
        raise invalid(f"`stream_url` is {js.utf8_length(source)} bytes; Agora takes at most {MAX_STREAM_URL}")
    return source


DIRECTIONS = {
    Direction.PULL_IN: "pull-in",
    Direction.PUSH_IN: "push-in",
    Direction.PUSH_OUT: "push-out",
    Direction.PULL_OUT: "pull-out",
}
MEDIA = {MediaKind.AUDIO_VIDEO: "audio-video", MediaKind.AUDIO_ONLY: "audio-only", MediaKind.VIDEO_ONLY: "video-only"}


def start_body(req):
    """Validates a start request and builds Agora's body (fixed field order)."""
    if req.direction != Direction.PULL_IN:
        raise ProviderError(
            ErrorKind.UNSUPPORTED,
            f"{NAME} supports only direction `pull-in` (Media Pull); direction "
            f"`{DIRECTIONS[req.direction]}` is not supported",
        )
    if req.media != MediaKind.AUDIO_VIDEO:
        raise ProviderError(
            ErrorKind.UNSUPPORTED,
            f"Agora Media Pull relays the source's tracks; media `{MEDIA[req.media]}` is not supported "
            "(use `audio-video`, and options.audio_options / video_options to shape them)",
        )
    options = parse_options(req.options_json)
    channel_name = check_name("room_id", req.room_id, 64)
    player = {"streamUrl": source_url(req.stream_url, "is required for pull-in"), "channelName": channel_name}
    token = options.get("token")
    if token is not None:
        if not isinstance(token, str) or not js.trim(token):
            raise invalid("`options.token` must be a non-empty string (the RTC token for `user_id` in `room_id`)")
        player["token"] = token
    # `uid` (a Number) or `account` (a String): different users; see `player_user`.
    player.update(player_user(req, options))
    idle_timeout = int_option(options, "idle_timeout", 5, 600)
    if idle_timeout is not None:
        player["idleTimeout"] = idle_timeout
    play_ts = int_option(options, "play_ts", 0, 4294967295)
    if play_ts is not None:
        player["playTs"] = play_ts
    player["name"] = player_name(req, channel_name)
    repeat_time = int_option(options, "repeat_time", -1, 1000)
    if repeat_time == 0:
        raise invalid("`options.repeat_time` is 0; it must be -1 (loop) or 1..=1000 plays")
    if repeat_time is not None:
        player["repeatTime"] = repeat_time
    audio_options = object_option(options, "audio_options")
    if audio_options is not None:
        player["audioOptions"] = audio_options
    video_options = object_option(options, "video_options")
    if video_options is not None:
        player["videoOptions"] = video_options
    return {"player": player}


# ---------------------------------------------------------------------------------------------
# Update request → Agora `player` (PATCH …/players/{playerId}?sequence={n})

#: The `options` keys an update reads; any other is refused.
UPDATE_OPTIONS = ("volume", "is_pause", "seek_position", "audio_options", "sequence")
OPTION_KEY = re.compile(r"[A-Za-z0-9_]{1,64}")


def update_body(req):
    """Validates an update request; returns Agora's body (only the fields that change, in a
    fixed order) and the `sequence` query parameter (the caller's, else the call's clock in
    Unix milliseconds: larger at every later call, the same at every step of one call)."""
    options = parse_options(req.options_json)
    unknown = next((k for k in js.keys(options) if k not in UPDATE_OPTIONS), None)
    if unknown is not None:
        key = f"`options.{unknown}`" if OPTION_KEY.fullmatch(unknown) else f"the `options` key {shown(unknown)}"
        can = ", ".join(f"options.{k}" for k in UPDATE_OPTIONS)
        raise invalid(f"{key} is not a setting {NAME} can change on a running ingest (it can change: stream_url, {can})")
    player = {}
    if req.stream_url is not None:
        player["streamUrl"] = source_url(req.stream_url, "must be a URL")
    audio_options = object_option(options, "audio_options")
    volume = int_option(options, "volume", 0, 200)
    if volume is not None:
        given = (audio_options or {}).get("volume")
        if "volume" in (audio_options or {}) and not (js.is_number(given) and given == volume):
            said = js.number(given) if js.is_number(given) else shown(given)
            raise invalid(f"`options.volume` ({volume}) and `options.audio_options.volume` ({said}) disagree; give one")
        audio_options = {**(audio_options or {}), "volume": volume}
    if audio_options is not None:
        player["audioOptions"] = audio_options
    is_pause = bool_option(options, "is_pause")
    if is_pause is not None:
        player["isPause"] = is_pause
    seek_position = int_option(options, "seek_position", 0, 4294967295)
    if seek_position is not None:
        player["seekPosition"] = seek_position
    if not player:
        changes = ", ".join(f"options.{k}" for k in UPDATE_OPTIONS if k != "sequence")
        raise invalid(f"the update changes nothing: give `stream_url` or one of {changes}")
    given = int_option(options, "sequence", 0, js.MAX_SAFE_INTEGER)
    sequence = str(context.now_ms()) if given is None else str(given)
    return {"player": player}, sequence


# ---------------------------------------------------------------------------------------------
# Session references: {"id":"<playerId>","channel":"<channelName>"}


def session_ref(player_id, channel):
    return js.stringify({"id": player_id, "channel": channel})


def parse_session_ref(ref):
    try:
        v = js.parse(ref)
    except ValueError:
        v = None
    ok = (
        isinstance(v, dict)
        and isinstance(v.get("id"), str)
        and v["id"]
        and isinstance(v.get("channel"), str)
        and v["channel"]
    )
    if not ok:
        raise invalid(f'the session reference is not one {NAME} made ({{"id": player id, "channel": channel name}})')
    return v["id"], v["channel"]


# ---------------------------------------------------------------------------------------------
# Vendor answers

HTTP_WS = "\t\n\r "


def header(headers, name):
    """A header as the WHATWG `Headers.get` reads it: case-insensitive, repeated values joined
    with `, `, surrounding whitespace trimmed, `None` when absent."""
    want = name.lower()
    values = [v.strip(HTTP_WS) for k, v in headers if k.lower() == want]
    return ", ".join(values) if values else None


def vendor_request_id(headers, sent):
    """The vendor's request id: its own `X-Request-ID`, its echo `X-Custom-Request-ID`, or ours."""
    for name in ("x-request-id", "x-custom-request-id"):
        value = header(headers, name)
        if value is not None:
            return value
    return sent


def kind_for_status(status, op):
    if status == 400:
        return ErrorKind.INVALID_ARGUMENT, "Agora refused the request as invalid"
    if status == 401:
        return (
            ErrorKind.UNAUTHENTICATED,
            "Agora refused the RESTful credentials; check the `customer_id` and `customer_secret` secrets",
        )
    if status == 403:
        return (
            ErrorKind.PERMISSION_DENIED,
            "Agora refused the request: Media Pull may not be enabled for this project, or the credentials may not use it",
        )
    if status == 404:
        return ErrorKind.NOT_FOUND, "Agora does not know this player (stopped, idle-timed-out, or never created)"
    if status == 409 and op == "update":
        return (
            ErrorKind.FAILED_PRECONDITION,
            "Agora refused the update as out of order: an update of this player with the same or a later "
            "`sequence` was already applied; send the change again (a later call gets a later sequence)",
        )
    if status == 409:
        return (
            ErrorKind.ALREADY_EXISTS,
            "Agora already has a player with this name in the project: without `display_name` the name is "
            "derived from `room_id` and `user_id`, so this user already has a player in this channel; with "
            "one, choose another `display_name`",
        )
    if status == 429:
        return ErrorKind.RATE_LIMITED, "Agora answered 429 (too many requests); retry after a pause"
    if 500 <= status <= 599:
        return ErrorKind.UNAVAILABLE, f"Agora answered HTTP {status}; retry later"
    return ErrorKind.VENDOR_INTERNAL, f"Agora answered with unexpected HTTP status {status}"


RETRY_AFTER = re.compile(r"\s*[0-9]{1,9}\s*", re.ASCII)


def first_present(obj, *names):
    """`obj.a ?? obj.b`: the first value that is neither absent nor `null`."""
    return next((obj[n] for n in names if obj.get(n) is not None), None)


def vendor_error(status, headers, text, sent_id, op):
    """The error for a non-2xx answer, keeping whatever Agora said."""
    try:
        body = js.parse(text)
    except ValueError:
        body = None
    obj = body if isinstance(body, dict) else {}
    kind, what = kind_for_status(status, op)
    code = first_present(obj, "reason", "code")
    code = str(status) if code is None else js.string(code)
    message = first_present(obj, "message", "msg")
    if message is None and text:
        message = js.utf16_prefix(text, 512)
    retry_after = header(headers, "retry-after")
    retry_secs = None
    if status == 429 and retry_after and RETRY_AFTER.fullmatch(retry_after):
        retry_secs = int(retry_after)
    return ProviderError(
        kind,
        f"{what}: {js.string(message)}" if js.truthy(message) else what,
        code=code,
        vendor_message=None if message is None else js.string(message),
        request_id=vendor_request_id(headers, sent_id),
        retry_after=retry_secs,
    )


def bad_response(what, request_id):
    return ProviderError(
        ErrorKind.VENDOR_INTERNAL, f"the vendor's response could not be understood: {what}", request_id=request_id
    )


# ---------------------------------------------------------------------------------------------
# Steps: the operation's code runs from the top at every step and "sends" its requests in
# order; a request already answered gets its answer back, the first unanswered one ends the
# step. Nothing is kept between steps: the host passes the answers in again.


class Pending(BaseException):
    """Raised by `send` when the answers are exhausted: the request to return as the next step.
    A `BaseException`, so an operation's `except Exception` does not swallow it."""

    def __init__(self, request):
        super().__init__()
        self.request = request


def step(answers, operation, send_case, done_case):
    """Runs `operation(send)` against `answers`: `send_case(request)`, `done_case(Ok(value))`
    or `done_case(Err(provider_error))`. Anything else raised is a bug: it traps (a plugin
    fault, with the traceback on the plugin's stderr)."""
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
    """A transport failure (no response) as a provider error, as the Rust SDK maps it."""
    if isinstance(error, types.TransportError_Denied):
        return ProviderError(ErrorKind.DENIED, "the gateway's egress policy refused the vendor request")
    if isinstance(error, types.TransportError_Timeout):
        return ProviderError(ErrorKind.TIMEOUT, f"the vendor did not answer in time: {error.value}")
    if isinstance(error, types.TransportError_TooLarge):
        return ProviderError(ErrorKind.VENDOR_INTERNAL, "the vendor's response exceeded the gateway's size limit")
    return ProviderError(ErrorKind.UNAVAILABLE, f"the vendor could not be reached: {error.value}")


def credential_error(e):
    """A credentials call's `Err` as a provider error."""
    if isinstance(e.value, credentials.CredentialError_UnknownSecret):
        return invalid(f"secret `{e.value.value}` is not configured for this provider; add it under [providers.secrets]")
    return ProviderError(ErrorKind.PLUGIN_FAULT, f"the credentials call failed: {e.value.value}")


def call(send, op, method, path, body=None):
    """One authenticated request through `send` for operation `op`; (json, request id) of a
    2xx answer (`json` is `None` for an empty body)."""
    app_id, region, base = settings()
    try:
        auth = credentials.basic_auth_placeholder([Part_Secret(SECRET_ID)], [Part_Secret(SECRET_KEY)])
    except Err as e:
        raise credential_error(e) from None
    sent_id = context.request_id()
    headers = [("authorization", f"Basic {auth}"), ("x-request-id", sent_id)]
    if body is not None:
        headers.append(("content-type", "application/json"))
    answer = send(
        VendorRequest(
            method=method,
            url=js.normalize_url(f"{base}{players_path(app_id, region)}{path}"),
            headers=headers,
            body=b"" if body is None else js.stringify(body).encode("utf-8", "surrogatepass"),
            # A query may be repeated after a broken connection; a create, a delete or an
            # update may not.
            idempotent=method == "GET",
        )
    )
    if isinstance(answer, Err):
        raise transport_error(answer.value)
    response = answer.value
    text = response.body.decode("utf-8", "replace")
    if not 200 <= response.status <= 299:
        raise vendor_error(response.status, response.headers, text, sent_id, op)
    rid = vendor_request_id(response.headers, sent_id)
    if not js.trim(text):
        return None, rid
    try:
        return js.parse(text), rid
    except ValueError:
        raise bad_response("the body is not JSON", rid) from None


# ---------------------------------------------------------------------------------------------
# Player states, as the List API and the notifications spell them

#: Agora's player status → the normalized state. `idle` and `success` are still `starting`.
STATES = {
    "idle": IngestState.STARTING,
    "connecting": IngestState.STARTING,
    "success": IngestState.STARTING,
    "running": IngestState.RUNNING,
    "stopped": IngestState.STOPPED,
    "failed": IngestState.FAILED,
}


def state_of(status):
    return STATES.get(status, IngestState.UNKNOWN)


# ---------------------------------------------------------------------------------------------
# Notifications: Agora's Notification Center Service (NCS) posting Media Pull events; header
# `Agora-Signature-V2` = lowercase hex HMAC-SHA256(notification secret, raw body). A notice
# sent more than MAX_NOTICE_AGE_SECS away from the gateway's clock is refused.

PRODUCT_MEDIA_PULL = 4
MAX_NOTICE_AGE_SECS = 600
EVENT_CREATED = 1
EVENT_DESTROYED = 3
EVENT_STATUS = 4
DESTROY_STATES = {
    "Delete Request": IngestState.STOPPED,
    "Stream Stopped": IngestState.STOPPED,
    "Idle Timeout": IngestState.FAILED,
    "Internal Error": IngestState.FAILED,
}


def unauthenticated(message):
    return ProviderError(ErrorKind.UNAUTHENTICATED, message)


def request_header(headers, name):
    """The first non-blank value of header `name` (case-insensitive), trimmed."""
    want = name.lower()
    return next((js.trim(v) for k, v in headers if k.lower() == want and js.trim(v)), None)


def verify_notice(req):
    """Checks `Agora-Signature-V2` against the raw body and the provider's notification secret."""
    try:
        mac = credentials.hmac(HashAlgorithm.SHA256, [Part_Secret(SECRET_NOTIFICATION)], [Part_Bytes(req.body)])
    except Err as e:
        if isinstance(e.value, credentials.CredentialError_UnknownSecret):
            raise ProviderError(
                ErrorKind.UNSUPPORTED,
                f"{NAME} cannot verify Agora notifications without the secret `{SECRET_NOTIFICATION}` (the "
                "Secret Agora Console shows for the Notifications configuration); add "
                f'`{SECRET_NOTIFICATION} = {{ env = "…" }}` under [providers.secrets]',
            ) from None
        raise ProviderError(ErrorKind.PLUGIN_FAULT, f"the credentials call failed: {e.value.value}") from None
    given = request_header(req.headers, "agora-signature-v2")
    if given is None:
        raise unauthenticated(
            "the notice is not signed: the `Agora-Signature-V2` header is missing; Agora Notifications "
            "sign notices with Agora-Signature-V2 = hex(HMAC-SHA256(secret, body))"
        )
    if not _hmac.compare_digest(mac.hex().encode(), given.lower().encode("utf-8", "surrogatepass")):
        raise unauthenticated(
            f"the notice's `Agora-Signature-V2` does not verify against the provider's `{SECRET_NOTIFICATION}`: "
            "it was not sent by Agora with this secret, or its body was altered"
        )


UINT = re.compile(r"[0-9]{1,16}")


def uint_field(obj, key, what):
    """A non-negative integer field (a JSON number or a string of digits), or `None`."""
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, str) and UINT.fullmatch(js.trim(v)):
        v = int(js.trim(v))
        v = float(v) if v > js.MAX_SAFE_INTEGER else v
    n = js.safe_integer(v)
    if n is None or n < 0:
        raise invalid(f"the notice's `{what}` is not a non-negative integer")
    return n


def text_field(obj, key):
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, str) and v else None


def parse_notice(req):
    """Verifies and normalizes one notice."""
    verify_notice(req)
    try:
        notice = js.parse(req.body.decode("utf-8", "replace"))
    except ValueError:
        notice = None
    if not isinstance(notice, dict):
        raise invalid(
            "the notice body is not a JSON object (Agora Notifications: noticeId, productId, eventType, notifyMs, payload)"
        )
    notify_ms = uint_field(notice, "notifyMs", "notifyMs")
    if notify_ms is None:
        raise unauthenticated(
            "the notice carries no `notifyMs`, so its age cannot be checked (a replayed notice could not be told from a new one)"
        )
    age_secs = abs(context.now_ms() - notify_ms) // 1000
    if age_secs > MAX_NOTICE_AGE_SECS:
        raise unauthenticated(
            f"the notice's `notifyMs` is {age_secs} s away from the gateway's clock (at most {MAX_NOTICE_AGE_SECS} s "
            "accepted); it is stale or replayed, or a clock is wrong"
        )
    product_id = uint_field(notice, "productId", "productId")
    event_type = uint_field(notice, "eventType", "eventType")
    if event_type is None:
        raise invalid("the notice has no `eventType`")
    payload = notice.get("payload")
    payload = {} if payload is None else payload
    if not isinstance(payload, dict):
        raise invalid("the notice's `payload` is not a JSON object")
    app_id = text_field(notice, "appId")
    configured = js.trim(config.get("app_id") or "")
    if app_id is not None and configured and app_id != configured:
        raise invalid(f"the notice is for App ID `{app_id}`, not this provider's `app_id`")
    notice_id = text_field(notice, "noticeId")
    about = "" if notice_id is None else f"; notice {notice_id}"
    lts = uint_field(payload, "lts", "payload.lts")
    occurred_at_ms = notify_ms if lts is None else lts

    # Another product's notice (the same URL configured for several): verified, but nothing
    # this plugin can map.
    if product_id != PRODUCT_MEDIA_PULL:
        return IngestEvent(
            session_ref=None,
            vendor_task_id=None,
            state=IngestState.UNKNOWN,
            vendor_event=f"productId={'none' if product_id is None else product_id} eventType={event_type}",
            detail=f"not a Media Pull notice (productId {PRODUCT_MEDIA_PULL}){about}",
            occurred_at_ms=occurred_at_ms,
        )
    return media_pull_event(payload, event_type, about, occurred_at_ms)


def media_pull_event(payload, event_type, about, occurred_at_ms):
    player = payload.get("player")
    player = player if isinstance(player, dict) else {}
    player_id = text_field(player, "id")
    channel = text_field(player, "channelName")
    ref = session_ref(player_id, channel) if player_id is not None and channel is not None else None
    status = text_field(player, "status")
    name = text_field(player, "name")
    named = "" if name is None else f"; player {name}"
    vendor_event = f"eventType={event_type}"
    if event_type == EVENT_CREATED:
        state = IngestState.STARTING if status is None else state_of(status)
        detail = "player created" + ("" if status is None else f" ({status})")
    elif event_type == EVENT_DESTROYED:
        reason = text_field(payload, "destroyReason")
        state = DESTROY_STATES.get(reason, IngestState.STOPPED)
        detail = "player destroyed" + ("" if reason is None else f": {reason}")
    elif event_type == EVENT_STATUS:
        state = IngestState.UNKNOWN if status is None else state_of(status)
        vendor_event = f"eventType={event_type} status={'none' if status is None else status}"
        detail = f"player status {'not given' if status is None else status}"
    else:
        state = IngestState.UNKNOWN
        detail = f"undocumented Media Pull eventType {event_type}"
    return IngestEvent(
        session_ref=ref if ref is not None and js.utf8_length(ref) <= MAX_SESSION_REF else None,
        vendor_task_id=player_id,
        state=state,
        vendor_event=vendor_event,
        detail=f"{detail}{named}{about}",
        occurred_at_ms=occurred_at_ms,
    )


# ---------------------------------------------------------------------------------------------
# The provider interface

#: Every secret the plugin can use (contract 0.2.2's `secret-catalog`); `describe` lists the
#: required ones.
SECRETS = (
    (
        SECRET_ID,
        True,
        "The RESTful API Customer ID (HTTP Basic user), filled in by the host as the request leaves.",
    ),
    (
        SECRET_KEY,
        True,
        "The RESTful API Customer Secret (HTTP Basic password), filled in by the host as the request leaves.",
    ),
    (
        SECRET_NOTIFICATION,
        False,
        "The Agora Notifications secret, to verify Agora-Signature-V2 on Media Pull notices. Without it, "
        "callbacks answer 501; everything else works.",
    ),
)


def start(req, send):
    body = start_body(req)
    data, rid = call(send, "start", "POST", "", body)
    player = data.get("player") if isinstance(data, dict) else None
    player_id = player.get("id") if isinstance(player, dict) else None
    if not isinstance(player_id, str) or not player_id:
        raise bad_response("the answer carries no `player.id`", rid)
    ref = session_ref(player_id, body["player"]["channelName"])
    if js.utf8_length(ref) > MAX_SESSION_REF:
        raise bad_response(f"a player id of {js.utf16_length(player_id)} characters", rid)
    return Session(session_ref=ref, vendor_task_id=player_id, issued_urls=[], vendor_request_id=rid, expires_at=None)


def status(req, send):
    player_id, channel = parse_session_ref(req.session_ref)
    query = js.encode_uri_component(f"channelName eq {channel}")
    data, rid = call(send, "status", "GET", f"?filter={query}")
    players = data.get("players") if isinstance(data, dict) else None
    if not isinstance(players, list):
        raise bad_response("the answer carries no `players` list", rid)
    player = next((p for p in players if isinstance(p, dict) and p.get("id") == player_id), None)
    if player is None:
        return IngestStatus(IngestState.NOT_FOUND, None, f"no player {player_id} in channel {channel}", rid)
    vendor_state = player.get("status") if isinstance(player.get("status"), str) else None
    return IngestStatus(
        state=IngestState.UNKNOWN if vendor_state is None else state_of(vendor_state),
        vendor_state=vendor_state,
        detail=None if "name" not in player else f"player {js.string(player['name'])}",
        vendor_request_id=rid,
    )


class Provider(exports.Provider):
    def describe(self):
        return ProviderInfo(
            name=NAME,
            version=VERSION,
            vendor="Agora Media Pull",
            directions=[Direction.PULL_IN],
            operations=[Operation.START, Operation.STOP, Operation.STATUS, Operation.UPDATE, Operation.PARSE_CALLBACK],
            config_keys=[
                ConfigKey("app_id", True, "The Agora project's App ID, in the request path."),
                ConfigKey(
                    "region",
                    False,
                    "Agora region code near the source, lowercase (`na`, `eu`, `ap`, `cn`). Default `na`.",
                ),
                ConfigKey(
                    "user_id_as",
                    False,
                    'How user_id joins the channel: "account" (default; Agora\'s String user account) or "uid" '
                    "(its Number uid; user_id must then be 1..=4294967295 without leading zeros). "
                    "options.user_id_as overrides it per start.",
                ),
            ],
            secrets=[name for name, required, _ in SECRETS if required],
            default_hosts=["api.agora.io:443"],
        )

    def start(self, request, answers):
        return step(answers, lambda send: start(request, send), provider.StartStep_Send, provider.StartStep_Done)

    def stop(self, request, answers):
        def operation(send):
            player_id, _ = parse_session_ref(request.session_ref)
            _, rid = call(send, "stop", "DELETE", f"/{js.encode_uri_component(player_id)}")
            return StopResult(vendor_request_id=rid)

        return step(answers, operation, provider.StopStep_Send, provider.StopStep_Done)

    def status(self, request, answers):
        return step(answers, lambda send: status(request, send), provider.StatusStep_Send, provider.StatusStep_Done)

    # A `result` export (no steps, no vendor request): the ok value is returned, the error
    # raised as `Err(error)`.
    def parse_callback(self, request):
        try:
            return parse_notice(request)
        except ProviderError as e:
            raise Err(e.value) from None


class Updater(exports.Updater):
    """The optional `updater` interface: PATCH the player with only the fields that change. The
    player id and channel do not change, so the session reference stays."""

    def update(self, request, answers):
        def operation(send):
            player_id, _ = parse_session_ref(request.session_ref)
            body, sequence = update_body(request)
            path = f"/{js.encode_uri_component(player_id)}?sequence={sequence}"
            _, rid = call(send, "update", "PATCH", path, body)
            return UpdateResult(session_ref=None, vendor_request_id=rid)

        return step(answers, operation, updater.UpdateStep_Send, updater.UpdateStep_Done)


class SecretCatalog(exports.SecretCatalog):
    """The optional `secret-catalog` interface (contract 0.2.2): every secret, required or optional."""

    def secrets(self):
        return [secret_catalog.SecretSpec(name, required, description) for name, required, description in SECRETS]
