// The control plane's log: JSON lines on stderr, one per event, with the time from the clock it is given.
//
// stderr may lose its reader for good (a dead log shipper, `sluice-cp 2>&1 | head`). The
// control plane then goes on without its log: a write that fails must neither crash it
// mid-request (an unhandled 'error' event on process.stderr is an uncaught exception) nor
// keep SIGTERM from closing the store.

export type Logger = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export type LogSink = {
  /** Writes `s`, or drops it once the sink has failed. Never throws. */
  write(s: string): void;
  readonly broken: boolean;
};

/** A stream to log to, made safe to lose: its errors are handled here, and after the first one every line is dropped. */
export function logSink(stream: { write(s: string): unknown; on(event: 'error', listener: (err: Error) => void): unknown }): LogSink {
  let broken = false;
  // Kept for good: a write queued before the failure may still report one later.
  stream.on('error', () => {
    broken = true;
  });
  return {
    write(s) {
      if (broken) return;
      try {
        stream.write(s);
      } catch {
        broken = true;
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
export function createLogger(out: { write(s: string): unknown }, now: () => number = Date.now, component = 'sluice-cp'): Logger {
  return (level, msg, fields) => {
    try {
      const time = new Date(now()).toISOString();
      let line: string;
      try {
        line = JSON.stringify({ time, level, msg, ...fields, component: fields?.component ?? component });
      } catch (err) {
        line = JSON.stringify({ time, level, msg, log_error: `fields not serializable: ${(err as Error).message}`, component });
      }
      out.write(`${line}\n`);
    } catch {
      // A sink that throws loses this line; the caller must not see it.
    }
  };
}
