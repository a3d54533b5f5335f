// The proxy's own log: JSON lines on stderr (stdout carries the access log).

import type { Logger } from './http/rescue.ts';

/** Lets a message through the first time, then once a minute: a flood of the same failure must not flood the log. */
export function onceAMinute(now: () => number): { allow(key: string): boolean } {
  const last = new Map<string, number>();
  return {
    allow(key) {
      const t = now();
      const seen = last.get(key);
      if (seen !== undefined && t - seen < 60_000) return false;
      if (last.size > 1000) last.clear();
      last.set(key, t);
      return true;
    },
  };
}

export function createLogger(out: { write(s: string): unknown }, now: () => number = Date.now): Logger {
  return (level, msg, fields) => {
    out.write(`${JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...fields })}\n`);
  };
}
