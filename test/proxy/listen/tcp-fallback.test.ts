// An HTTP listener with a tcpFallback (a Service port that declares no protocol, over xDS):
// HTTP is served as HTTP; bytes that are not HTTP, a TLS ClientHello the app sends itself,
// and a client that stays silent (a server-speaks-first protocol) go on as TCP to the
// fallback's backend, decided on by its policies; without a fallback they are closed.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { HttpListener, ProxyConfig } from '../../../proxy/config/model.ts';
import { resolveAuthorization } from '../../../proxy/config/authz-spec.ts';
import { parseStaticConfig } from '../../../proxy/config/load-static.ts';
import { ProxyServer } from '../../../proxy/server.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

/** A TCP server that greets first, then echoes each chunk prefixed with `echo:`. */
function greetingEcho(): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.write('hello\n');
    s.on('data', (d) => s.write(`echo:${d}`));
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

/** Connects, sends `send` (if any), and collects what comes back until `until` matches or the socket closes. */
function exchange(port: number, send: Buffer | string | null, until: RegExp): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => finish(false), 8000);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    s.on('error', () => {});
    s.on('connect', () => send !== null && s.write(send));
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (until.test(text)) finish(false);
    });
    s.on('close', () => finish(true));
  });
}

describe('an HTTP listener that tells HTTP from TCP', () => {
  let http: Upstream;
  let echo: net.Server;
  let server: ProxyServer;
  let port = 0;
  const refused: string[] = [];

  const configOf = (fallback: HttpListener['tcpFallback'] | undefined, httpOnly: boolean): ProxyConfig => {
    const echoPort = (echo.address() as net.AddressInfo).port;
    const parsed = parseStaticConfig(`
listeners: [{ name: port-80, address: 127.0.0.1, port: ${port}, protocol: http }]
routes: [{ name: all, parentRefs: [{ name: port-80 }], rules: [{ backendRefs: [{ name: web }] }] }]
backends:
  - { name: web, endpoints: [{ address: 127.0.0.1, port: ${http.port} }] }
  - { name: cache, endpoints: [{ address: 127.0.0.1, port: ${echoPort} }] }
`);
    assert.ok(parsed.ok, JSON.stringify(parsed));
    const [l] = parsed.value.listeners as HttpListener[];
    return { ...parsed.value, listeners: [{ ...l, ...(httpOnly ? { httpOnly } : {}), ...(fallback === undefined ? {} : { tcpFallback: fallback }) }] };
  };

  before(async () => {
    http = await startUpstream('web');
    echo = await greetingEcho();
    server = new ProxyServer({ log: () => {}, observe: () => {}, onRefused: (_l, code, reason) => refused.push(`${code}: ${reason}`), onConnection: () => {}, onTcpBytes: () => {}, random: Math.random, now: Date.now, svid: () => null });
    await server.apply(configOf({ backend: 'cache', authorization: [] }, false));
    port = server.ports()['port-80'];
  });
  after(async () => {
    await server?.drain(0);
    await http?.close();
    echo?.close();
  });

  test('HTTP/1 is served as HTTP', async () => {
    const r = await exchange(port, 'GET /x HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n', /\r\n\r\n[\s\S]*web/);
    assert.match(r.text, /^HTTP\/1\.1 200/);
  });

  test('a broken request is still HTTP: answered 400 by the parser, never passed on as TCP', async () => {
    for (const raw of ['G@T / HTTP/1.1\r\nhost: web\r\n\r\n', ' GET / HTTP/1.1\r\nhost: web\r\n\r\n', 'GET\t/ HTTP/1.1\r\nhost: web\r\n\r\n']) {
      const r = await exchange(port, raw, /\r\n\r\n/);
      assert.match(r.text, /^HTTP\/1\.1 400/, JSON.stringify(raw));
      assert.doesNotMatch(r.text, /hello|echo/, JSON.stringify(raw));
    }
    // Empty lines before the request line are allowed (RFC 9112 §2.2).
    assert.match((await exchange(port, '\r\nGET / HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n', /web$/)).text, /^HTTP\/1\.1 200/);
  });

  test('a request sent a byte at a time is still told as HTTP', async () => {
    const raw = 'GET /drip HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n';
    const text = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let got = '';
      s.on('error', () => {});
      s.on('data', (d) => (got += d.toString('latin1')));
      s.on('close', () => resolve(got));
      s.on('connect', async () => {
        for (const byte of raw.slice(0, 12)) {
          s.write(byte);
          await new Promise((r) => setTimeout(r, 20));
        }
        s.write(raw.slice(12));
      });
    });
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.match(text, /"url":"\/drip"/);
  });

  test('bytes that are not HTTP go on as TCP, both ways', async () => {
    const r = await exchange(port, Buffer.from('*1\r\n$4\r\nPING\r\n'), /echo:\*1/);
    assert.equal(r.text, 'hello\necho:*1\r\n$4\r\nPING\r\n');
  });

  test('a TLS ClientHello the app sends itself is not HTTP either', async () => {
    const r = await exchange(port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]), /echo:/);
    assert.equal(r.text.slice(0, 11), 'hello\necho:');
  });

  test('a client that waits for the server (a server-speaks-first protocol) is TCP after a short wait', async () => {
    const r = await exchange(port, null, /hello\n/);
    assert.equal(r.text, 'hello\n');
    assert.equal(r.closed, false);
  });

  test("the fallback's policies decide each connection: a DENY on any peer closes it before a byte is forwarded", async () => {
    const deny = resolveAuthorization('deny-all', { action: 'DENY', rules: [{}] });
    await server.apply(configOf({ backend: 'cache', authorization: [deny] }, false));
    const r = await exchange(port, 'PING\r\n', /echo/);
    assert.equal(r.text, '');
    assert.equal(r.closed, true);
    assert.ok(refused.some((x) => x.startsWith('RBAC_DENIED')), refused.join('\n'));
    // HTTP on the same port is not a connection the tcp policies decide.
    assert.match((await exchange(port, 'GET / HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n', /web$/)).text, /^HTTP\/1\.1 200/);
  });

  test('without a fallback, an HTTP-only port closes what is not HTTP', async () => {
    await server.apply(configOf(undefined, true));
    assert.equal(server.ports()['port-80'], port);
    const r = await exchange(port, 'PING\r\n', /echo/);
    assert.deepEqual(r, { text: '', closed: true });
  });
});
