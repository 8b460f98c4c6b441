"""What the JavaScript plugin (plugins/agora-js) gets from its engine, in Python, so that this
plugin builds the same bytes: JSON text as `JSON.stringify` writes it, `String(value)`,
`String.prototype.trim`, `encodeURIComponent`, UTF-16 lengths and the WHATWG URL
serialization of the URLs this plugin builds.

Everything here is imported at module top level (the component holds a snapshot taken after
the import; no module is imported at run time).
"""

import json
import re
from decimal import Decimal
from urllib.parse import quote

#: Largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
MAX_SAFE_INTEGER = 2**53 - 1

#: What `String.prototype.trim` removes: ECMAScript's WhiteSpace and LineTerminator.
WS = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


def trim(text):
    """`text.trim()`."""
    return text.strip(WS)


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def parse(text):
    """`JSON.parse(text)`: as `json.loads`, without Python's `NaN` and `Infinity` literals."""
    return json.loads(text, parse_constant=_no_constant)


def is_number(value):
    """`typeof value === 'number'` for a value from `json.loads`."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def safe_integer(value):
    """The value as an `int` when JavaScript's `Number.isSafeInteger` holds for it (a JSON
    `5.0` is the number 5 there), else `None`."""
    if not is_number(value):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    return value if abs(value) <= MAX_SAFE_INTEGER else None


def number(value):
    """`String(n)` of a JSON number as JavaScript holds it (a double)."""
    if isinstance(value, int) and abs(value) <= MAX_SAFE_INTEGER:
        return str(value)
    f = float(value)
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "Infinity" if f > 0 else "-Infinity"
    if f == 0:
        return "0"
    if 1e-6 <= abs(f) < 1e21:
        text = format(Decimal(repr(f)), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    # Exponent form: shortest digits, `e+21` / `e-7` (no zero padding).
    mantissa, exponent = repr(f).split("e")
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"


def string(value):
    """`String(value)` of a value from `json.loads` (`null` → "null", an object →
    "[object Object]", an array → its elements joined with `,`)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return number(value)
    if isinstance(value, list):
        return ",".join("" if v is None else string(v) for v in value)
    return "[object Object]"


def truthy(value):
    """JavaScript's truthiness of a value from `json.loads`."""
    if isinstance(value, float) and value != value:
        return False
    return bool(value) if not isinstance(value, (dict, list)) else True


def _is_array_index(key):
    return bool(_ARRAY_INDEX.fullmatch(key)) and int(key) < 2**32 - 1


def keys(obj):
    """`Object.keys(obj)`: array-index keys first, ascending, then the rest in insertion order."""
    indexes = sorted((k for k in obj if _is_array_index(k)), key=int)
    return indexes + [k for k in obj if not _is_array_index(k)]


def quoted(text):
    """A JSON string literal as `JSON.stringify` writes it (lone surrogates as `\\udXXX`)."""
    out = json.dumps(text, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", out)


def stringify(value):
    """`JSON.stringify(value)` of a value from `json.loads` or built here."""
    if isinstance(value, str):
        return quoted(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        text = number(value)
        return "null" if text in ("NaN", "Infinity", "-Infinity") else text
    if isinstance(value, list):
        return "[" + ",".join(stringify(v) for v in value) + "]"
    return "{" + ",".join(f"{quoted(k)}:{stringify(value[k])}" for k in keys(value)) + "}"


def utf8_length(text):
    """`new TextEncoder().encode(text).length` (a lone surrogate encodes as U+FFFD, 3 bytes)."""
    return len(text.encode("utf-8", "surrogatepass"))


def utf16_length(text):
    """`text.length`: UTF-16 code units."""
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def utf16_prefix(text, units):
    """`text.slice(0, units)` (a pair cut in half keeps its lone first half)."""
    out = []
    for c in text:
        width = 2 if ord(c) > 0xFFFF else 1
        if units <= 0:
            break
        if width > units:
            out.append(chr(0xD800 + ((ord(c) - 0x10000) >> 10)))
            break
        out.append(c)
        units -= width
    return "".join(out)


def encode_uri_component(text):
    """`encodeURIComponent(text)`."""
    return quote(text, safe="-_.!~*'()", encoding="utf-8", errors="strict")


_DEFAULT_PORTS = {"http": "80", "https": "443"}
_URL = re.compile(r"((?i:https?))://([^/?#:]+|\[[^\]]*\])(?::([0-9]*))?([/?#].*)?", re.DOTALL)


def normalize_url(url):
    """`new URL(url).href` for the URLs this plugin builds (a checked base, a path and query
    already percent-encoded): scheme and host lower-cased, the scheme's default port dropped,
    leading zeros of the port dropped, an empty path written `/`. A URL it cannot read is
    returned as it is (the host's egress policy refuses it, with its reason)."""
    m = _URL.fullmatch(url)
    if not m:
        return url
    scheme, host, port, rest = m.group(1).lower(), m.group(2).lower(), m.group(3), m.group(4) or "/"
    if port:
        if int(port) > 65535:
            return url
        port = str(int(port))
    if port and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    if not rest.startswith("/"):
        rest = "/" + rest
    return f"{scheme}://{host}{rest}"
