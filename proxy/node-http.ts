// node:http, loaded with require. An ESM `import ... from 'node:http'` builds a namespace of
// every export, which runs node:http's lazy getters (WebSocket and friends) and so loads
// Node's bundled undici and web streams: ~13 MiB of heap a sidecar never uses.

import { createRequire } from 'node:module';

export const http: typeof import('node:http') = createRequire(import.meta.url)('node:http');
