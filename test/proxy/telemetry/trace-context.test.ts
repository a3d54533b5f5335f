// The trace headers a proxy reads and writes (proxy/telemetry/trace-context.ts): W3C Trace
// Context and B3, single and multi header, as their specs say; what is invalid is no trace.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readTraceContext, writeTraceContext } from '../../../proxy/telemetry/trace-context.ts';
import type { HeaderMap } from '../../../proxy/http/context.ts';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

test('traceparent: version 00 with its four fields, flags bit 0 the sampled decision, tracestate kept whole', () => {
  assert.deepEqual(readTraceContext({ traceparent: `00-${T}-${S}-01`, tracestate: ['a=1', 'b=2'] }), { traceId: T, spanId: S, sampled: true, traceState: 'a=1,b=2', b3: 'none' });
  assert.equal(readTraceContext({ traceparent: `00-${T}-${S}-00` })?.sampled, false);
  // A later version may add fields; version ff, all-zero ids, upper-case hex and extra fields on 00 are invalid.
  assert.equal(readTraceContext({ traceparent: `01-${T}-${S}-01-extra` })?.traceId, T);
  for (const bad of [`ff-${T}-${S}-01`, `00-${'0'.repeat(32)}-${S}-01`, `00-${T}-${'0'.repeat(16)}-01`, `00-${T.toUpperCase()}-${S}-01`, `00-${T}-${S}-01-x`, `00-${T}-${S}`]) {
    assert.equal(readTraceContext({ traceparent: bad }), null, bad);
  }
});

test('b3 single: trace-span[-sampled[-parent]], a 64-bit trace id padded, "d" is sampled, a bare "0" carries no ids', () => {
  assert.deepEqual(readTraceContext({ b3: `${T}-${S}-1-${'1'.repeat(16)}` }), { traceId: T, spanId: S, sampled: true, traceState: '', b3: 'single' });
  assert.equal(readTraceContext({ b3: `${S}-${S}-0` })?.traceId, `${'0'.repeat(16)}${S}`);
  assert.equal(readTraceContext({ b3: `${T}-${S}-0` })?.sampled, false);
  assert.equal(readTraceContext({ b3: `${T}-${S}-d` })?.sampled, true);
  assert.equal(readTraceContext({ b3: `${T}-${S}` })?.sampled, true);
  assert.equal(readTraceContext({ b3: '0' }), null);
});

test('b3 multi: X-B3-TraceId and X-B3-SpanId, X-B3-Sampled 1 or true, X-B3-Flags 1 (debug) is sampled', () => {
  assert.deepEqual(readTraceContext({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': '0' }), { traceId: T, spanId: S, sampled: false, traceState: '', b3: 'multi' });
  assert.equal(readTraceContext({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-flags': '1', 'x-b3-sampled': '0' })?.sampled, true);
  assert.equal(readTraceContext({ 'x-b3-traceid': T, 'x-b3-spanid': 'xyz' }), null);
});

test('traceparent wins over B3, but the B3 form the caller used is written back too', () => {
  const h: HeaderMap = { traceparent: `00-${T}-${S}-01`, 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-flags': '1' };
  const incoming = readTraceContext(h);
  assert.equal(incoming?.b3, 'multi');
  writeTraceContext(h, T, 'a'.repeat(16), true, incoming);
  assert.deepEqual(h, { traceparent: `00-${T}-${'a'.repeat(16)}-01`, 'x-b3-traceid': T, 'x-b3-spanid': 'a'.repeat(16), 'x-b3-parentspanid': S, 'x-b3-sampled': '1' });
  const single: HeaderMap = { b3: `${T}-${S}-1`, tracestate: 'v=1' };
  writeTraceContext(single, T, 'b'.repeat(16), false, readTraceContext(single));
  assert.deepEqual(single, { traceparent: `00-${T}-${'b'.repeat(16)}-00`, b3: `${T}-${'b'.repeat(16)}-0-${S}`, tracestate: 'v=1' });
  const none: HeaderMap = {};
  writeTraceContext(none, T, S, true, null);
  assert.deepEqual(none, { traceparent: `00-${T}-${S}-01` });
});
