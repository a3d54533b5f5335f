// `npm run demo` is the README's first command: it must keep working, with the example's
// exact topology, and exit 0.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { withFixedPorts } from '../helpers/fixed-ports.ts';

const DEMO = fileURLToPath(new URL('../../examples/static/demo.ts', import.meta.url));

test('the demo routes canary, api and web traffic as the example says, absorbs a killed endpoint, then exits 0', { timeout: 400_000 }, async () => {
  // The example's fixed ports: one test at a time binds them (the README's quick start runs this demo too).
  const r = await withFixedPorts(() => spawnSync(process.execPath, [DEMO], { encoding: 'utf8', timeout: 60_000 }));
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /GET \/api\/users \(x-canary: 1\)\s+-> 200\s+api-canary/);
  assert.match(r.stdout, /GET \/index\.html \(x-canary: 1\)\s+-> 200\s+api-canary/);
  assert.match(r.stdout, /GET \/index\.html\s+-> 200\s+web/);
  assert.match(r.stdout, /GET \/apiary\s+-> 200\s+web/);
  const api = [...r.stdout.matchAll(/GET \/api\/\w+\s+-> 200\s+(api-[12])\n/g)].map((m) => m[1]);
  assert.deepEqual(api.sort(), ['api-1', 'api-1', 'api-2', 'api-2'], 'round robin over both api endpoints');
  assert.match(r.stdout, /api\s+127\.0\.0\.1:18001\s+healthy\s+2/);
  // The fault: api-2 killed mid-traffic, absorbed, and shown ejected.
  assert.match(r.stdout, /sent 600, answered 200: 600, failed: 0/);
  assert.match(r.stdout, /api\s+127\.0\.0\.1:18002\s+unhealthy\s+\d+\s+ejected: 5 consecutive/);
  assert.match(r.stdout, /all requests answered/);
});
