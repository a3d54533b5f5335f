// When to renew a certificate: at half its lifetime, with jitter so that a fleet whose
// certificates were issued together does not come back to the CA in one wave.

/** Jitter: up to this share of the lifetime, either side of the half-way point. */
const JITTER_SHARE = 0.1;

/** The clock time (ms) to renew a certificate valid from `notBefore` to `notAfter`. */
export function renewalTime(notBefore: Date, notAfter: Date, random: () => number): number {
  const start = notBefore.getTime();
  const lifetime = notAfter.getTime() - start;
  return start + lifetime * (0.5 + (random() * 2 - 1) * JITTER_SHARE);
}

/** How long from `now` until renewal is due; 0 when it already is. */
export function renewalDelay(notBefore: Date, notAfter: Date, now: number, random: () => number): number {
  return Math.max(0, renewalTime(notBefore, notAfter, random) - now);
}
