// The field tap's HPACK decoder against RFC 7541 Appendix C (every example, tables
// included), the Huffman code's edge cases, malformed blocks, and Node's own encoder
// (nghttp2's deflater: Huffman, indexing, eviction) over hundreds of real requests.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { HpackDecoder } from '../../../proxy/listen/hpack.ts';
import { HUFFMAN_CODES, huffmanDecode } from '../../../proxy/listen/hpack-huffman.ts';
import { Flags, frame, FrameType, PREFACE } from '../../helpers/h2-frames.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decode(d: HpackDecoder, block: Buffer): [string, string][] {
  const fields: [string, string][] = [];
  const err = d.decode(block, (n, v) => fields.push([n.toString('latin1'), v.toString('latin1')]));
  assert.equal(err, null);
  return fields;
}

type Step = { block: string; fields: [string, string][]; table: [string, string][]; size: number };

function series(limit: number, steps: Step[]): void {
  const d = new HpackDecoder(limit);
  for (const [i, step] of steps.entries()) {
    assert.deepEqual(decode(d, hex(step.block)), step.fields, `step ${i + 1}: fields`);
    assert.deepEqual(d.table.entries, step.table, `step ${i + 1}: dynamic table`);
    assert.equal(d.table.size, step.size, `step ${i + 1}: table size`);
  }
}

const REQ1: [string, string][] = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQ2: [string, string][] = [...REQ1, ['cache-control', 'no-cache']];
const REQ3: [string, string][] = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const LOCATION = 'https://www.example.com';
const RES1: [string, string][] = [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], ['location', LOCATION]];
const RES2: [string, string][] = [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], ['location', LOCATION]];
const RES3: [string, string][] = [[':status', '200'], ['cache-control', 'private'], ['date', DATE2], ['location', LOCATION], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]];
const RES_TABLES = {
  t1: [['location', LOCATION], ['date', DATE1], ['cache-control', 'private'], [':status', '302']] as [string, string][],
  t2: [[':status', '307'], ['location', LOCATION], ['date', DATE1], ['cache-control', 'private']] as [string, string][],
  t3: [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]] as [string, string][],
};

describe('HPACK decoding (RFC 7541)', () => {
  test('decodes the field representations of Appendix C.2', () => {
    const cases: [string, string, [string, string][], [string, string][]][] = [
      ['C.2.1 literal with indexing', '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572', [['custom-key', 'custom-header']], [['custom-key', 'custom-header']]],
      ['C.2.2 literal without indexing', '040c 2f73 616d 706c 652f 7061 7468', [[':path', '/sample/path']], []],
      ['C.2.3 literal never indexed', '1008 7061 7373 776f 7264 0673 6563 7265 74', [['password', 'secret']], []],
      ['C.2.4 indexed field', '82', [[':method', 'GET']], []],
    ];
    for (const [name, block, fields, table] of cases) {
      const d = new HpackDecoder();
      assert.deepEqual(decode(d, hex(block)), fields, name);
      assert.deepEqual(d.table.entries, table, name);
    }
  });

  test('decodes the requests of Appendix C.3 (raw) and C.4 (Huffman) on one table', () => {
    const t1: [string, string][] = [[':authority', 'www.example.com']];
    const t2: [string, string][] = [['cache-control', 'no-cache'], ...t1];
    const t3: [string, string][] = [['custom-key', 'custom-value'], ...t2];
    series(4096, [
      { block: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', fields: REQ1, table: t1, size: 57 },
      { block: '8286 84be 5808 6e6f 2d63 6163 6865', fields: REQ2, table: t2, size: 110 },
      { block: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65', fields: REQ3, table: t3, size: 164 },
    ]);
    series(4096, [
      { block: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', fields: REQ1, table: t1, size: 57 },
      { block: '8286 84be 5886 a8eb 1064 9cbf', fields: REQ2, table: t2, size: 110 },
      { block: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', fields: REQ3, table: t3, size: 164 },
    ]);
  });

  test('decodes the responses of Appendix C.5 (raw) and C.6 (Huffman), evicting from a 256-octet table', () => {
    series(256, [
      {
        block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
        fields: RES1,
        table: RES_TABLES.t1,
        size: 222,
      },
      { block: '4803 3330 37c1 c0bf', fields: RES2, table: RES_TABLES.t2, size: 222 },
      {
        block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
        fields: RES3,
        table: RES_TABLES.t3,
        size: 215,
      },
    ]);
    series(256, [
      {
        block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
        fields: RES1,
        table: RES_TABLES.t1,
        size: 222,
      },
      { block: '4883 640e ffc1 c0bf', fields: RES2, table: RES_TABLES.t2, size: 222 },
      {
        block: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
        fields: RES3,
        table: RES_TABLES.t3,
        size: 215,
      },
    ]);
  });

  test('builds the canonical Huffman code of Appendix B', () => {
    assert.deepEqual(HUFFMAN_CODES[0], { code: 0x1ff8, bits: 13 });
    assert.deepEqual(HUFFMAN_CODES[0x30], { code: 0x0, bits: 5 }); // '0'
    assert.deepEqual(HUFFMAN_CODES[0x61], { code: 0x3, bits: 5 }); // 'a'
    assert.deepEqual(HUFFMAN_CODES[0x7f], { code: 0xffffffc, bits: 28 });
    assert.deepEqual(HUFFMAN_CODES[0xff], { code: 0x3ffffee, bits: 26 });
    assert.deepEqual(HUFFMAN_CODES[256], { code: 0x3fffffff, bits: 30 }); // EOS
  });

  test('refuses Huffman strings with EOS, or padding that is too long or not all ones', () => {
    const bad: [string, number[]][] = [
      ['8 bits of padding', [0xff]],
      ['"a" and a byte of padding', [0x1f, 0xff]],
      ['"a" and 29 bits of padding', [0xff, 0x9f, 0xff, 0xff, 0xff]],
      ['padding ending on a partial symbol', [0x52, 0xbc, 0x30, 0xff, 0xff, 0xff, 0xff]],
      ['EOS then "?"', [0xff, 0xff, 0xff, 0xff, 0xfc]],
      ['padding of zeros', [0x00]],
    ];
    for (const [name, bytes] of bad) assert.equal(huffmanDecode(Buffer.from(bytes), 0, bytes.length), null, name);
    assert.equal(huffmanDecode(Buffer.alloc(0), 0, 0)?.length, 0, 'the empty string');
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    assert.deepEqual(huffmanDecode(encodeHuffman(all), 0, encodeHuffman(all).length), all, 'every octet round-trips');
  });

  test('refuses malformed blocks: index 0 or past the table, size updates over the limit or after a field, overlong integers, truncated strings', () => {
    const bad: [string, string][] = [
      ['index 0', '80'],
      ['index past an empty dynamic table', 'be'],
      ['literal name index past the table', '7f 00 01 61'],
      ['size update over the limit', '3f e2 1f'],
      ['size update after a field', '82 20'],
      ['integer that never ends', 'ff ff ff ff'],
      ['integer over 2^31', 'ff ff ff ff ff 0f'],
      ['value longer than the block', '00 01 61 05 61'],
      ['name length but no name', '00'],
      ['invalid Huffman value', '00 01 61 81 00'],
    ];
    for (const [name, block] of bad) assert.notEqual(new HpackDecoder().decode(hex(block), () => {}), null, name);
  });

  test('follows size updates: 0 empties the table, an entry larger than the table empties it too', () => {
    const d = new HpackDecoder(4096);
    decode(d, indexed('a', 'b'));
    assert.equal(d.table.size, 34);
    decode(d, hex('20')); // size update to 0
    assert.deepEqual(d.table, { entries: [], size: 0 });
    decode(d, Buffer.concat([hex('3f 11'), indexed('a', 'b')])); // size update to 48
    assert.equal(d.table.size, 34);
    decode(d, indexed('c', 'x'.repeat(20))); // 53 > 48: empties the table, not added
    assert.deepEqual(d.table, { entries: [], size: 0 });
  });

  test("reads what Node's own encoder writes: Huffman, indexing and eviction over 300 requests", async () => {
    const blocks: Buffer[] = [];
    const sent: [string, string][][] = [];
    // A server that only speaks SETTINGS and collects the client's header blocks.
    const server = net.createServer((socket) => {
      socket.write(Buffer.concat([frame(FrameType.SETTINGS, 0, 0), frame(FrameType.SETTINGS, Flags.ACK, 0)]));
      let data = Buffer.alloc(0);
      let preface = false;
      socket.on('data', (d: Buffer) => {
        data = Buffer.concat([data, d]);
        if (!preface && data.length >= PREFACE.length) ((data = data.subarray(PREFACE.length)), (preface = true));
        while (preface && data.length >= 9 && data.length >= 9 + data.readUIntBE(0, 3)) {
          const len = data.readUIntBE(0, 3);
          if (data[3] === FrameType.HEADERS) {
            assert.ok(data[4] & Flags.END_HEADERS, 'one frame per block at these sizes');
            const pad = data[4] & Flags.PADDED ? data[9] : 0;
            const start = 9 + (data[4] & Flags.PADDED ? 1 : 0) + (data[4] & Flags.PRIORITY ? 5 : 0);
            blocks.push(Buffer.from(data.subarray(start, 9 + len - pad)));
          }
          data = data.subarray(9 + len);
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    client.on('error', () => {});
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const chars = "abcdefghijklmnopqrstuvwxyz0123456789-_.~!#$%&'*+^`|ABCXYZ /:;=?@[]{}()<>,\"\\\t\x80\xe9\xff";
    const word = (n: number) => Array.from({ length: n }, () => chars[rand(chars.length)]).join('');
    try {
      for (let i = 0; i < 300; i++) {
        const headers: Record<string, string> = { ':path': `/p/${word(rand(30))}`.replace(/[\s"\\<>`{}|^\x80-\xff]/g, 'x') };
        // Repeats (indexed), new names and values (literals, eviction past 4 KiB), sensitive ones.
        for (let j = 0; j < 1 + rand(8); j++) {
          const name = rand(3) === 0 ? `x-common-${rand(4)}` : `x-${word(1 + rand(12)).toLowerCase().replace(/[^a-z0-9-]/g, 'a')}`;
          headers[name] = `v${word(rand(3) === 0 ? 2 : rand(90))}`.trimEnd() + 'z';
        }
        if (rand(4) === 0) headers.authorization = `Bearer ${word(20)}`.replace(/[\s\x80-\xff]/g, 'q');
        if (rand(4) === 0) headers.cookie = `a=${word(rand(40))}`.replace(/[\s;\x80-\xff]/g, 'q');
        const req = client.request(headers, { endStream: true });
        req.on('error', () => {});
        sent.push([
          [':method', 'GET'],
          [':authority', `127.0.0.1:${(server.address() as AddressInfo).port}`],
          [':scheme', 'http'],
          ...Object.entries(headers).filter(([k]) => k.startsWith(':')),
          ...Object.entries(headers).filter(([k]) => !k.startsWith(':')),
        ]);
      }
      for (let i = 0; i < 500 && blocks.length < sent.length; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(blocks.length, sent.length);
      const d = new HpackDecoder(4096);
      for (const [i, block] of blocks.entries()) {
        const got = decode(d, block);
        const sortPseudo = (f: [string, string][]) => [...f.filter(([k]) => k.startsWith(':')).sort(), ...f.filter(([k]) => !k.startsWith(':'))];
        assert.deepEqual(sortPseudo(got), sortPseudo(sent[i]), `request ${i}`);
      }
    } finally {
      client.destroy();
      server.close();
    }
  });
});

function indexed(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x40, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
}

function encodeHuffman(bytes: Buffer): Buffer {
  let bits = '';
  for (const c of bytes) bits += HUFFMAN_CODES[c].code.toString(2).padStart(HUFFMAN_CODES[c].bits, '0');
  bits = bits.padEnd(Math.ceil(bits.length / 8) * 8, '1');
  return Buffer.from(Array.from({ length: bits.length / 8 }, (_, i) => parseInt(bits.slice(i * 8, i * 8 + 8), 2)));
}
