// The proxy's own log: JSON lines on stderr (stdout carries the access log).
//
// A log sink may fail for good: the reader of a pipe goes away (a dead log shipper,
// `sluice-proxy ... 2>&1 | head`), a disk fills. Losing log lines is then the lesser harm;
// the proxy keeps serving, and SIGTERM still drains and exits.

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

export type LogSink = {
  /** Writes `s`, or drops it once the sink has failed. Never throws. */
  write(s: string): void;
  readonly broken: boolean;
};

type Stream = { write(s: string): unknown; on(event: 'error', listener: (err: Error) => void): unknown; readonly writableLength?: number };

/**
 * Bytes a sink may hold for a reader that is alive but does not keep up: writes to a pipe
 * queue in memory, and a stalled log shipper must not grow the proxy without bound. Past
 * this, lines are dropped until the reader catches up.
 */
export const MAX_QUEUED_LOG_BYTES = 8 * 1024 * 1024;

/**
 * A stream the process logs to (stderr, stdout, an access-log file), made safe to lose.
 * Its 'error' events are handled here: unhandled, they reach the uncaughtException
 * handler, which logs, so writes to stderr, which fails again (process.stderr is never
 * destroyed, each write is tried anew and fails with EPIPE): an endless loop at 100 % CPU
 * that starved the drain. After the first failure the sink drops every line, and
 * `onBroken` is told once (to say so on another sink, if one still works). `onOverflow` is
 * told of each line dropped because MAX_QUEUED_LOG_BYTES are queued.
 */
export function logSink(stream: Stream, onBroken?: (err: Error) => void, onOverflow?: (queuedBytes: number) => void): LogSink {
  let broken = false;
  const fail = (err: Error) => {
    if (broken) return;
    broken = true;
    try {
      onBroken?.(err);
    } catch {
      // Whoever wanted to hear of it cannot: nothing more to do.
    }
  };
  // Kept for good: a write queued before the failure may still report one later.
  stream.on('error', fail);
  return {
    write(s) {
      if (broken) return;
      const queued = stream.writableLength ?? 0;
      if (queued > MAX_QUEUED_LOG_BYTES) {
        try {
          onOverflow?.(queued);
        } catch {
          // As for onBroken.
        }
        return;
      }
      try {
        stream.write(s);
      } catch (err) {
        fail(err as Error);
      }
    },
    get broken() {
      return broken;
    },
  };
}

/**
 * A Logger never throws, whatever the fields hold and whatever happens to `out`. Every line is `{time, level, msg, ...fields, component}`, the shape every Sluice program
 * logs in (README, "Logs"); `component` is the program unless a field names a finer one.
 */
export function createLogger(out: { write(s: string): unknown }, now: () => number = Date.now, component = 'sluice-proxy'): Logger {
  return (level, msg, fields) => {
    try {
      const time = new Date(now()).toISOString();
      let line: string;
      try {
        line = JSON.stringify({ time, level, msg, ...fields, component: fields?.component ?? component });
      } catch (err) {
        // A BigInt or a cycle in the fields: the message still gets out.
        line = JSON.stringify({ time, level, msg, log_error: `fields not serializable: ${(err as Error).message}`, component });
      }
      out.write(`${line}\n`);
    } catch {
      // A sink that throws loses this line; the caller (maybe the uncaughtException handler) must not see it.
    }
  };
}
