// An upstream whose answer is not valid HTTP: the client gets 502 with x-sluice-details
// upstream_protocol_error (RFC 9110 §15.6.3), the access log says UPE, and the request is
// tried once: no retry condition covers it, so the upstream sees exactly one request. The
// upstreams here are raw sockets writing bytes no HTTP library would produce.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { DEFAULT_RETRY } from '../../kinds/resilience-defaults.ts';
import { failureCovered } from '../../proxy/upstream/resilience/attempts.ts';
import { Flags, frame, FrameType, PREFACE } from '../helpers/h2-frames.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { waitFor } from '../helpers/wait.ts';

const GOOD = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

/** What the HTTP/1 upstream writes (then closes) for each /h1/<name>. */
const H1_CASES: Record<string, string> = {
  'a status line with letters for digits': 'HTTP/1.1 2OO OK\r\ncontent-length: 0\r\n\r\n',
  'bytes that are not HTTP at all': 'hello, this is not HTTP\r\n\r\n',
  'a NUL in a header value': 'HTTP/1.1 200 OK\r\nx-a: a\0b\r\ncontent-length: 0\r\n\r\n',
  'Content-Length with Transfer-Encoding': 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
  'two different Content-Lengths': 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!',
  'a 100 KiB header': `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(100 * 1024)}\r\ncontent-length: 0\r\n\r\n`,
  'an obs-folded header': 'HTTP/1.1 200 OK\r\nx-a: b\r\n c\r\ncontent-length: 0\r\n\r\n',
  'a 101 to a request that asked for no upgrade': 'HTTP/1.1 101 Switching Protocols\r\nupgrade: foo\r\nconnection: upgrade\r\n\r\n',
};

/** HPACK: a literal field with a new name, no indexing (short strings only). */
const field = (name: string, value: string) => Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
const STATUS_200 = Buffer.from([0x88]); // static table entry 8

/** The first response of each HTTP/2 upstream: a header block our HTTP/2 client must refuse. */
const H2_CASES: Record<string, Buffer> = {
  'an invalid :status': field(':status', '2OO'),
  'no :status': field('x-a', 'b'),
  'a connection-specific header': Buffer.concat([STATUS_200, field('connection', 'close')]),
  'an upper-case header name': Buffer.concat([STATUS_200, field('X-Up', 'a')]),
  'a pseudo-header after a regular one': Buffer.concat([field('x-a', 'b'), STATUS_200]),
  'a header block that is not HPACK': Buffer.from([0xff, 0x7f]),
};

const slug = (what: string) => what.replace(/[^a-z0-9]+/gi, '-').toLowerCase();

type H2Upstream = { server: net.Server; port: number; requests: number };

/**
 * h2c with prior knowledge on a raw socket: the first request on it gets `bad` as its
 * response header block, every later one a plain 200.
 */
async function startRawH2(bad: Buffer): Promise<H2Upstream> {
  const up: H2Upstream = { server: net.createServer(), port: 0, requests: 0 };
  up.server.on('connection', (s) => {
    s.on('error', () => {});
    s.write(frame(FrameType.SETTINGS, 0, 0));
    let buf = Buffer.alloc(0);
    let prefaceSeen = false;
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!prefaceSeen) {
        if (buf.length < PREFACE.length) return;
        buf = buf.subarray(PREFACE.length);
        prefaceSeen = true;
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) return;
        const type = buf[3];
        const flags = buf[4];
        const streamId = buf.readUInt32BE(5) & 0x7fffffff;
        buf = buf.subarray(9 + len);
        if (type === FrameType.SETTINGS && (flags & Flags.ACK) === 0) s.write(frame(FrameType.SETTINGS, Flags.ACK, 0));
        if (type === FrameType.HEADERS) {
          up.requests++;
          const block = up.requests === 1 ? bad : STATUS_200;
          s.write(frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, streamId, block));
        }
      }
    });
  });
  await new Promise<void>((r) => up.server.listen(0, '127.0.0.1', r));
  up.port = (up.server.address() as net.AddressInfo).port;
  return up;
}

describe('an upstream answer that is not valid HTTP', () => {
  let proxy: ProxyProcess;
  let h1: net.Server;
  /** Requests the HTTP/1 upstream received, by path. */
  const seen = new Map<string, number>();
  const h2: Record<string, H2Upstream> = {};

  before(async () => {
    const badByPath = new Map(Object.entries(H1_CASES).map(([what, bytes]) => [`/h1/${slug(what)}`, bytes]));
    badByPath.set('/h1/status-600', 'HTTP/1.1 600 Nope\r\ncontent-length: 0\r\n\r\n');
    // Reads request heads (no bodies here); answers a bad path with its bytes and closes,
    // anything else with a keep-alive 200.
    h1 = net.createServer((s) => {
      s.on('error', () => {});
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        for (let end; (end = buf.indexOf('\r\n\r\n')) !== -1; ) {
          const path = buf.slice(0, buf.indexOf('\r\n')).split(' ')[1];
          buf = buf.slice(end + 4);
          seen.set(path, (seen.get(path) ?? 0) + 1);
          const bad = badByPath.get(path);
          if (bad === undefined) s.write(GOOD);
          else s.end(bad);
        }
      });
    });
    await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
    for (const [what, block] of Object.entries(H2_CASES)) h2[slug(what)] = await startRawH2(block);

    const h2Names = Object.keys(h2);
    proxy = await startProxy(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes:
  - name: r
    rules:
${h2Names.map((n) => `      - { matches: [{ path: { type: PathPrefix, value: /h2/${n} } }], backendRefs: [{ name: h2-${n} }] }`).join('\n')}
      - { backendRefs: [{ name: h1 }] }
backends:
  - { name: h1, endpoints: [{ address: 127.0.0.1, port: ${(h1.address() as net.AddressInfo).port} }] }
${h2Names.map((n) => `  - { name: h2-${n}, protocol: http2, endpoints: [{ address: 127.0.0.1, port: ${h2[n].port} }] }`).join('\n')}
`);
  });
  after(async () => {
    await proxy?.stop();
    h1?.close();
    for (const up of Object.values(h2)) up.server.close();
  });

  const url = (path: string) => `http://127.0.0.1:${proxy.ports.main}${path}`;

  async function expectProtocolError(path: string, id: string, protocol = 'HTTP/1.1'): Promise<void> {
    const res = await request(url(path), { headers: { 'x-request-id': id } });
    const body = await res.body.text();
    assert.equal(res.statusCode, 502, body);
    assert.equal(res.headers['x-sluice-details'], 'upstream_protocol_error');
    const line = await waitFor(() => proxy.accessLog().find((l) => l.request_id === id), 5000, `access-log line ${id}`);
    assert.equal(line.status, 502);
    assert.equal(line.flags, 'UPE');
    assert.equal(line.details, 'upstream_protocol_error');
    assert.equal(line.protocol, protocol);
  }

  for (const what of Object.keys(H1_CASES)) {
    test(`HTTP/1 upstream, ${what}: 502 UPE after one try`, async () => {
      const path = `/h1/${slug(what)}`;
      await expectProtocolError(path, `upe-h1-${slug(what)}`);
      assert.equal(seen.get(path), 1, 'the upstream saw exactly one request');
    });
  }

  for (const what of Object.keys(H2_CASES)) {
    test(`HTTP/2 upstream, ${what}: 502 UPE after one try, then the backend serves again`, async () => {
      const up = h2[slug(what)];
      await expectProtocolError(`/h2/${slug(what)}`, `upe-h2-${slug(what)}`);
      assert.equal(up.requests, 1, 'the upstream saw exactly one request');
      const again = await request(url(`/h2/${slug(what)}/again`));
      await again.body.dump();
      assert.equal(again.statusCode, 200);
      assert.equal(up.requests, 2);
    });
  }

  test('a status an HTTP/2 client cannot be sent (600): 502 UPE, one try', async () => {
    const session = http2.connect(url('/'));
    try {
      const id = 'upe-h2-downstream-status-600';
      const stream = session.request({ ':path': '/h1/status-600', 'x-request-id': id });
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        stream.once('response', resolve);
        stream.once('error', reject);
      });
      stream.resume();
      await new Promise((r) => stream.once('end', r));
      assert.equal(headers[':status'], 502);
      assert.equal(headers['x-sluice-details'], 'upstream_protocol_error');
      const line = await waitFor(() => proxy.accessLog().find((l) => l.request_id === id), 5000, `access-log line ${id}`);
      assert.equal(line.flags, 'UPE');
      assert.equal(line.details, 'upstream_protocol_error');
      assert.equal(seen.get('/h1/status-600'), 1);
    } finally {
      session.close();
    }
  });

  test('the proxy keeps serving the HTTP/1 backend afterwards', async () => {
    const res = await request(url('/good'));
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'ok');
    assert.equal(seen.get('/good'), 1);
  });

  test('the local-reply metric counts them under the flag UPE', async () => {
    const text = await (await request(`http://127.0.0.1:${proxy.statsPort}/stats/prometheus`)).body.text();
    const m = /^sluice_local_replies_total\{listener="main",flag="UPE"\} (\d+)$/m.exec(text);
    assert.ok(m !== null, 'a UPE series');
    // Every case so far, HTTP/1 and HTTP/2 upstreams and the 600 to an HTTP/2 client.
    assert.equal(Number(m[1]), Object.keys(H1_CASES).length + Object.keys(H2_CASES).length + 1);
    assert.doesNotMatch(text, /flag="UC"/);
  });
});

describe('no retryOn word covers an upstream protocol error', () => {
  test('neither the defaults nor any failure condition a RetryPolicy may name', () => {
    assert.equal(failureCovered('UPSTREAM_PROTOCOL_ERROR', DEFAULT_RETRY.retryOn), false);
    assert.equal(failureCovered('UPSTREAM_PROTOCOL_ERROR', ['5xx', 'gateway-error', 'reset', 'connect-failure', 'refused-stream', 'retriable-status-codes']), false);
    // ...while those words still cover a connection closed before any answer.
    assert.equal(failureCovered('UPSTREAM_CONNECTION_TERMINATION', ['reset']), true);
  });
});
