import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hash32, requestHash } from '../../../../proxy/upstream/lb/hash.ts';

// murmur3_32 over bytes, straight from the reference, to check the code-unit version against.
function murmurBytes(bytes: Uint8Array, seed: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));
  let h = seed | 0;
  const blocks = bytes.length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(rotl(Math.imul(k, c1), 15), c2);
    h = (Math.imul(rotl(h ^ k, 13), 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const rest = bytes.length & 3;
  if (rest === 3) k ^= bytes[blocks + 2] << 16;
  if (rest >= 2) k ^= bytes[blocks + 1] << 8;
  if (rest >= 1) h ^= Math.imul(rotl(Math.imul(k ^ bytes[blocks], c1), 15), c2);
  h ^= bytes.length;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

describe('hash32', () => {
  test('the reference implementation matches published murmur3_32 vectors', () => {
    const ascii = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
    assert.equal(murmurBytes(ascii(''), 0), 0);
    assert.equal(murmurBytes(ascii(''), 1), 0x514e28b7);
    assert.equal(murmurBytes(ascii('test'), 0), 0xba6bd213);
    assert.equal(murmurBytes(ascii('Hello, world!'), 0x9747b28c), 0x24884cba);
  });

  test('is murmur3_32 of the UTF-16LE bytes, odd and even lengths and non-ASCII alike', () => {
    for (const s of ['', 'a', 'ab', 'abc', '127.0.0.1:9000_17', 'user-42', 'ünïcødé ✓', '🦀x']) {
      for (const seed of [0, 1, 0x9747b28c]) {
        assert.equal(hash32(s, seed), murmurBytes(new Uint8Array(Buffer.from(s, 'utf16le')), seed), `${s} seed ${seed}`);
      }
    }
  });

  test('spreads similar keys evenly over buckets', () => {
    const buckets = new Array<number>(16).fill(0);
    for (let i = 0; i < 16000; i++) buckets[hash32(`key-${i}`) % 16]++;
    for (const b of buckets) assert.ok(b > 850 && b < 1150, `bucket count ${b}`);
  });
});

describe('requestHash', () => {
  test('hashes the named header, matched case-insensitively, taking the first of repeated values', () => {
    const on = { type: 'Header', name: 'X-User' } as const;
    assert.equal(requestHash(on, { 'x-user': 'alice' }, '10.0.0.1'), hash32('alice'));
    assert.equal(requestHash(on, { 'x-user': ['bob', 'carol'] }, '10.0.0.1'), hash32('bob'));
    assert.notEqual(requestHash(on, { 'x-user': 'alice' }, ''), requestHash(on, { 'x-user': 'bob' }, ''));
  });

  test('hashes the named cookie among several, in one or split cookie headers', () => {
    const on = { type: 'Cookie', name: 'session' } as const;
    const want = hash32('s3cr3t');
    assert.equal(requestHash(on, { cookie: 'theme=dark; session=s3cr3t; lang=en' }, ''), want);
    assert.equal(requestHash(on, { cookie: 'session=s3cr3t' }, ''), want);
    assert.equal(requestHash(on, { cookie: ['theme=dark', 'lang=en;session=s3cr3t'] }, ''), want);
    // A cookie whose name merely starts or ends with "session" is someone else's.
    assert.equal(requestHash(on, { cookie: 'sessionid=x; mysession=y; session=s3cr3t' }, ''), want);
  });

  test('hashes the source address', () => {
    assert.equal(requestHash({ type: 'SourceIP' }, {}, '10.1.2.3'), hash32('10.1.2.3'));
  });

  test('is undefined when nothing is hashed on or the request lacks the value', () => {
    assert.equal(requestHash(undefined, { 'x-user': 'alice' }, '10.0.0.1'), undefined);
    assert.equal(requestHash({ type: 'Header', name: 'x-user' }, {}, '10.0.0.1'), undefined);
    assert.equal(requestHash({ type: 'Header', name: 'x-user' }, { 'x-user': [] }, '10.0.0.1'), undefined);
    assert.equal(requestHash({ type: 'Cookie', name: 'session' }, {}, '10.0.0.1'), undefined);
    assert.equal(requestHash({ type: 'Cookie', name: 'session' }, { cookie: 'sessionid=1; other=2' }, '10.0.0.1'), undefined);
  });
});
