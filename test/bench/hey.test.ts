// The bench's reading of hey's CSV (hey.ts): latencies in ms, ascending; non-2xx counted;
// a CSV it cannot read refused; nearest-rank percentiles.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHeyCsv, percentile } from './hey.ts';

const CSV = `response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
0.0067,0.0023,0.0000,0.0017,0.0024,0.0004,200,0.0380
0.0004,0.0000,0.0000,0.0000,0.0003,0.0000,200,0.0412
0.0120,0.0000,0.0000,0.0001,0.0110,0.0001,503,0.0500
0.0013,0.0000,0.0000,0.0000,0.0012,0.0000,204,2.0053
`;

test('hey 0.1 CSV: every latency in ms, ascending, and the answers outside 2xx', () => {
  const r = parseHeyCsv(CSV);
  assert.deepEqual(r.latencies.map((x) => Math.round(x * 10) / 10), [0.4, 1.3, 6.7, 12]);
  assert.equal(r.non2xx, 1);
});

test('a CSV without its header, or with a line that is not a request, is refused, saying where', () => {
  assert.throws(() => parseHeyCsv(CSV.split('\n').slice(1).join('\n')), /no response-time and status-code columns/);
  assert.throws(() => parseHeyCsv(CSV.replace('0.0004,0.0000', 'Get "http://x": EOF')), /line 3 is not a request/);
  assert.deepEqual(parseHeyCsv(CSV.split('\n')[0]), { latencies: [], non2xx: 0 });
});

test('nearest-rank percentiles: p50, p99 and p99.9 of 1 000 values, the ends, and none', () => {
  const values = Array.from({ length: 1000 }, (_, i) => i + 1);
  assert.equal(percentile(values, 50), 500);
  assert.equal(percentile(values, 99), 990);
  assert.equal(percentile(values, 99.9), 999);
  assert.equal(percentile(values, 100), 1000);
  assert.equal(percentile(values, 0), 1);
  assert.equal(percentile([7], 99.9), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});
