// Builds src/plugin.js into a WebAssembly component that targets the Ingest Gateway's
// ingest:provider/adapter-plugin world:  node build.mjs [OUT.wasm]
//
// The contract is read from ./wit (what `ingest-gateway plugin new --lang js` writes), or
// from $INGEST_WIT, or from ../../wit (this template inside the gateway's repository).
import { componentize } from '@bytecodealliance/componentize-js';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const wit = process.env.INGEST_WIT ?? (existsSync(here('wit')) ? here('wit') : here('../../wit'));
const out = process.argv[2] ?? here('example_vendor.wasm');

const started = Date.now();
const { component } = await componentize({
  sourcePath: here('src/plugin.js'),
  witPath: wit,
  worldName: 'ingest:provider/adapter-plugin',
  // The world grants no HTTP, clock or randomness: a plugin returns its vendor requests as
  // values and takes time and nonces from ingest:provider/context. So the engine's `http`
  // (`fetch`), `fetch-event` (incoming HTTP), `clocks` (timers) and `random` are off; without
  // `random`, Math.random is deterministic. `stdio` stays: an uncaught exception's message
  // goes to stderr, which the gateway shows with the plugin-fault report.
  disableFeatures: ['http', 'fetch-event', 'clocks', 'random'],
});
await writeFile(out, component);
console.log(`wrote ${out} (${(component.length / 1048576).toFixed(1)} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
