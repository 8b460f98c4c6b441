// Builds src/plugin.js into the component `agora_js.wasm`:  node build.mjs [OUT_DIR]
//
// OUT_DIR defaults to ../../target/plugins/wasm32-wasip2/plugin, where the Rust plugins land
// (so the test suite's `ingest_sim::artifacts::plugin("agora-js")` finds it). The contract is
// read from the repository's wit/ (or $INGEST_WIT). Nothing is downloaded here: `npm ci` has
// already installed the pinned @bytecodealliance/componentize-js.
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const wit = process.env.INGEST_WIT ?? here('../../wit');
const outDir = process.argv[2] ?? here('../../target/plugins/wasm32-wasip2/plugin');
const out = join(outDir, 'agora_js.wasm');

const started = Date.now();
const { component } = await componentize({
  sourcePath: here('src/plugin.js'),
  witPath: wit,
  worldName: 'ingest:provider/adapter-plugin-with-update',
  // The world grants no HTTP, clock or randomness: vendor requests are values the plugin
  // returns, time and nonces come from the host's context interface. So the engine's `http`
  // (the `fetch` global over wasi:http), `fetch-event` (incoming HTTP), `clocks` (timers,
  // wasi:clocks/monotonic-clock) and `random` are off: nothing in the engine varies between
  // runs, and dry runs stay byte-identical. `stdio` stays: an uncaught exception's message and
  // stack go to stderr, which the host keeps with the plugin-fault report.
  disableFeatures: ['http', 'fetch-event', 'clocks', 'random'],
});
await mkdir(outDir, { recursive: true });
// Written next to its final name, then renamed: a test build never sees half a file.
await writeFile(`${out}.tmp`, component);
await rename(`${out}.tmp`, out);
console.log(`agora-js: wrote ${out} (${(component.length / 1048576).toFixed(1)} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
