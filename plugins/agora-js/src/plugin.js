// Ingest Gateway provider plugin for Agora Media Pull ("cloud player"), pull-in, written in
// JavaScript and built into a component with componentize-js (see ../README.md and build.mjs).
// Contract ingest:provider@0.2.2, world `adapter-plugin-with-update`: the plugin performs no
// I/O. `start`, `stop`, `status` and `update` return the vendor request to send (`send`) or
// the result (`done`); the host sends the request and calls again, on a fresh instance, with
// the answers so far (see `step` below).
//
// start  → POST   {base}/{region}/v1/projects/{appId}/cloud-player/players
// stop   → DELETE {base}/{region}/v1/projects/{appId}/cloud-player/players/{playerId}
// status → GET    {base}/{region}/v1/projects/{appId}/cloud-player/players?filter=channelName eq {channel}
// update → PATCH  {base}/{region}/v1/projects/{appId}/cloud-player/players/{playerId}?sequence={n}
// parse-callback: an Agora Notifications (NCS) notice for Media Pull, verified with the
//                 operator's notification secret through the host (no vendor request).
//
// Authentication is HTTP Basic with the project's RESTful credentials. The plugin never holds
// them: `basicAuthPlaceholder` returns an opaque token that the host replaces with
// base64(customer_id:customer_secret) as the request leaves, towards allowed hosts only.
// Time, nonces and the request id come from the host, identical at every step of a call, so
// each step rebuilds the same request and dry runs are byte-identical.

import { basicAuthPlaceholder, hmac } from 'ingest:provider/credentials@0.2.2';
import { endpoint, get } from 'ingest:provider/config@0.2.2';
import { nowMs, requestId } from 'ingest:provider/context@0.2.2';

const NAME = 'agora-js';
const VERSION = '0.3.0';
const DEFAULT_BASE = 'https://api.agora.io';
const DEFAULT_REGION = 'na';
const SECRET_ID = 'customer_id';
const SECRET_KEY = 'customer_secret';
/** The optional secret holding the Agora Notifications secret (only `parse-callback` uses it). */
const SECRET_NOTIFICATION = 'notification_secret';
/** Longest source URL Agora takes (`streamUrl`), bytes. */
const MAX_STREAM_URL = 1024;
/** Longest session reference the contract allows, bytes: `MAX_SESSION_REF_BYTES` of the
 * `ingest-contract` crate (wit/src/lib.rs), which the host enforces; tests/all/agora.rs checks
 * that the two agree. */
const MAX_SESSION_REF = 2048;

/** A normalized provider error; thrown inside an operation, `step` returns it as `done(err(…))`. */
class ProviderError {
  constructor(kind, message, vendor = {}) {
    this.kind = kind;
    this.message = message;
    this.vendorCode = vendor.code;
    this.vendorMessage = vendor.message;
    this.vendorRequestId = vendor.requestId;
    this.retryable = vendor.retryable ?? ['rate-limited', 'unavailable', 'timeout'].includes(kind);
    this.retryAfterSecs = vendor.retryAfterSecs;
  }
}

const invalid = (message) => new ProviderError('invalid-argument', message);

/** Longest excerpt of a caller's value an error message repeats, in characters. */
const MAX_ECHO = 64;

/** A caller's value as an error message may repeat it: a JSON string literal (quotes,
 *  backslashes and control characters escaped), cut to its first MAX_ECHO characters with `…`
 *  and the full length after it when longer. A value that is not a string is named by its
 *  type only. */
function shown(value) {
  if (typeof value !== 'string') {
    if (value === null) return 'null';
    if (Array.isArray(value)) return 'an array';
    return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
  }
  const chars = Array.from(value);
  if (chars.length <= MAX_ECHO) return JSON.stringify(value);
  return `${JSON.stringify(chars.slice(0, MAX_ECHO).join(''))}… (${chars.length} characters)`;
}

// ---------------------------------------------------------------------------------------------
// Settings

/** The base URL: the operator's `endpoint` (checked), else Agora's host. */
function baseUrl() {
  const configured = endpoint();
  if (configured === undefined || configured === null) return DEFAULT_BASE;
  const m = /^(https?):\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?\/?$/.exec(configured.trim());
  if (!m) {
    throw invalid(`the provider's \`endpoint\` \`${configured}\` must look like \`https://api.agora.io\` or \`http://127.0.0.1:9106\` (no path)`);
  }
  return `${m[1].toLowerCase()}://${m[2]}${m[3] ?? ''}`;
}

function settings() {
  const appId = (get('app_id') ?? '').trim();
  if (!/^[0-9A-Za-z]{1,64}$/.test(appId)) {
    throw invalid(appId
      ? `provider config key \`app_id\` \`${appId}\` must be the Agora App ID (letters and digits)`
      : 'provider config key `app_id` is not set; add `app_id = "…"` under [providers.config]');
  }
  const region = (get('region') ?? DEFAULT_REGION).trim();
  if (!/^[a-z]{2,8}$/.test(region)) {
    throw invalid(`provider config key \`region\` \`${region}\` must be an Agora region code in lowercase, e.g. \`na\`, \`eu\`, \`ap\` or \`cn\``);
  }
  return { appId, region, base: baseUrl() };
}

const playersPath = (s) => `/${s.region}/v1/projects/${encodeURIComponent(s.appId)}/cloud-player/players`;

// ---------------------------------------------------------------------------------------------
// Start request → Agora `player`

/** Characters Agora allows in channel names and user accounts (besides letters and digits). */
const NAME_CHARS = /^[A-Za-z0-9 !#$%&()+\-:;<=.>?@[\]^_{}|~,]+$/;

const utf8Length = (s) => new TextEncoder().encode(s).length;

/** The player `name` Agora takes: 1 to 64 characters of `a-z A-Z 0-9 - _`. */
const PLAYER_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** Longest stem of a derived player name, so that `stem-<16 hex>` fits in 64. */
const MAX_NAME_STEM = 64 - 1 - 16;

/** FNV-1a, 64 bits, of `text`'s UTF-8 bytes, as 16 lowercase hex digits. Deterministic and
 *  dependency-free; it only has to keep derived player names apart. */
function fnv1a64(text) {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(text)) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

/** The player `name`: `display_name` when given (it must already be a valid name: refused
 *  otherwise, never rewritten), else derived from the channel and the user, since Agora wants
 *  names unique in the whole project, not per channel: `user_id`'s first 47 characters with
 *  every character outside `a-z A-Z 0-9 - _` replaced by `_`, a `-`, and the FNV-1a 64 hash of
 *  `channelName + "\0" + user_id` (`\0` cannot occur in either). Deterministic: the same user
 *  in the same channel gets the same name, so Agora's 409 still stops a second player for it
 *  there, while the same user in another channel, or user ids that differ only in the replaced
 *  characters, get other names. */
function playerName(req, channelName) {
  if (req.displayName !== undefined && req.displayName !== null) {
    if (!PLAYER_NAME.test(req.displayName)) {
      throw invalid(`\`display_name\` ${shown(req.displayName)} cannot be the Agora player \`name\`, which must be 1 to 64 characters of a-z, A-Z, 0-9, \`-\` and \`_\`; pass such a name, or leave display_name out to have one derived from room_id and user_id`);
    }
    return req.displayName;
  }
  const stem = req.userId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, MAX_NAME_STEM);
  return `${stem}-${fnv1a64(`${channelName}\0${req.userId}`)}`;
}

/** How `user_id` joins the channel: `account` (a String user account, the default) or `uid`
 *  (a Number). */
const USER_ID_AS = ['account', 'uid'];
/** Largest Agora uid (2^32-1). */
const MAX_UID = 4294967295;

/** A `user_id_as` value, from the option or the provider config alike: a string, surrounding
 *  whitespace trimmed, then exactly `account` or `uid` (case matters); undefined when absent
 *  (undefined or null). `where` names it in the error. */
function userIdAs(value, where, hint) {
  if (value === undefined || value === null) return undefined;
  const v = typeof value === 'string' ? value.trim() : value;
  if (!USER_ID_AS.includes(v)) throw invalid(`${where} is ${shown(value)}; it must be "account" ${hint} or "uid"`);
  return v;
}

/** `user_id` as Agora's `uid` or `account`. `uid` and `account` are different identities (a
 *  token for account "007" does not admit uid 7), so the plugin never guesses: `user_id` is
 *  the account unless `options.user_id_as`, else the provider config key `user_id_as`, says
 *  `uid` — and then it must be a canonical uid, 1..=2^32-1 in decimal digits without a sign
 *  or leading zero (uid 0 asks Agora to assign one, which the gateway does not ask for). */
function playerUser(req, options) {
  let mode = 'account';
  let source = 'the default';
  const given = userIdAs(options.user_id_as, '`options.user_id_as`', "(user_id is the player's user account, a string; the default)");
  if (given !== undefined) {
    [mode, source] = [given, '`options.user_id_as`'];
  } else {
    const configured = userIdAs(get('user_id_as'), 'the provider config key `user_id_as`', '(the default)');
    if (configured !== undefined) [mode, source] = [configured, 'the provider config key `user_id_as`'];
  }
  if (mode === 'uid') {
    if (!/^[1-9][0-9]{0,9}$/.test(req.userId) || Number(req.userId) > MAX_UID) {
      throw invalid(`\`user_id\` ${shown(req.userId)} is not an Agora uid: with user_id_as "uid" (${source}) it must be an integer 1..=${MAX_UID} in decimal digits, without a sign or leading zero (uid 0, which asks Agora to assign one, is not accepted). An id such as "007" is the user account "007", a different user from uid 7: leave user_id_as at "account" to send it as one`);
    }
    return { uid: Number(req.userId) };
  }
  return { account: checkName('user_id', req.userId, 255) };
}

function checkName(field, value, max) {
  if (!value || !value.trim()) throw invalid(`\`${field}\` must not be empty`);
  if (utf8Length(value) > max || !NAME_CHARS.test(value)) {
    throw invalid(`\`${field}\` ${shown(value)} must be 1 to ${max} bytes of letters, digits, space and !#$%&()+-:;<=.>?@[]^_{}|~,`);
  }
  return value;
}

function intOption(options, key, min, max) {
  const v = options[key];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : v;
  if (!Number.isSafeInteger(n)) throw invalid(`\`options.${key}\` must be an integer`);
  if (n < min || n > max) throw invalid(`\`options.${key}\` is ${n}; it must be between ${min} and ${max}`);
  return n;
}

function objectOption(options, key) {
  const v = options[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(`\`options.${key}\` must be a JSON object`);
  return v;
}

function boolOption(options, key) {
  const v = options[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalid(`\`options.${key}\` must be true or false`);
  return v;
}

/** The request's `options`: a JSON object (`{}` when empty). */
function parseOptions(json) {
  let options;
  try {
    options = JSON.parse(json || '{}');
  } catch (e) {
    throw invalid(`\`options\` is not valid JSON: ${e.message}`);
  }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalid('`options` must be a JSON object');
  return options;
}

/** A source URL Agora can pull, trimmed; `missing` says why it is needed when absent. */
function sourceUrl(raw, missing) {
  const source = (raw ?? '').trim();
  if (!/^(rtmps?|https?):\/\/[^/\s]+/i.test(source)) {
    throw invalid(`\`stream_url\` ${missing}: the source Agora pulls (http://, https://, rtmp:// or rtmps://; FLV, MP4, MPEG-TS, MKV or HLS)`);
  }
  if (utf8Length(source) > MAX_STREAM_URL) throw invalid(`\`stream_url\` is ${utf8Length(source)} bytes; Agora takes at most ${MAX_STREAM_URL}`);
  return source;
}

/** Validates a start request and builds Agora's body (fixed field order: deterministic bytes). */
function startBody(req) {
  if (req.direction !== 'pull-in') {
    throw new ProviderError('unsupported', `agora-js supports only direction \`pull-in\` (Media Pull); direction \`${req.direction}\` is not supported`);
  }
  if (req.media !== 'audio-video') {
    throw new ProviderError('unsupported', `Agora Media Pull relays the source's tracks; media \`${req.media}\` is not supported (use \`audio-video\`, and options.audio_options / video_options to shape them)`);
  }
  const options = parseOptions(req.optionsJson);
  const channelName = checkName('room_id', req.roomId, 64);
  const player = { streamUrl: sourceUrl(req.streamUrl, 'is required for pull-in'), channelName };
  if (options.token !== undefined && options.token !== null) {
    if (typeof options.token !== 'string' || !options.token.trim()) throw invalid('`options.token` must be a non-empty string (the RTC token for `user_id` in `room_id`)');
    player.token = options.token;
  }
  // `uid` (a Number) or `account` (a String): different users; see `playerUser`.
  Object.assign(player, playerUser(req, options));
  const idleTimeout = intOption(options, 'idle_timeout', 5, 600);
  if (idleTimeout !== undefined) player.idleTimeout = idleTimeout;
  const playTs = intOption(options, 'play_ts', 0, 4294967295);
  if (playTs !== undefined) player.playTs = playTs;
  player.name = playerName(req, channelName);
  const repeatTime = intOption(options, 'repeat_time', -1, 1000);
  if (repeatTime === 0) throw invalid('`options.repeat_time` is 0; it must be -1 (loop) or 1..=1000 plays');
  if (repeatTime !== undefined) player.repeatTime = repeatTime;
  const audioOptions = objectOption(options, 'audio_options');
  if (audioOptions !== undefined) player.audioOptions = audioOptions;
  const videoOptions = objectOption(options, 'video_options');
  if (videoOptions !== undefined) player.videoOptions = videoOptions;
  return { player };
}

// ---------------------------------------------------------------------------------------------
// Update request → Agora `player` (PATCH …/players/{playerId}?sequence={n})

/** The `options` keys an update reads; any other is refused (a misspelt change must not be
 *  reported done). */
const UPDATE_OPTIONS = ['volume', 'is_pause', 'seek_position', 'audio_options', 'sequence'];
/** Largest `sequence` the plugin sends: the largest integer a JSON number holds exactly. */
const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

/** Validates an update request; returns Agora's body (only the fields that change, in a fixed
 *  order) and the `sequence` query parameter.
 *
 *  Agora applies the update with the highest `sequence` and wants each update of a player to
 *  carry a larger one than the last. The plugin keeps no state, so unless the caller gives
 *  `options.sequence` it sends the call's clock in Unix milliseconds: larger at every later
 *  call, the same at every step of one call. */
function updateBody(req) {
  const options = parseOptions(req.optionsJson);
  const unknown = Object.keys(options).find((k) => !UPDATE_OPTIONS.includes(k));
  if (unknown !== undefined) {
    const key = /^[A-Za-z0-9_]{1,64}$/.test(unknown) ? `\`options.${unknown}\`` : `the \`options\` key ${shown(unknown)}`;
    throw invalid(`${key} is not a setting agora-js can change on a running ingest (it can change: stream_url, ${UPDATE_OPTIONS.map((k) => `options.${k}`).join(', ')})`);
  }
  const player = {};
  if (req.streamUrl !== undefined && req.streamUrl !== null) player.streamUrl = sourceUrl(req.streamUrl, 'must be a URL');
  let audioOptions = objectOption(options, 'audio_options');
  const volume = intOption(options, 'volume', 0, 200);
  if (volume !== undefined) {
    const given = audioOptions?.volume;
    if (given !== undefined && given !== volume) {
      throw invalid(`\`options.volume\` (${volume}) and \`options.audio_options.volume\` (${typeof given === 'number' ? given : shown(given)}) disagree; give one`);
    }
    audioOptions = { ...(audioOptions ?? {}), volume };
  }
  if (audioOptions !== undefined) player.audioOptions = audioOptions;
  const isPause = boolOption(options, 'is_pause');
  if (isPause !== undefined) player.isPause = isPause;
  const seekPosition = intOption(options, 'seek_position', 0, 4294967295);
  if (seekPosition !== undefined) player.seekPosition = seekPosition;
  if (Object.keys(player).length === 0) {
    throw invalid(`the update changes nothing: give \`stream_url\` or one of ${UPDATE_OPTIONS.filter((k) => k !== 'sequence').map((k) => `options.${k}`).join(', ')}`);
  }
  const given = intOption(options, 'sequence', 0, MAX_SEQUENCE);
  const sequence = given === undefined ? String(nowMs()) : String(given);
  return { body: { player }, sequence };
}

// ---------------------------------------------------------------------------------------------
// Session references: {"id":"<playerId>","channel":"<channelName>"}

function sessionRef(id, channel) {
  return JSON.stringify({ id, channel });
}

function parseSessionRef(ref) {
  let v;
  try {
    v = JSON.parse(ref);
  } catch {
    v = undefined;
  }
  if (!v || typeof v.id !== 'string' || !v.id || typeof v.channel !== 'string' || !v.channel) {
    throw invalid('the session reference is not one agora-js made ({"id": player id, "channel": channel name})');
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Vendor answers

/** The vendor's request id: its own `X-Request-ID`, its echo `X-Custom-Request-ID`, or ours. */
function vendorRequestId(headers, sent) {
  return headers.get('x-request-id') ?? headers.get('x-custom-request-id') ?? sent;
}

function kindForStatus(status, op) {
  if (status === 400) return ['invalid-argument', 'Agora refused the request as invalid'];
  if (status === 401) return ['unauthenticated', 'Agora refused the RESTful credentials; check the `customer_id` and `customer_secret` secrets'];
  if (status === 403) return ['permission-denied', 'Agora refused the request: Media Pull may not be enabled for this project, or the credentials may not use it'];
  if (status === 404) return ['not-found', 'Agora does not know this player (stopped, idle-timed-out, or never created)'];
  if (status === 409 && op === 'update') {
    return ['failed-precondition', 'Agora refused the update as out of order: an update of this player with the same or a later `sequence` was already applied; send the change again (a later call gets a later sequence)'];
  }
  if (status === 409) return ['already-exists', 'Agora already has a player with this name in the project: without `display_name` the name is derived from `room_id` and `user_id`, so this user already has a player in this channel; with one, choose another `display_name`'];
  if (status === 429) return ['rate-limited', 'Agora answered 429 (too many requests); retry after a pause'];
  if (status >= 500 && status <= 599) return ['unavailable', `Agora answered HTTP ${status}; retry later`];
  return ['vendor-internal', `Agora answered with unexpected HTTP status ${status}`];
}

/** The error for a non-2xx answer, keeping whatever Agora said. */
function vendorError(status, headers, text, sentId, op) {
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const obj = body && typeof body === 'object' && !Array.isArray(body) ? body : {};
  const [kind, what] = kindForStatus(status, op);
  const code = obj.reason ?? obj.code ?? String(status);
  const message = obj.message ?? obj.msg ?? (text ? text.slice(0, 512) : undefined);
  const retryAfter = headers.get('retry-after');
  const retryAfterSecs = status === 429 && retryAfter && /^\s*\d{1,9}\s*$/.test(retryAfter) ? Number(retryAfter.trim()) : undefined;
  return new ProviderError(kind, message ? `${what}: ${message}` : what, {
    code: String(code),
    message: message === undefined ? undefined : String(message),
    requestId: vendorRequestId(headers, sentId),
    retryAfterSecs,
  });
}

function badResponse(what, requestId) {
  return new ProviderError('vendor-internal', `the vendor's response could not be understood: ${what}`, { requestId });
}

// ---------------------------------------------------------------------------------------------
// Steps: the operation's code runs from the top at every step and "sends" its requests in
// order; a request already answered gets its answer back, the first unanswered one ends the
// step. Nothing is kept between steps: the host passes the answers in again.

/** Thrown by `send` when the answers are exhausted: the request to return as the next step. */
class Pending {
  constructor(request) {
    this.request = request;
  }
}

/** A `send` over the answers so far: the i-th call returns the i-th answer (a `vendor-answer`,
 *  `{tag: 'ok', val: vendor-response}` or `{tag: 'err', val: transport-error}`). */
function replay(answers) {
  let next = 0;
  return (request) => {
    if (next < answers.length) return answers[next++];
    throw new Pending(request);
  };
}

/** Runs `operation(send)` against `answers`: `send(request)`, `done(ok(value))` or
 *  `done(err(provider-error))`. Anything else thrown is a bug: it traps (a plugin fault). */
function step(answers, operation) {
  try {
    return { tag: 'done', val: { tag: 'ok', val: operation(replay(answers)) } };
  } catch (e) {
    if (e instanceof Pending) return { tag: 'send', val: e.request };
    if (e instanceof ProviderError) return { tag: 'done', val: { tag: 'err', val: e } };
    throw e;
  }
}

/** Response headers (`list<tuple<string, string>>`) with `get(name)` as the WHATWG `Headers`
 *  class has it (as under contract 0.1): case-insensitive, repeated values joined with `, `,
 *  surrounding whitespace trimmed, `null` when absent. */
function headerMap(list) {
  return {
    get(name) {
      const want = name.toLowerCase();
      const values = list.filter(([k]) => k.toLowerCase() === want).map(([, v]) => v.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, ''));
      return values.length ? values.join(', ') : null;
    },
  };
}

/** The URL WHATWG-normalized (lower-case host, no default port), as the plugin sent it under
 *  contract 0.1. */
function normalizeUrl(url) {
  try {
    return new URL(url).href;
  } catch {
    return url; // The host's egress policy refuses it, with its reason.
  }
}

/** A transport failure (no response) as a provider error, as the Rust SDK maps it. The host
 *  adds what it saw (an egress refusal outranks the plugin's guess). */
function transportError(error) {
  switch (error.tag) {
    case 'denied':
      return new ProviderError('denied', "the gateway's egress policy refused the vendor request");
    case 'timeout':
      return new ProviderError('timeout', `the vendor did not answer in time: ${error.val}`);
    case 'too-large':
      return new ProviderError('vendor-internal', "the vendor's response exceeded the gateway's size limit");
    default: // 'unreachable', and 'not-sent' (a dry run without a canned answer)
      return new ProviderError('unavailable', `the vendor could not be reached: ${error.val}`);
  }
}

/** One authenticated request through `send` for operation `op`; returns {json, requestId} of a
 *  2xx answer. */
function call(send, op, method, path, body) {
  const s = settings();
  let auth;
  try {
    auth = basicAuthPlaceholder([{ tag: 'secret', val: SECRET_ID }], [{ tag: 'secret', val: SECRET_KEY }]);
  } catch (e) {
    const p = e?.payload ?? e;
    if (p?.tag === 'unknown-secret') {
      throw invalid(`secret \`${p.val}\` is not configured for this provider; add it under [providers.secrets]`);
    }
    throw new ProviderError('plugin-fault', `the credentials call failed: ${p?.val ?? p}`);
  }
  const sentId = requestId();
  const headers = [['authorization', `Basic ${auth}`], ['x-request-id', sentId]];
  if (body !== undefined) headers.push(['content-type', 'application/json']);
  const answer = send({
    method,
    url: normalizeUrl(`${s.base}${playersPath(s)}${path}`),
    headers,
    body: body === undefined ? new Uint8Array(0) : new TextEncoder().encode(JSON.stringify(body)),
    // A query may be repeated after a broken connection; a create, a delete or an update may
    // not (what Agora answers to a repeated update `sequence` is not documented).
    idempotent: method === 'GET',
  });
  if (answer.tag === 'err') throw transportError(answer.val);
  const response = answer.val;
  const responseHeaders = headerMap(response.headers);
  const text = new TextDecoder().decode(response.body);
  if (response.status < 200 || response.status > 299) {
    throw vendorError(response.status, responseHeaders, text, sentId, op);
  }
  let json;
  if (text.trim()) {
    try {
      json = JSON.parse(text);
    } catch {
      throw badResponse('the body is not JSON', vendorRequestId(responseHeaders, sentId));
    }
  }
  return { json, requestId: vendorRequestId(responseHeaders, sentId) };
}

// ---------------------------------------------------------------------------------------------
// Player states, as the List API and the notifications spell them

/** Agora's player status → the normalized state. `idle` (playback not started yet) and
 *  `success` (connected to the source, notifications only) are still `starting`. */
const STATES = new Map([
  ['idle', 'starting'],
  ['connecting', 'starting'],
  ['success', 'starting'],
  ['running', 'running'],
  ['stopped', 'stopped'],
  ['failed', 'failed'],
]);

const stateOf = (status) => STATES.get(status) ?? 'unknown';

// ---------------------------------------------------------------------------------------------
// Notifications: Agora's Notification Center Service (NCS) posting Media Pull events
//
// Body `{"noticeId", "productId", "eventType", "notifyMs", "payload"}`; header
// `Agora-Signature-V2` = lowercase hex HMAC-SHA256(notification secret, raw body) (Agora also
// sends `Agora-Signature`, the same over HMAC-SHA1; the plugin checks the SHA-256 one). The
// signature covers `notifyMs`, which Agora refreshes at every retry, so a notice sent more
// than MAX_NOTICE_AGE_SECS away from the gateway's clock is refused as stale or replayed.

/** Agora's product id of Media Pull ("cloud player") notices. */
const PRODUCT_MEDIA_PULL = 4;
/** Largest accepted difference between a notice's `notifyMs` and the gateway's clock, seconds
 *  (the window the other plugins use for callbacks). */
const MAX_NOTICE_AGE_SECS = 600;
/** Media Pull event types. */
const EVENT_CREATED = 1;
const EVENT_DESTROYED = 3;
const EVENT_STATUS = 4;
/** `destroyReason` → state: a delete or the end of the source is a normal stop; an idle
 *  timeout (the source never played) or an internal error (e.g. an invalid token) a failure.
 *  Another reason is `stopped` too: the player is gone either way. */
const DESTROY_STATES = new Map([
  ['Delete Request', 'stopped'],
  ['Stream Stopped', 'stopped'],
  ['Idle Timeout', 'failed'],
  ['Internal Error', 'failed'],
]);

const unauthenticated = (message) => new ProviderError('unauthenticated', message);

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** Whether two strings are equal, in time that depends on their lengths only. */
function sameText(a, b) {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

/** The first non-blank value of header `name` (case-insensitive), trimmed. */
function requestHeader(headers, name) {
  const want = name.toLowerCase();
  const found = headers.find(([k, v]) => k.toLowerCase() === want && v.trim());
  return found?.[1].trim();
}

/** Checks `Agora-Signature-V2` against the raw body and the provider's notification secret. */
function verifyNotice(req) {
  let mac;
  try {
    mac = hmac('sha256', [{ tag: 'secret', val: SECRET_NOTIFICATION }], [{ tag: 'bytes', val: req.body }]);
  } catch (e) {
    const p = e?.payload ?? e;
    if (p?.tag === 'unknown-secret') {
      throw new ProviderError('unsupported', `agora-js cannot verify Agora notifications without the secret \`${SECRET_NOTIFICATION}\` (the Secret Agora Console shows for the Notifications configuration); add \`${SECRET_NOTIFICATION} = { env = "…" }\` under [providers.secrets]`);
    }
    throw new ProviderError('plugin-fault', `the credentials call failed: ${p?.val ?? p}`);
  }
  const given = requestHeader(req.headers, 'agora-signature-v2');
  if (given === undefined) {
    throw unauthenticated('the notice is not signed: the `Agora-Signature-V2` header is missing; Agora Notifications sign notices with Agora-Signature-V2 = hex(HMAC-SHA256(secret, body))');
  }
  if (!sameText(hex(mac), given.toLowerCase())) {
    throw unauthenticated(`the notice's \`Agora-Signature-V2\` does not verify against the provider's \`${SECRET_NOTIFICATION}\`: it was not sent by Agora with this secret, or its body was altered`);
  }
}

/** A non-negative integer field (a JSON number or a string of digits), or undefined. */
function uintField(obj, key, what) {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^\d{1,16}$/.test(v.trim()) ? Number(v.trim()) : v;
  if (!Number.isSafeInteger(n) || n < 0) throw invalid(`the notice's \`${what}\` is not a non-negative integer`);
  return n;
}

const textField = (obj, key) => (typeof obj?.[key] === 'string' && obj[key] ? obj[key] : undefined);

/** Verifies and normalizes one notice. */
function parseNotice(req) {
  verifyNotice(req);
  let notice;
  try {
    notice = JSON.parse(new TextDecoder().decode(req.body));
  } catch {
    notice = undefined;
  }
  if (!notice || typeof notice !== 'object' || Array.isArray(notice)) {
    throw invalid('the notice body is not a JSON object (Agora Notifications: noticeId, productId, eventType, notifyMs, payload)');
  }
  const notifyMs = uintField(notice, 'notifyMs', 'notifyMs');
  if (notifyMs === undefined) {
    throw unauthenticated('the notice carries no `notifyMs`, so its age cannot be checked (a replayed notice could not be told from a new one)');
  }
  const ageSecs = Math.floor(Math.abs(Number(nowMs()) - notifyMs) / 1000);
  if (ageSecs > MAX_NOTICE_AGE_SECS) {
    throw unauthenticated(`the notice's \`notifyMs\` is ${ageSecs} s away from the gateway's clock (at most ${MAX_NOTICE_AGE_SECS} s accepted); it is stale or replayed, or a clock is wrong`);
  }
  const productId = uintField(notice, 'productId', 'productId');
  const eventType = uintField(notice, 'eventType', 'eventType');
  if (eventType === undefined) throw invalid('the notice has no `eventType`');
  const payload = notice.payload ?? {};
  if (typeof payload !== 'object' || Array.isArray(payload)) throw invalid("the notice's `payload` is not a JSON object");
  const appId = textField(notice, 'appId');
  const configured = (get('app_id') ?? '').trim();
  if (appId !== undefined && configured && appId !== configured) {
    throw invalid(`the notice is for App ID \`${appId}\`, not this provider's \`app_id\``);
  }
  const noticeId = textField(notice, 'noticeId');
  const about = noticeId === undefined ? '' : `; notice ${noticeId}`;
  const occurredAtMs = BigInt(uintField(payload, 'lts', 'payload.lts') ?? notifyMs);

  // Another product's notice (the same URL configured for several): verified, but nothing
  // this plugin can map.
  if (productId !== PRODUCT_MEDIA_PULL) {
    return {
      sessionRef: undefined,
      vendorTaskId: undefined,
      state: 'unknown',
      vendorEvent: `productId=${productId ?? 'none'} eventType=${eventType}`,
      detail: `not a Media Pull notice (productId ${PRODUCT_MEDIA_PULL})${about}`,
      occurredAtMs,
    };
  }

  const player = payload.player && typeof payload.player === 'object' && !Array.isArray(payload.player) ? payload.player : {};
  const id = textField(player, 'id');
  const channel = textField(player, 'channelName');
  const ref = id !== undefined && channel !== undefined ? sessionRef(id, channel) : undefined;
  const status = textField(player, 'status');
  const name = textField(player, 'name');
  const named = name === undefined ? '' : `; player ${name}`;
  let state;
  let vendorEvent = `eventType=${eventType}`;
  let detail;
  switch (eventType) {
    case EVENT_CREATED:
      state = status === undefined ? 'starting' : stateOf(status);
      detail = `player created${status === undefined ? '' : ` (${status})`}`;
      break;
    case EVENT_DESTROYED: {
      const reason = textField(payload, 'destroyReason');
      state = (reason !== undefined && DESTROY_STATES.get(reason)) || 'stopped';
      detail = `player destroyed${reason === undefined ? '' : `: ${reason}`}`;
      break;
    }
    case EVENT_STATUS:
      state = status === undefined ? 'unknown' : stateOf(status);
      vendorEvent = `eventType=${eventType} status=${status ?? 'none'}`;
      detail = `player status ${status ?? 'not given'}`;
      break;
    default:
      state = 'unknown';
      detail = `undocumented Media Pull eventType ${eventType}`;
  }
  return {
    sessionRef: ref !== undefined && utf8Length(ref) <= MAX_SESSION_REF ? ref : undefined,
    vendorTaskId: id,
    state,
    vendorEvent,
    detail: `${detail}${named}${about}`,
    occurredAtMs,
  };
}

// ---------------------------------------------------------------------------------------------
// The provider interface

/** Every secret the plugin can use (contract 0.2.2's `secret-catalog`); `describe` lists the
 * required ones. */
const SECRETS = [
  { name: SECRET_ID, required: true, description: 'The RESTful API Customer ID (HTTP Basic user), filled in by the host as the request leaves.' },
  { name: SECRET_KEY, required: true, description: 'The RESTful API Customer Secret (HTTP Basic password), filled in by the host as the request leaves.' },
  { name: SECRET_NOTIFICATION, required: false, description: 'The Agora Notifications secret, to verify Agora-Signature-V2 on Media Pull notices. Without it, callbacks answer 501; everything else works.' },
];

export const provider = {
  describe() {
    return {
      name: NAME,
      version: VERSION,
      vendor: 'Agora Media Pull',
      directions: ['pull-in'],
      operations: ['start', 'stop', 'status', 'update', 'parse-callback'],
      configKeys: [
        { name: 'app_id', required: true, description: 'The Agora project\'s App ID, in the request path.' },
        { name: 'region', required: false, description: 'Agora region code near the source, lowercase (`na`, `eu`, `ap`, `cn`). Default `na`.' },
        { name: 'user_id_as', required: false, description: 'How user_id joins the channel: "account" (default; Agora\'s String user account) or "uid" (its Number uid; user_id must then be 1..=4294967295 without leading zeros). options.user_id_as overrides it per start.' },
      ],
      secrets: SECRETS.filter((s) => s.required).map((s) => s.name),
      defaultHosts: ['api.agora.io:443'],
    };
  },

  start(req, answers) {
    return step(answers, (send) => {
      const body = startBody(req);
      const { json, requestId: rid } = call(send, 'start', 'POST', '', body);
      const id = json?.player?.id;
      if (typeof id !== 'string' || !id) throw badResponse('the answer carries no `player.id`', rid);
      const ref = sessionRef(id, body.player.channelName);
      if (utf8Length(ref) > MAX_SESSION_REF) throw badResponse(`a player id of ${id.length} characters`, rid);
      return { sessionRef: ref, vendorTaskId: id, issuedUrls: [], vendorRequestId: rid, expiresAt: undefined };
    });
  },

  stop(req, answers) {
    return step(answers, (send) => {
      const { id } = parseSessionRef(req.sessionRef);
      const { requestId: rid } = call(send, 'stop', 'DELETE', `/${encodeURIComponent(id)}`);
      return { vendorRequestId: rid };
    });
  },

  status(req, answers) {
    return step(answers, (send) => {
      const { id, channel } = parseSessionRef(req.sessionRef);
      const filter = encodeURIComponent(`channelName eq ${channel}`);
      const { json, requestId: rid } = call(send, 'status', 'GET', `?filter=${filter}`);
      if (!json || !Array.isArray(json.players)) throw badResponse('the answer carries no `players` list', rid);
      const player = json.players.find((p) => p && p.id === id);
      if (!player) {
        return { state: 'not-found', vendorState: undefined, detail: `no player ${id} in channel ${channel}`, vendorRequestId: rid };
      }
      const vendorState = typeof player.status === 'string' ? player.status : undefined;
      return {
        state: vendorState === undefined ? 'unknown' : stateOf(vendorState),
        vendorState,
        detail: player.name === undefined ? undefined : `player ${player.name}`,
        vendorRequestId: rid,
      };
    });
  },

  // A `result` export (no steps, no vendor request): the ok value is returned, the error
  // *thrown*.
  parseCallback(req) {
    return parseNotice(req);
  },
};

// The optional `updater` interface (world `adapter-plugin-with-update`): PATCH the player with
// only the fields that change. The player id and channel do not change, so the session
// reference stays.
export const updater = {
  update(req, answers) {
    return step(answers, (send) => {
      const { id } = parseSessionRef(req.sessionRef);
      const { body, sequence } = updateBody(req);
      const { requestId: rid } = call(send, 'update', 'PATCH', `/${encodeURIComponent(id)}?sequence=${sequence}`, body);
      return { sessionRef: undefined, vendorRequestId: rid };
    });
  },
};

// The optional `secret-catalog` interface (contract 0.2.2): every secret, required or optional.
export const secretCatalog = {
  secrets() {
    return SECRETS.map((s) => ({ ...s }));
  },
};
