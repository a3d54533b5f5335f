// The known ways around a mesh's authorization, each sent byte for byte to a real proxy
// whose policy must stop it: a DENY rule on /admin (or on a host, or a header), or an ALLOW
// rule for /public only. Either the proxy refuses the request as malformed (400), or it
// normalizes it to what the policy names and denies it (403); in both cases the app behind
// never sees it. Where an operator opts out of a safeguard (escapedSlashes: Keep), the test
// pins down what reaches the app.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Ca } from '../../../certs/index.ts';
import { forgeCertificate, SAN } from '../../helpers/forged-cert.ts';
import { issue, newCa, tempDir, writeIdentity, type Svid } from '../../helpers/mesh-pki.ts';
import { appProxyConfig, authorizationPolicy } from '../../helpers/mesh-policy.ts';
import { mtlsRequest } from '../../helpers/mtls-client.ts';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { sendRaw, statusOf } from '../../helpers/raw.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

const API = 'spiffe://mesh.example/ns/shop/sa/api';
const WEB = 'spiffe://mesh.example/ns/shop/sa/web';
const DENY_ADMIN = 'rbac_access_denied_matched_policy[deny-admin]';
const NONE_MATCHED = 'rbac_access_denied_matched_policy[none]';

const LISTENERS: Record<string, object> = {
  deny: {},
  'public-only': {},
  unescape: { escapedSlashes: 'Unescape' },
  keep: { escapedSlashes: 'Keep' },
  'strip-params': { pathParameters: 'Strip' },
  'keep-params': { pathParameters: 'Keep' },
  'reader-only': {},
  mtls: { tls: { mode: 'STRICT' } },
  permissive: { tls: { mode: 'PERMISSIVE' } },
};

function config(appPort: number): string {
  return appProxyConfig(appPort, LISTENERS, [
    authorizationPolicy('deny-admin', ['deny', 'unescape', 'keep', 'strip-params', 'keep-params'], {
      action: 'DENY',
      rules: [{ to: [{ paths: [{ value: '/admin' }] }] }, { to: [{ hosts: ['admin.example.com'] }] }, { to: [{ headers: [{ name: 'x-role', value: 'admin' }] }] }, { to: [{ methods: ['DELETE'] }] }],
    }),
    authorizationPolicy('public-only', ['public-only'], { rules: [{ to: [{ paths: [{ value: '/public' }] }] }] }),
    authorizationPolicy('reader-only', ['reader-only'], { rules: [{ to: [{ headers: [{ name: 'x-role', value: 'reader' }] }] }] }),
    authorizationPolicy('web-only', ['mtls', 'permissive'], { rules: [{ from: [{ identities: [WEB] }] }] }),
  ]);
}

type Answer = { status: number; details: string | undefined; body: string; forwarded: boolean; seenUrl: string | undefined };

describe('known authorization bypasses', () => {
  const dir = tempDir('sluice-bypass-');
  let ca: Ca;
  let app: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    ca = newCa();
    writeIdentity(join(dir, 'api'), issue(ca, API), ca.bundle);
    app = await startUpstream('app');
    writeFileSync(join(dir, 'proxy.yaml'), config(app.port));
    proxy = await startProxy(join(dir, 'proxy.yaml'));
  });

  after(async () => {
    await proxy?.stop();
    await app?.close();
  });

  /** `GET <target>` (or `<request line>` when given whole) as raw bytes; what came back and what the app saw. */
  async function raw(listener: string, target: string, headerLines: string[] = ['host: app.example.com'], requestLine = `GET ${target} HTTP/1.1`): Promise<Answer> {
    const before = app.seen.length;
    const r = await sendRaw(proxy.ports[listener], `${requestLine}\r\n${headerLines.map((h) => `${h}\r\n`).join('')}connection: close\r\n\r\n`);
    const head = r.response.slice(0, r.response.indexOf('\r\n\r\n'));
    const details = /^x-sluice-details: (.*)$/im.exec(head)?.[1];
    const forwarded = app.seen.length > before;
    return { status: statusOf(r.response), details, body: r.response.slice(head.length + 4), forwarded, seenUrl: forwarded ? app.seen.at(-1)!.url : undefined };
  }

  function assertStopped(a: Answer, status: 400 | 403, details: string | null, what: string): void {
    assert.equal(a.status, status, `${what}: expected ${status}, got ${a.status} ${a.body}`);
    if (details !== null) assert.equal(a.details, details, what);
    assert.equal(a.forwarded, false, `${what}: reached the app as ${a.seenUrl}`);
  }

  function assertPassed(a: Answer, seenUrl: string, what: string): void {
    assert.equal(a.status, 200, `${what}: expected 200, got ${a.status} ${a.body}`);
    assert.equal(a.seenUrl, seenUrl, `${what}: what the app received`);
  }

  /** One request on an open h2c session; what came back and what the app saw. */
  function h2(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<Answer> {
    const before = app.seen.length;
    return new Promise((resolve, reject) => {
      const stream = session.request({ ':method': 'GET', ':authority': 'app.example.com', ...headers });
      let status = 0;
      let details: string | undefined;
      let body = '';
      stream.once('response', (h) => {
        status = Number(h[':status']);
        details = h['x-sluice-details'] as string | undefined;
      });
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => (body += d));
      stream.once('error', reject);
      stream.once('end', () => {
        const forwarded = app.seen.length > before;
        resolve({ status, details, body, forwarded, seenUrl: forwarded ? app.seen.at(-1)!.url : undefined });
      });
      stream.end();
    });
  }

  test('%2F under the default escapedSlashes (Reject) is refused with 400 (CVE-2021-31920)', async () => {
    for (const target of ['/public%2F..%2Fadmin', '/admin%2Fsecret', '/admin%2fsecret', '/public%2f..%2fadmin']) {
      assertStopped(await raw('deny', target), 400, 'bad_request', `DENY /admin: ${target}`);
      assertStopped(await raw('public-only', target), 400, 'bad_request', `ALLOW /public only: ${target}`);
    }
    assertPassed(await raw('deny', '/public/x'), '/public/x', 'control: an ordinary path passes');
  });

  test('escapedSlashes: Unescape turns %2F into / before authorization, so the DENY on /admin hits', async () => {
    for (const target of ['/admin%2Fsecret', '/admin%2fsecret', '/public%2F..%2Fadmin', '/public%2F%2E%2E%2Fadmin']) {
      assertStopped(await raw('unescape', target), 403, DENY_ADMIN, target);
    }
    assertPassed(await raw('unescape', '/public%2Fx'), '/public/x', 'the app gets the path authorization saw');
  });

  test("escapedSlashes: Keep forwards %2F untouched, and a DENY on /admin does not match /admin%2Fx (the operator's risk)", async () => {
    // The app receives exactly what the policy was matched against: if it decodes %2F
    // itself, /admin%2Fx is its /admin/x, and the DENY on /admin has not seen that path.
    assertPassed(await raw('keep', '/admin%2Fx'), '/admin%2Fx', '/admin%2Fx');
    assertPassed(await raw('keep', '/public%2F..%2Fadmin'), '/public%2F..%2Fadmin', '/public%2F..%2Fadmin');
    assertPassed(await raw('keep', '/admin%2fx'), '/admin%2Fx', 'escapes are upper-cased, never decoded');
    assertPassed(await raw('keep', '/admin%5Cx'), '/admin%5Cx', '%5C is kept the same way');
    // Real slashes and dot segments are still normalized under Keep.
    assertStopped(await raw('keep', '/admin/x'), 403, DENY_ADMIN, '/admin/x');
    assertStopped(await raw('keep', '/public/../admin'), 403, DENY_ADMIN, '/public/../admin');
  });

  test('%5C is an escaped slash like %2F, and a raw backslash is read as /, so /public\\..\\admin is /admin', async () => {
    for (const target of ['/admin%5Csecret', '/public%5C..%5Cadmin', '/public%5c..%5cadmin']) {
      assertStopped(await raw('deny', target), 400, 'bad_request', `Reject: ${target}`);
      assertStopped(await raw('unescape', target), 403, DENY_ADMIN, `Unescape: ${target}`);
    }
    for (const listener of ['deny', 'unescape', 'keep']) {
      assertStopped(await raw(listener, '/public\\..\\admin'), 403, DENY_ADMIN, `${listener}: /public\\..\\admin`);
      assertStopped(await raw(listener, '/admin\\secret'), 403, DENY_ADMIN, `${listener}: /admin\\secret`);
    }
    assertStopped(await raw('public-only', '/public\\..\\admin'), 403, NONE_MATCHED, 'ALLOW /public only: /public\\..\\admin');
    assertPassed(await raw('deny', '/public\\x'), '/public/x', 'the app gets the backslash as the / authorization saw');
  });

  test('dot segments, plain or percent-encoded, resolve to /admin before authorization (CVE-2021-29492)', async () => {
    const targets = ['/public/../admin', '/public/%2e%2e/admin', '/public/%2E%2E/admin', '/public/.%2e/admin', '/%2e%2e/admin', '/public/./../admin/x', '/public/x/../../admin'];
    for (const target of targets) {
      assertStopped(await raw('deny', target), 403, DENY_ADMIN, `DENY /admin: ${target}`);
      assertStopped(await raw('public-only', target), 403, NONE_MATCHED, `ALLOW /public only: ${target}`);
    }
    assertPassed(await raw('public-only', '/public/x/../y'), '/public/y', 'control: the app gets the resolved path');
  });

  // Tomcat and Spring cut ';' parameters off each segment before routing: /admin;x=1 is
  // their /admin, and /x/..;/admin climbs to it.
  const PARAMETER_TARGETS = ['/admin;x=1', '/admin;', '/x/..;/admin', '/public/..;/admin', '/public;/../admin', '/admin;jsessionid=1/', '/x/..;a=b/admin', '/public/..;/..;/admin;v=1'];

  test("';' path parameters under the default pathParameters (Reject) are refused with 400, over HTTP/1.1 and HTTP/2", async () => {
    for (const target of PARAMETER_TARGETS) {
      const a = await raw('deny', target);
      assertStopped(a, 400, 'bad_request', `DENY /admin: ${target}`);
      assert.match(a.body, /pathParameters: Reject/);
      assertStopped(await raw('public-only', target), 400, 'bad_request', `ALLOW /public only: ${target}`);
    }
    assertStopped(await raw('public-only', '/public;jsessionid=1'), 400, 'bad_request', 'a parameter on an allowed path too');
    const session = http2.connect(`http://127.0.0.1:${proxy.ports.deny}`);
    try {
      for (const target of PARAMETER_TARGETS) assertStopped(await h2(session, { ':path': target }), 400, 'bad_request', `h2 ${target}`);
    } finally {
      session.close();
    }
    // An escaped ';' is no parameter to Tomcat either: it is kept as %3B, and is not /admin.
    assertPassed(await raw('deny', '/admin%3bx'), '/admin%3Bx', 'an escaped semicolon');
  });

  test('pathParameters: Strip cuts them before the dot segments resolve, so the DENY on /admin hits and the app gets the path authorization saw', async () => {
    for (const target of PARAMETER_TARGETS) assertStopped(await raw('strip-params', target), 403, DENY_ADMIN, target);
    assertPassed(await raw('strip-params', '/public;jsessionid=1/x;v=2?q=a;b'), '/public/x?q=a;b', 'parameters cut from the path, the query left alone');
  });

  test("pathParameters: Keep passes ';' on as an ordinary character, as Envoy does (the operator's risk)", async () => {
    assertPassed(await raw('keep-params', '/admin;x=1'), '/admin;x=1', 'a Tomcat backend reads this as /admin');
    assertPassed(await raw('keep-params', '/x/..;/admin'), '/x/..;/admin', 'a Tomcat backend reads this as /admin');
  });

  test('//admin and /./admin are /admin', async () => {
    for (const target of ['//admin', '/./admin', '/.//admin', '///admin/x', '/admin/./']) {
      assertStopped(await raw('deny', target), 403, DENY_ADMIN, target);
    }
  });

  test('a #fragment in the request target is refused with 400, never routed or forwarded (CVE-2021-39156)', async () => {
    for (const target of ['/admin#x', '/public#/../admin', '/public#', '/public?q=1#/../admin']) {
      assertStopped(await raw('deny', target), 400, 'bad_request', `DENY /admin: ${target}`);
      assertStopped(await raw('public-only', target), 400, 'bad_request', `ALLOW /public only: ${target}`);
    }
  });

  test('hosts: the DENY on admin.example.com holds whatever the case, port or trailing dot (CVE-2021-39155)', async () => {
    for (const host of ['ADMIN.example.com', 'Admin.Example.Com:8080', 'admin.example.com.', 'admin.example.com:', 'ADMIN.EXAMPLE.COM.:443']) {
      assertStopped(await raw('deny', '/public', [`host: ${host}`]), 403, DENY_ADMIN, `Host: ${host}`);
    }
    // In absolute form the target's authority is the host (RFC 9112 §3.2.2), whatever Host says.
    assertStopped(await raw('deny', '', ['host: app.example.com'], 'GET http://ADMIN.example.com/public HTTP/1.1'), 403, DENY_ADMIN, 'absolute-form target');
    for (const host of ['app.example.com', 'xadmin.example.com', 'admin.example.com.evil']) {
      assertPassed(await raw('deny', '/public', [`host: ${host}`]), '/public', `control: Host: ${host}`);
    }
  });

  test('a header sent twice: DENY matches if any value does, ALLOW only if every value does (HTTP/1.1)', async () => {
    assertStopped(await raw('deny', '/public', ['host: a', 'x-role: guest', 'x-role: admin']), 403, DENY_ADMIN, 'DENY: guest + admin');
    assertStopped(await raw('deny', '/public', ['host: a', 'x-role: admin', 'x-role: guest']), 403, DENY_ADMIN, 'DENY: admin + guest');
    assertStopped(await raw('deny', '/public', ['host: a', 'x-role: guest, admin']), 403, DENY_ADMIN, 'DENY: one field, guest, admin');
    assertPassed(await raw('deny', '/public', ['host: a', 'x-role: guest']), '/public', 'DENY: guest alone');

    assertPassed(await raw('reader-only', '/r', ['host: a', 'x-role: reader']), '/r', 'ALLOW: reader alone');
    assertStopped(await raw('reader-only', '/r', ['host: a', 'x-role: reader', 'x-role: admin']), 403, NONE_MATCHED, 'ALLOW: reader + admin');
    assertStopped(await raw('reader-only', '/r', ['host: a', 'x-role: admin', 'x-role: reader']), 403, NONE_MATCHED, 'ALLOW: admin + reader');
    assertStopped(await raw('reader-only', '/r', ['host: a', 'x-role: reader, admin']), 403, NONE_MATCHED, 'ALLOW: one field, reader, admin');
    assertStopped(await raw('reader-only', '/r', ['host: a']), 403, NONE_MATCHED, 'ALLOW: no x-role');
  });

  test('over HTTP/2 (h2c, prior knowledge) duplicate header fields, :authority and :path get the same treatment', async () => {
    const client = http2.connect(`http://127.0.0.1:${proxy.ports.deny}`);
    const readerClient = http2.connect(`http://127.0.0.1:${proxy.ports['reader-only']}`);
    client.on('error', () => {});
    readerClient.on('error', () => {});
    try {
      assertStopped(await h2(client, { ':path': '/public', 'x-role': ['guest', 'admin'] }), 403, DENY_ADMIN, 'DENY: guest + admin');
      assertPassed(await h2(client, { ':path': '/public', 'x-role': 'guest' }), '/public', 'DENY: guest alone');
      assertStopped(await h2(client, { ':path': '/public', ':authority': 'ADMIN.example.com.' }), 403, DENY_ADMIN, ':authority ADMIN.example.com.');
      assertStopped(await h2(client, { ':path': '/public/%2e%2e/admin' }), 403, DENY_ADMIN, ':path /public/%2e%2e/admin');
      assertStopped(await h2(client, { ':path': '/public%2F..%2Fadmin' }), 400, 'bad_request', ':path /public%2F..%2Fadmin');
      assertStopped(await h2(client, { ':path': '/admin#x' }), 400, 'bad_request', ':path /admin#x');

      assertPassed(await h2(readerClient, { ':path': '/r', 'x-role': 'reader' }), '/r', 'ALLOW: reader alone');
      assertStopped(await h2(readerClient, { ':path': '/r', 'x-role': ['reader', 'admin'] }), 403, NONE_MATCHED, 'ALLOW: reader + admin');
      assertStopped(await h2(readerClient, { ':path': '/r', 'x-role': ['admin', 'reader'] }), 403, NONE_MATCHED, 'ALLOW: admin + reader');
    } finally {
      client.close();
      readerClient.close();
    }
  });

  test('a method in lower or mixed case is refused by the HTTP/1.1 parser, never matched or forwarded', async () => {
    for (const method of ['get', 'Get', 'gEt']) {
      assertStopped(await raw('deny', '', ['host: a'], `${method} /admin HTTP/1.1`), 400, 'bad_request', `${method} /admin`);
      assertStopped(await raw('public-only', '', ['host: a'], `${method} /public HTTP/1.1`), 400, 'bad_request', `${method} /public`);
    }
    // The DENY on method DELETE: its other spellings never get past it either.
    assertStopped(await raw('deny', '', ['host: a'], 'DELETE /public HTTP/1.1'), 403, DENY_ADMIN, 'DELETE');
    for (const method of ['delete', 'Delete']) assertStopped(await raw('deny', '', ['host: a'], `${method} /public HTTP/1.1`), 400, 'bad_request', method);
  });

  test(
    'over HTTP/2 a method in lower or mixed case never gets past a DENY on that method',
    async () => {
      const client = http2.connect(`http://127.0.0.1:${proxy.ports.deny}`);
      client.on('error', () => {});
      try {
        assertStopped(await h2(client, { ':method': 'DELETE', ':path': '/public' }), 403, DENY_ADMIN, 'DELETE');
        for (const method of ['delete', 'Delete']) {
          const a = await h2(client, { ':method': method, ':path': '/public' });
          // Stopped by the proxy itself: refused as malformed, or denied as DELETE. A 400 from the
          // app (Node's parser refusing the lower-case method) carries no x-sluice-details.
          assert.ok(a.details === DENY_ADMIN || a.details === 'bad_request', `${method}: answered ${a.status} with details ${a.details}: the proxy forwarded it`);
          assert.equal(a.forwarded, false, method);
        }
      } finally {
        client.close();
      }
    },
  );

  test('a client certificate from our CA that spells the allowed SPIFFE ID in a DNS or email SAN, not a URI SAN, is dropped in TLS (CVE-2022-21656)', async () => {
    const forged: [string, Svid][] = [
      ['DNS SAN', forgeCertificate(ca, { altNames: [{ type: SAN.dns, value: WEB }] })],
      ['email SAN', forgeCertificate(ca, { altNames: [{ type: SAN.email, value: WEB }] })],
      ['DNS SAN with an injected ", URI:"', forgeCertificate(ca, { altNames: [{ type: SAN.dns, value: `x, URI:${WEB}` }] })],
      ['DNS SAN and email SAN with an injected ", URI:"', forgeCertificate(ca, { altNames: [{ type: SAN.dns, value: 'x' }, { type: SAN.email, value: `a@b, URI:${WEB}` }] })],
      ['only the subject CN', forgeCertificate(ca, { altNames: [], commonName: WEB })],
      ['two URI SANs', forgeCertificate(ca, { altNames: [{ type: SAN.uri, value: WEB }, { type: SAN.uri, value: 'spiffe://mesh.example/ns/shop/sa/batch' }] })],
    ];
    // The same machinery with a real URI SAN is let in: what refuses the others is their SANs.
    const genuine = forgeCertificate(ca, { altNames: [{ type: SAN.uri, value: WEB }] });
    const before = app.seen.length;
    for (const listener of ['mtls', 'permissive']) {
      const ok = await mtlsRequest(proxy.ports[listener], { svid: genuine, bundle: ca.bundle, path: '/san/genuine' });
      assert.ok('status' in ok && ok.status === 200, `${listener}, URI SAN ${WEB}: ${JSON.stringify(ok)}`);
      for (const [what, svid] of forged) {
        const r = await mtlsRequest(proxy.ports[listener], { svid, bundle: ca.bundle, path: '/san/forged' });
        assert.ok('error' in r, `${listener}, ${what}: the connection must be dropped, got ${JSON.stringify(r)}`);
      }
    }
    assert.deepEqual(app.seen.slice(before).map((s) => s.url), ['/san/genuine', '/san/genuine']);
    await proxy.waitForLog(/mTLS connection refused.*must name exactly one SPIFFE ID in a URI SAN; it names 0/);
    await proxy.waitForLog(/mTLS connection refused.*must name exactly one SPIFFE ID in a URI SAN; it names 2/);
  });
});
