// The control plane's log: JSON lines on stderr, one per event, with the time from the clock it is given.

export type Logger = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export function createLogger(out: { write(s: string): unknown }, now: () => number = Date.now): Logger {
  return (level, msg, fields) => {
    out.write(`${JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...fields })}\n`);
  };
}
