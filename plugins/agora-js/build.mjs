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
  worldName: 'ingest:provider/adapter-plugin',
  // `random`: off, so nothing in the engine is random (the plugin takes what must vary from
  // the host's context interface) and dry runs stay byte-identical. `fetch-event`: a provider
  // serves no incoming HTTP. `fetch` itself stays: it runs over the world's
  // wasi:http/outgoing-handler, through the host's egress policy.
  disableFeatures: ['random', 'fetch-event'],
});
await mkdir(outDir, { recursive: true });
// Written next to its final name, then renamed: a test build never sees half a file.
await writeFile(`${out}.tmp`, component);
await rename(`${out}.tmp`, out);
console.log(`agora-js: wrote ${out} (${(component.length / 1048576).toFixed(1)} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
