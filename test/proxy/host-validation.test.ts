// Host and :authority are checked against RFC 3986 `host [":" port]` before routing and
// authorization: every value an application could read as another host is a 400 and
// reaches no upstream, over HTTP/1.1 (Host, absolute-form targets) and HTTP/2
// (:authority, host). Valid ones, IPv6 and ports included, still pass.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { authorityProblem } from '../../proxy/http/authority.ts';
import { singleBackendConfig, startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { sendRaw, statusOf } from '../helpers/raw.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';

/** Each is a Host that some reader takes for another host than the one a policy names. */
const INVALID_HOSTS = [
  'x@b.example', // userinfo: new URL reads b.example
  'b.example/admin',
  'b.example evil',
  'a.example%2e', // a URL parser decodes it to a.example.
  'b.example#frag',
  'b.example?q',
  'b.example\\evil',
  'b.example:80:80',
  'b.example:http',
  'b.example:99999',
  ':80',
  '[::1',
  '[not-v6]:80',
  '[::1]x',
  'b.example;x',
  "b.example'",
  'b.exa(mple)',
  'b.ex\x7fample',
];

const VALID_HOSTS = ['b.example', 'B.Example.', 'b.example:8080', '127.0.0.1', '127.0.0.1:80', '[::1]', '[::1]:8080', '[2001:db8::1]', 'under_score-dash.x', 'localhost', 'b.example:'];

test('authorityProblem: each invalid value has a reason, each valid one none', () => {
  for (const h of [...INVALID_HOSTS, 'b.example\t', 'b.ex\x00ample', 'b.exämple']) assert.notEqual(authorityProblem(h), null, h);
  for (const h of VALID_HOSTS) assert.equal(authorityProblem(h), null, h);
  assert.match(authorityProblem('x@b.example')!, /userinfo/);
});

describe('invalid Host and :authority through a real proxy', () => {
  let proxy: ProxyProcess;
  let upstream: Upstream;

  before(async () => {
    upstream = await startUpstream('victim');
    proxy = await startProxy(singleBackendConfig(upstream.port));
  });
  after(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  test('HTTP/1.1: every invalid Host is 400, closed, never forwarded', async () => {
    const before = upstream.seen.length;
    for (const host of INVALID_HOSTS) {
      const { response, closed } = await sendRaw(proxy.ports.main, `GET /a HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 2000);
      assert.equal(statusOf(response), 400, `${JSON.stringify(host)}: ${response.slice(0, 120)}`);
      assert.ok(closed, host);
    }
    assert.equal(upstream.seen.length, before, JSON.stringify(upstream.seen.slice(before).map((s) => s.headers.host)));
  });

  test('HTTP/1.1: an absolute-form target with userinfo or an invalid authority is 400, whatever the Host', async () => {
    const before = upstream.seen.length;
    for (const target of ['http://x@b.example/', 'http://x:y@b.example/admin', 'http://b.example%2e/', 'http://b.example\\@evil/', 'http:///admin', 'http://b.example:bad/']) {
      const { response } = await sendRaw(proxy.ports.main, `GET ${target} HTTP/1.1\r\nHost: b.example\r\n\r\n`, 2000);
      assert.equal(statusOf(response), 400, `${target}: ${response.slice(0, 120)}`);
    }
    // A valid absolute-form target is served, with its authority as the Host upstream (RFC 9112 §3.2.2).
    const { response } = await sendRaw(proxy.ports.main, 'GET http://c.example:81/x HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n', 2000);
    assert.equal(statusOf(response), 200, response);
    assert.equal(upstream.seen.length, before + 1);
    assert.equal(upstream.seen.at(-1)!.headers.host, 'c.example:81');
  });

  test('HTTP/1.1: the reason is in x-sluice-details and the body', async () => {
    const { response } = await sendRaw(proxy.ports.main, 'GET / HTTP/1.1\r\nHost: x@b.example\r\n\r\n', 2000);
    assert.match(response, /x-sluice-details: bad_request/);
    assert.match(response, /userinfo/);
  });

  test('HTTP/1.1: valid hosts are served', async () => {
    for (const host of VALID_HOSTS) {
      const { response } = await sendRaw(proxy.ports.main, `GET /ok HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 2000);
      assert.equal(statusOf(response), 200, `${host}: ${response.slice(0, 120)}`);
      assert.equal(upstream.seen.at(-1)!.headers.host, host);
    }
  });

  /** One h2 request; the status, or 'reset' when the stream was refused at the protocol level. */
  async function h2(headers: http2.OutgoingHttpHeaders): Promise<number | 'reset'> {
    const client = http2.connect(`http://127.0.0.1:${proxy.ports.main}`);
    client.on('error', () => {});
    try {
      return await new Promise((resolve) => {
        const req = client.request({ ':path': '/a', ...headers });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', () => resolve('reset'));
        req.on('close', () => resolve('reset'));
        req.resume();
        req.end();
      });
    } finally {
      client.close();
    }
  }

  test('HTTP/2: every invalid :authority or host is refused, never forwarded', async () => {
    const before = upstream.seen.length;
    for (const host of INVALID_HOSTS) {
      if (host.includes('\x7f')) continue; // Node's client will not send it at all
      for (const headers of [{ ':authority': host }, { host }]) {
        const got = await h2(headers);
        assert.ok(got === 400 || got === 'reset', `${JSON.stringify(headers)}: ${got}`);
      }
    }
    assert.equal(upstream.seen.length, before, JSON.stringify(upstream.seen.slice(before).map((s) => s.headers.host)));
  });

  test('HTTP/2: a host field that differs from :authority is 400', async () => {
    const before = upstream.seen.length;
    assert.equal(await h2({ ':authority': 'b.example', host: 'admin.example' }), 400);
    assert.equal(upstream.seen.length, before);
    assert.equal(await h2({ ':authority': 'b.example', host: 'B.example' }), 200);
  });

  test('HTTP/2: valid authorities are served', async () => {
    for (const host of VALID_HOSTS) assert.equal(await h2({ ':authority': host }), 200, host);
  });
});
