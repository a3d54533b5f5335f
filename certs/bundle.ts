// Trust bundles: the roots a workload accepts, several at once so that a CA can be rotated
// by overlap (old and new root trusted together, then the old one dropped).

import { X509Certificate } from 'node:crypto';
import { certificateBlocks } from './pem.ts';
import type { Result } from './result.ts';

/** The roots of a bundle, each checked to be a CA certificate. */
export function readBundle(pem: string): Result<string[], string> {
  const blocks = certificateBlocks(pem);
  if (blocks.length === 0) return { ok: false, error: 'the bundle holds no certificate' };
  for (const [i, block] of blocks.entries()) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (err) {
      return { ok: false, error: `certificate ${i + 1} of the bundle cannot be read: ${(err as Error).message}` };
    }
    if (!cert.ca) return { ok: false, error: `certificate ${i + 1} of the bundle (${cert.subject.replace(/\n/g, ', ')}) is not a CA certificate` };
  }
  return { ok: true, value: blocks.map((b) => `${b}\n`) };
}

/** The union of bundles, each root once, in first-seen order. */
export function mergeBundles(...pems: readonly string[]): string {
  const seen = new Set<string>();
  let out = '';
  for (const pem of pems) {
    for (const block of certificateBlocks(pem)) {
      const fingerprint = new X509Certificate(block).fingerprint256;
      if (seen.has(fingerprint)) continue;
      seen.add(fingerprint);
      out += `${block}\n`;
    }
  }
  return out;
}
