"""A Python provider plugin that misbehaves on purpose, chosen by its `mode` config key: the
test suite shows the host contains each case as it does for the Rust guest
(tests/guests/hostile). Never shipped; built by scripts/build-py-plugins as
`test_hostile_py.wasm`.

| mode | what `start` does |
|---|---|
| `ok` (default) | succeeds with session reference `ok` |
| `loop` | spins forever |
| `memory` | allocates 1 MiB buffers until the memory cap |
| `exception` | raises an exception nobody catches |
| `abort` | calls `os.abort()` (a trap) |
| `socket` | opens a TCP connection to `target` (`host:port`) with the standard library; fails with what it answered |
| `steps` | asks the host to GET `target` (a URL), then succeeds with session reference `calls-N`: N is how many times `start` ran in this instance (1 on a fresh instance per step, 2 on one held for the call) |
"""

import os
import socket

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.exports import provider
from wit_world.imports import config, types
from wit_world.imports.types import ConfigKey, Direction, ErrorKind, Operation, ProviderInfo, Session


def error(message):
    return types.ProviderError(ErrorKind.VENDOR_INTERNAL, message, None, None, None, False, None)


def attempt(what, f):
    """What the sandbox answered `f()`, whatever it raised."""
    try:
        f()
        return f"{what}: done"
    except Exception as e:
        return f"{what}: {type(e).__name__}: {e}"


def connect(host, port):
    """A TCP connection to `host:port` (an address, no lookup) and a name lookup."""

    def tcp():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1)
        s.connect((host, port))
        s.close()

    return "; ".join([attempt("tcp", tcp), attempt("lookup", lambda: socket.getaddrinfo(b"localhost", 80))])


#: How many times `start` ran in this instance (module state: it lives as long as the instance).
STARTS = [0]


def steps(answers):
    """One vendor request, then the count of `start` runs this instance saw."""
    STARTS[0] += 1
    if not answers:
        request = types.VendorRequest("GET", config.get("target") or "", [], b"", True)
        return provider.StartStep_Send(request)
    return provider.StartStep_Done(Ok(Session(f"calls-{STARTS[0]}", None, [], None, None)))


def misbehave(mode):
    if mode == "loop":
        x = 0
        while True:
            x += 1
    if mode == "memory":
        hoard = []
        while True:
            hoard.append(bytearray(1 << 20))
    if mode == "exception":
        raise RuntimeError("the hostile Python plugin raises on purpose")
    if mode == "abort":
        os.abort()
    if mode == "socket":
        host, _, port = (config.get("target") or "").rpartition(":")
        return provider.StartStep_Done(Err(error(f"socket: {connect(host, int(port or '0'))}")))
    return provider.StartStep_Done(Ok(Session("ok", None, [], None, None)))


class Provider(exports.Provider):
    def describe(self):
        return ProviderInfo(
            name="test-hostile-py",
            version="0.1.0",
            vendor="misbehaving test plugin (Python)",
            directions=[Direction.PULL_IN],
            operations=[Operation.START],
            config_keys=[
                ConfigKey("mode", False, "how to misbehave"),
                ConfigKey("target", False, "host:port for the socket mode"),
            ],
            secrets=[],
            default_hosts=[],
        )

    def start(self, request, answers):
        mode = config.get("mode") or "ok"
        return steps(answers) if mode == "steps" else misbehave(mode)

    def stop(self, request, answers):
        return provider.StopStep_Done(Err(error("unsupported")))

    def status(self, request, answers):
        return provider.StatusStep_Done(Err(error("unsupported")))

    def parse_callback(self, request):
        raise Err(error("unsupported"))
