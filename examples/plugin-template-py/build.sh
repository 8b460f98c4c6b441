#!/bin/sh
# Builds app.py into a WebAssembly component that targets the Ingest Gateway's
# ingest:provider/adapter-plugin world:  ./build.sh [OUT.wasm]
#
# The contract is read from ./wit (what `ingest-gateway plugin new --lang python` writes), or
# from $INGEST_WIT, or from ../../wit (this template inside the gateway's repository).
# componentize-py is the version requirements.txt pins: the one on PATH when it is that
# version, else installed into ./.venv on first use.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${INGEST_WIT:-}" ]; then wit=$INGEST_WIT
elif [ -d "$here/wit" ]; then wit=$here/wit
else wit=$here/../../wit
fi
out=${1:-$here/example_vendor.wasm}

pin=$(sed -n 's/^componentize-py==//p' "$here/requirements.txt")
if command -v componentize-py >/dev/null 2>&1 \
  && [ "$(componentize-py --version 2>/dev/null)" = "componentize-py $pin" ]; then
  cpy=componentize-py
else
  if [ ! -x "$here/.venv/bin/componentize-py" ]; then
    echo "installing componentize-py $pin into $here/.venv"
    python3 -m venv "$here/.venv"
    "$here/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  fi
  cpy=$here/.venv/bin/componentize-py
fi

start=$(date +%s)
# A plain build (not --stub-wasi): an uncaught exception's traceback reaches the plugin's
# stderr, which the gateway shows with the plugin-fault report. Its wasi:sockets import (from
# CPython's C library) is linked by the gateway with every use refused.
(cd "$here" && "$cpy" -d "$wit" -w ingest:provider/adapter-plugin componentize app -o "$out" >/dev/null)
size=$(wc -c < "$out")
echo "wrote $out ($((size / 1048576)) MiB) in $(( $(date +%s) - start )) s"
