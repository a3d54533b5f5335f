// The proxy's own log: JSON lines on stderr (stdout carries the access log).

import type { Logger } from './http/rescue.ts';

export function createLogger(out: { write(s: string): unknown }, now: () => number = Date.now): Logger {
  return (level, msg, fields) => {
    out.write(`${JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...fields })}\n`);
  };
}
