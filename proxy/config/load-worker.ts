// The child side of isolated-load.ts: load and validate FILE, print the result as JSON.
// usage: node load-worker.ts FILE OPTIONS_JSON

import { loadStaticConfig } from './load-static.ts';

const [file, opts] = process.argv.slice(2);
process.stdout.write(JSON.stringify(await loadStaticConfig(file, JSON.parse(opts ?? '{}'))));
