// The ClientHello parser a zone ingress routes by: real ClientHellos (node:tls, openssl
// s_client -servername) give their SNI; truncated, hostile and malformed records are
// refused with a reason, never a crash; a ClientHello split across reads (and across TLS
// records) is waited for, and every byte is put back for the tcp_proxy to forward.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { test } from 'node:test';
import { parseClientHello, readClientHello, type Hello } from '../../../proxy/listen/client-hello.ts';

const SNI = 'outbound_.8080_._.orders.shop.svc.cluster.local';

/** The first bytes a client sends to a server that never answers: its ClientHello. */
function capture(connect: (port: number) => () => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let stop = () => {};
    const server = net.createServer((s) => {
      let seen = Buffer.alloc(0);
      s.on('data', (d) => {
        seen = Buffer.concat([seen, d]);
        if (parseClientHello(seen).kind !== 'more') {
          stop();
          s.destroy();
          server.close();
          resolve(seen);
        }
      });
      s.on('error', () => {});
    });
    server.listen(0, '127.0.0.1', () => {
      stop = connect((server.address() as net.AddressInfo).port);
    });
    setTimeout(() => reject(new Error('no ClientHello in 10 s')), 10_000).unref();
  });
}

const nodeHello = (servername?: string) =>
  capture((port) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...(servername === undefined ? {} : { servername }), rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    s.on('error', () => {});
    return () => s.destroy();
  });

test('a ClientHello from node:tls gives its SNI, lower-cased', async () => {
  assert.deepEqual(parseClientHello(await nodeHello(SNI)), { kind: 'hello', serverName: SNI });
  assert.deepEqual(parseClientHello(await nodeHello('Orders.Shop.SVC')), { kind: 'hello', serverName: 'orders.shop.svc' });
});

test('a ClientHello with no server_name extension says so (serverName null)', async () => {
  // node:tls sends no SNI for an IP address host without servername.
  assert.deepEqual(parseClientHello(await nodeHello()), { kind: 'hello', serverName: null });
});

test('a ClientHello from openssl s_client -servername gives its SNI', async () => {
  const hello = await capture((port) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', SNI], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', () => {});
    return () => child.kill();
  });
  assert.deepEqual(parseClientHello(hello), { kind: 'hello', serverName: SNI });
});

test('every truncation of a real ClientHello is "more", never a wrong answer or a throw', async () => {
  const hello = await nodeHello(SNI);
  for (let n = 0; n < hello.length; n++) assert.equal(parseClientHello(hello.subarray(0, n)).kind, 'more', `at ${n} of ${hello.length} bytes`);
});

test('a ClientHello split over several TLS records is read whole', async () => {
  const hello = await nodeHello(SNI);
  const body = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const records = [body.subarray(0, 3), body.subarray(3, 60), body.subarray(60)].map((f) => Buffer.concat([Buffer.from([0x16, 3, 1, f.length >> 8, f.length & 0xff]), f]));
  assert.deepEqual(parseClientHello(Buffer.concat(records)), { kind: 'hello', serverName: SNI });
});

test('hostile and malformed records are refused with the reason', async () => {
  const hello = await nodeHello(SNI);
  const why = (b: Buffer) => {
    const r = parseClientHello(b);
    assert.equal(r.kind, 'invalid', `expected invalid, got ${JSON.stringify(r)}`);
    return (r as { why: string }).why;
  };
  assert.match(why(Buffer.from('GET / HTTP/1.1\r\n\r\n')), /not a TLS handshake record \(first byte 0x47\)/);
  assert.match(why(Buffer.from([0x16, 9, 9, 0, 10])), /record version 9\.9 is not TLS/);
  assert.match(why(Buffer.from([0x16, 3, 1, 0xff, 0xff])), /record length 65535 is out of bounds/);
  assert.match(why(Buffer.from([0x16, 3, 1, 0, 0])), /record length 0/);
  // A ServerHello (type 2) where a ClientHello should be.
  assert.match(why(Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0])), /type 2 is not a ClientHello/);
  // A handshake length of 16 MiB: refused at once, not waited for.
  assert.match(why(Buffer.from([0x16, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff])), /larger than 65536/);
  // An alert record after the first fragment.
  const first = Buffer.concat([Buffer.from([0x16, 3, 1, 0, 4]), hello.subarray(5, 9)]);
  assert.match(why(Buffer.concat([first, Buffer.from([0x15, 3, 1, 0, 2, 2, 40])])), /another type inside the ClientHello/);
  // Lengths inside the ClientHello that run past its end: the session id, then the extensions.
  const tampered = (offset: number, value: number, bytes: 1 | 2) => {
    const b = Buffer.from(hello);
    if (bytes === 1) b[offset] = value;
    else b.writeUInt16BE(value, offset);
    return b;
  };
  const sid = hello[5 + 4 + 34];
  assert.match(why(tampered(5 + 4 + 35 + sid, 0xfffe, 2)), /cipher_suites runs past the end/);
  const suites = hello.readUInt16BE(5 + 4 + 35 + sid);
  const comp = 5 + 4 + 35 + sid + 2 + suites;
  const extLen = comp + 1 + hello[comp];
  assert.match(why(tampered(extLen, 0xffff, 2)), /extensions run past the end/);
});

test('a server_name extension with a bad list or a non-ASCII name is refused', () => {
  const withSni = (ext: Buffer) => {
    const body = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32), Buffer.from([0, 0, 2, 0x13, 0x01, 1, 0]), u16(ext.length + 4), u16(0), u16(ext.length), ext]);
    const hs = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 0xff]), body]);
    return Buffer.concat([Buffer.from([0x16, 3, 1]), u16(hs.length), hs]);
  };
  const name = (n: Buffer) => Buffer.concat([u16(n.length + 3), Buffer.from([0]), u16(n.length), n]);
  assert.deepEqual(parseClientHello(withSni(name(Buffer.from('a.b')))), { kind: 'hello', serverName: 'a.b' });
  assert.deepEqual(parseClientHello(withSni(Buffer.from([0, 9, 0, 0, 1, 0x61]))).kind, 'invalid');
  assert.match((parseClientHello(withSni(name(Buffer.from([0xc3, 0xa9])))) as { why: string }).why, /not printable ASCII/);
  assert.match((parseClientHello(withSni(name(Buffer.alloc(0)))) as { why: string }).why, /empty/);
});

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

test('readClientHello waits for a ClientHello sent a few bytes at a time, then puts every byte back', async () => {
  const hello = await nodeHello(SNI);
  const got = await new Promise<{ hello: Hello; after: Buffer }>((resolve) => {
    const server = net.createServer((s) => {
      readClientHello(s, 5000, (h) => {
        let rest = Buffer.alloc(0);
        s.on('data', (d) => {
          rest = Buffer.concat([rest, d]);
          if (rest.length >= hello.length + 5) {
            s.destroy();
            server.close();
            resolve({ hello: h, after: rest });
          }
        });
      });
    });
    server.listen(0, '127.0.0.1', async () => {
      const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      c.on('error', () => {});
      for (let at = 0; at < hello.length; at += 7) {
        c.write(hello.subarray(at, at + 7));
        await new Promise((r) => setTimeout(r, 2));
      }
      c.write('after');
    });
  });
  assert.deepEqual(got.hello, { kind: 'hello', serverName: SNI });
  assert.deepEqual(got.after, Buffer.concat([hello, Buffer.from('after')]));
});

test('readClientHello gives up on a client that sends half a ClientHello and waits', async () => {
  const hello = await nodeHello(SNI);
  const got = await new Promise<Hello>((resolve) => {
    const server = net.createServer((s) => readClientHello(s, 200, (h) => (s.destroy(), server.close(), resolve(h))));
    server.listen(0, '127.0.0.1', () => {
      const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      c.on('error', () => {});
      c.write(hello.subarray(0, 20));
    });
  });
  assert.deepEqual(got, { kind: 'invalid', why: 'no whole ClientHello within 200 ms' });
});
