// The bench's reading of wrk's report (wrk.ts): units, errors, and a report it cannot read.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWrk } from './wrk.ts';

const REPORT = `Running 10s test @ http://127.0.0.1:41000/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  300.00us  30.00ms   90.00%
    Req/Sec    12.34k     1.00k   14.00k    70.00%
  Latency Distribution
     50%  850.00us
     75%    1.20ms
     90%    2.00ms
     99%    1.05s
  123456 requests in 10.00s, 140.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  12345.60
Transfer/sec:     14.00MB
`;

test('wrk 4.1 report: rate, percentiles in ms whatever the unit, requests, and errors of both kinds', () => {
  assert.deepEqual(parseWrk(REPORT), { rps: 12345.6, p50: 0.85, p99: 1050, requests: 123456, errors: 7 });
});

test('a report without socket errors or non-2xx lines has no errors', () => {
  const clean = REPORT.split('\n').filter((l) => !/Socket errors|Non-2xx/.test(l)).join('\n');
  assert.equal(parseWrk(clean).errors, 0);
});

test('a report missing a percentile is refused, naming what is missing', () => {
  assert.throws(() => parseWrk(REPORT.replace(/^\s*99%.*$/m, '')), /no 99% latency/);
});
