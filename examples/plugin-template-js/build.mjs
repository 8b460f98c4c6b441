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
  // `random`: without it Math.random is deterministic (plugins take nonces from the host);
  // `fetch-event`: a plugin serves no incoming HTTP. Outbound `fetch` stays: it rides on the
  // world's wasi:http/outgoing-handler, where the host applies its egress policy.
  disableFeatures: ['random', 'fetch-event'],
});
await writeFile(out, component);
console.log(`wrote ${out} (${(component.length / 1048576).toFixed(1)} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
