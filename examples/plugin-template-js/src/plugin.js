// Ingest Gateway provider plugin for Example RTC, a fictitious vendor, in JavaScript.
// The Rust template (examples/plugin-template) implements the same vendor; both pass the same
// cases in cases/ (`ingest-gateway plugin test example_vendor.wasm --cases cases`).
//
// Contract ingest:provider@0.2.2: a plugin performs no I/O. `start`, `stop` and `status` get
// the operation's input and the vendor's answers so far, and return the next step: a vendor
// request to send (`{tag: 'send', val: request}`) or the result (`{tag: 'done', val: result}`).
// The host sends the request and calls the function again, on a fresh instance, with the
// answer appended. The clock, nonces, request id and placeholders are the same at every step,
// so the code below simply runs from the top each time: `send(request)` returns the answer
// when there is one, and otherwise ends the step with that request (see `step`).
//
// How the WIT contract looks from JavaScript (componentize-js):
// - imports are ES modules named after the interface: 'ingest:provider/credentials@0.2.2' …;
// - the exported `provider` interface is an object with camelCase functions;
// - records are objects with camelCase fields, enums are strings ('pull-in'), `option<T>` is
//   the value or `undefined`, `list<u8>` is a Uint8Array, `u64` is a BigInt, `u16`/`u32` are
//   numbers, a tuple is an array (`[name, value]`);
// - a variant or a `result` inside a value is `{tag, val}` (`{tag: 'ok', val}`,
//   `{tag: 'err', val}`, `{tag: 'send', val}`, `{tag: 'not-sent', val: 'why'}`);
// - an export whose return type *is* a `result` (`parseCallback`) returns the ok value and
//   *throws* the error value;
// - an import returning `result` throws on error (the error value is in `.payload`).

import { hmac, placeholder } from 'ingest:provider/credentials@0.2.2';
import { endpoint, get } from 'ingest:provider/config@0.2.2';
import { nowMs, nextNonce } from 'ingest:provider/context@0.2.2';

const NAME = 'example-vendor';
const VERSION = '0.1.0';
const DEFAULT_BASE = 'https://api.example-rtc.invalid';

/** A normalized provider error; thrown inside an operation, `step` returns it as `done(err(…))`. */
class ProviderError {
  constructor(kind, message, vendor = {}) {
    this.kind = kind;
    this.message = message;
    this.vendorCode = vendor.code;
    this.vendorMessage = vendor.message;
    this.vendorRequestId = vendor.requestId;
    this.retryable = vendor.retryable ?? ['rate-limited', 'unavailable', 'timeout'].includes(kind);
    this.retryAfterSecs = undefined;
  }
}

const secret = (name) => ({ tag: 'secret', val: name });
const text = (s) => ({ tag: 'text', val: s });
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** Host calls that return `result` throw; turn their error into a provider error. */
function host(what, f) {
  try {
    return f();
  } catch (e) {
    const p = e?.payload ?? e;
    if (p?.tag === 'unknown-secret') {
      throw new ProviderError('invalid-argument', `secret \`${p.val}\` is not configured for this provider`);
    }
    throw new ProviderError('plugin-fault', `${what} failed: ${p?.val ?? p}`);
  }
}

const KINDS = {
  1001: ['invalid-argument', false],
  1002: ['unauthenticated', false],
  1003: ['not-found', false],
  1004: ['rate-limited', true],
  1005: ['already-exists', false],
};

function readAnswer(status, bodyText) {
  let envelope;
  try {
    envelope = JSON.parse(bodyText);
  } catch {
    envelope = undefined;
  }
  if (!envelope || typeof envelope !== 'object' || !('code' in envelope)) {
    if (status === 429) throw new ProviderError('rate-limited', 'Example RTC answered HTTP 429');
    if (status >= 500) throw new ProviderError('unavailable', `Example RTC answered HTTP ${status}; retry later`);
    throw new ProviderError('vendor-internal', `the vendor's response could not be understood: HTTP ${status}`);
  }
  const requestId = typeof envelope.request_id === 'string' ? envelope.request_id : undefined;
  if (envelope.code === 0 && status >= 200 && status < 300) return { data: envelope.data ?? {}, requestId };
  const message = String(envelope.message ?? '');
  const [kind, retryable] = KINDS[envelope.code] ?? ['vendor-internal', false];
  throw new ProviderError(kind, `Example RTC refused the request: ${message} (code ${envelope.code})`, {
    code: String(envelope.code), message, requestId, retryable,
  });
}

// ---------------------------------------------------------------------------------------------
// Steps. Keep this helper as it is: it turns straight-line code that "sends" requests into the
// step the host expects.

/** Thrown by `send` when the answers are exhausted: the request to return as the next step. */
class Pending {
  constructor(request) {
    this.request = request;
  }
}

/** Runs `operation(send)` against the answers so far. The i-th `send(request)` returns the
 *  i-th answer (`{tag: 'ok', val: {status, headers, body}}` or `{tag: 'err', val: {tag, val}}`);
 *  the first request without an answer becomes the step `send(request)`. A returned value is
 *  `done(ok(value))`, a thrown ProviderError `done(err(error))`; anything else thrown is a bug
 *  and traps (the host reports a plugin fault, with the exception on the plugin's stderr). */
function step(answers, operation) {
  let next = 0;
  const send = (request) => {
    if (next < answers.length) return answers[next++];
    throw new Pending(request);
  };
  try {
    return { tag: 'done', val: { tag: 'ok', val: operation(send) } };
  } catch (e) {
    if (e instanceof Pending) return { tag: 'send', val: e.request };
    if (e instanceof ProviderError) return { tag: 'done', val: { tag: 'err', val: e } };
    throw e;
  }
}

/** A transport failure (the host got no response) as a provider error. */
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

/** One signed request; the time and nonce come from the host, so every step (and every dry
 *  run) builds the same bytes. */
function call(send, method, path, body) {
  const base = (endpoint() ?? DEFAULT_BASE).replace(/\/$/, '');
  const payload = body === undefined ? '' : JSON.stringify(body);
  const timestamp = nowMs() / 1000n;
  const nonce = nextNonce();
  const signature = host('signing', () =>
    hmac('sha256', [secret('api_secret')], [text(`${method}\n${path}\n${timestamp}\n${nonce}\n${payload}`)]));
  const keyId = host('placeholder', () => placeholder([secret('api_key_id')]));
  const answer = send({
    method,
    url: `${base}${path}`,
    headers: [
      ['content-type', 'application/json'],
      ['x-api-key', keyId],
      ['x-timestamp', String(timestamp)],
      ['x-nonce', nonce],
      ['x-signature', hex(signature)],
    ],
    // The host sets content-length itself.
    body: method === 'GET' || method === 'DELETE' ? new Uint8Array(0) : new TextEncoder().encode(payload),
    // May the host repeat it after a connection failure? Only a query.
    idempotent: method === 'GET',
  });
  if (answer.tag === 'err') throw transportError(answer.val);
  return readAnswer(answer.val.status, new TextDecoder().decode(answer.val.body));
}

function appPath() {
  const app = get('app_id');
  if (!app) throw new ProviderError('invalid-argument', 'provider config key `app_id` is not set');
  return `/v1/apps/${app}/relays`;
}

function relayId(ref) {
  if (!/^[A-Za-z0-9_-]+$/.test(ref)) throw new ProviderError('invalid-argument', 'the session reference is not an Example RTC relay id');
  return ref;
}

const STATES = { starting: 'starting', running: 'running', stopped: 'stopped', failed: 'failed' };

export const provider = {
  describe() {
    return {
      name: NAME,
      version: VERSION,
      vendor: 'Example RTC (fictitious)',
      directions: ['pull-in'],
      operations: ['start', 'stop', 'status', 'parse-callback'],
      configKeys: [{ name: 'app_id', required: true, description: 'The Example RTC application id, e.g. `app-123`.' }],
      secrets: ['api_key_id', 'api_secret'],
      defaultHosts: ['api.example-rtc.invalid:443'],
    };
  },

  start(req, answers) {
    return step(answers, (send) => {
      if (req.direction !== 'pull-in') throw new ProviderError('unsupported', 'example-vendor supports only direction `pull-in`');
      if (!req.roomId.trim()) throw new ProviderError('invalid-argument', '`room_id` must not be empty');
      const source = (req.streamUrl ?? '').trim();
      if (!source.startsWith('rtmp://') && !source.startsWith('https://')) {
        throw new ProviderError('invalid-argument', '`stream_url` is required for pull-in and must start with rtmp:// or https://');
      }
      const options = JSON.parse(req.optionsJson || '{}');
      const body = { room_id: req.roomId, user_id: req.userId, source_url: source };
      if (options.volume !== undefined) {
        if (!Number.isInteger(options.volume) || options.volume < 0 || options.volume > 100) {
          throw new ProviderError('invalid-argument', '`options.volume` must be an integer between 0 and 100');
        }
        body.volume = options.volume;
      }
      if (req.callbackUrl) body.callback_url = req.callbackUrl;
      const { data, requestId } = call(send, 'POST', appPath(), body);
      if (typeof data.relay_id !== 'string' || !/^[A-Za-z0-9_-]+$/.test(data.relay_id)) {
        throw new ProviderError('vendor-internal', "the vendor's response could not be understood: no valid `relay_id`");
      }
      return { sessionRef: data.relay_id, vendorTaskId: data.relay_id, issuedUrls: [], vendorRequestId: requestId, expiresAt: undefined };
    });
  },

  stop(req, answers) {
    return step(answers, (send) => {
      const { requestId } = call(send, 'DELETE', `${appPath()}/${relayId(req.sessionRef)}`);
      return { vendorRequestId: requestId };
    });
  },

  status(req, answers) {
    return step(answers, (send) => {
      try {
        const { data, requestId } = call(send, 'GET', `${appPath()}/${relayId(req.sessionRef)}`);
        const vendorState = String(data.state ?? '');
        return { state: STATES[vendorState] ?? 'unknown', vendorState, detail: data.reason, vendorRequestId: requestId };
      } catch (e) {
        // Catch only what you handle and rethrow the rest: that includes `step`'s marker.
        if (e instanceof ProviderError && e.kind === 'not-found') {
          return { state: 'not-found', vendorState: undefined, detail: e.message, vendorRequestId: e.vendorRequestId };
        }
        throw e;
      }
    });
  },

  // Makes no vendor requests, so no steps: its return type is a `result`, so the ok value is
  // returned and the error thrown.
  parseCallback(req) {
    const presented = (req.headers.find(([k]) => k.toLowerCase() === 'x-signature')?.[1] ?? '').toLowerCase();
    const expected = hex(host('signing', () => hmac('sha256', [secret('api_secret')], [{ tag: 'bytes', val: req.body }])));
    let diff = presented.length ^ expected.length;
    for (let i = 0; i < Math.min(presented.length, expected.length); i++) diff |= presented.charCodeAt(i) ^ expected.charCodeAt(i);
    if (diff !== 0) throw new ProviderError('unauthenticated', "the callback's X-Signature does not verify");
    let event;
    try {
      event = JSON.parse(new TextDecoder().decode(req.body));
    } catch (e) {
      throw new ProviderError('invalid-argument', `the callback body is not JSON: ${e}`);
    }
    const vendorState = String(event.state ?? '');
    return {
      sessionRef: event.relay_id,
      vendorTaskId: event.relay_id,
      state: STATES[vendorState] ?? 'unknown',
      vendorEvent: String(event.event ?? vendorState),
      detail: event.reason,
      occurredAtMs: Number.isSafeInteger(event.ts_ms) ? BigInt(event.ts_ms) : undefined,
    };
  },
};
