#!/usr/bin/env -S node --max-semi-space-size=1
// sluice-proxy: flags -> config source (a static file for now) -> listeners -> admin.

import { createWriteStream, readFileSync } from 'node:fs';
import { parseFlags, usage } from './flags.ts';
import { createLogger, logSink, onceAMinute } from './log.ts';
import { startProxy } from './run.ts';
import { stopWithWrapper } from '../xds/wrapper.ts';

// `sluice-proxy wait`: the postStart hook of an injected pod without native sidecars (wait-ready.ts).
if (process.argv[2] === 'wait') process.exit(await (await import('./wait-ready.ts')).waitMain(process.argv.slice(3), process.stderr));
// `sluice-proxy capture ...` is the capture step (an init container's), not a proxy.
if (process.argv[2] === 'capture') {
  const { runCapture } = await import('./capture/cli.ts');
  process.exit(runCapture(process.argv.slice(3), process.stdout, process.stderr));
}
const parsed = parseFlags(process.argv.slice(2));
if (parsed.ok === 'version') {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  process.stdout.write(`sluice-proxy ${version}\n`);
  process.exit(0);
}
if (parsed.ok === 'help') {
  process.stdout.write(usage);
  process.exit(0);
}
if (!parsed.ok) {
  process.stderr.write(`sluice-proxy: ${parsed.error}\n\n${usage}`);
  process.exit(2);
}
const flags = parsed.flags;
// Both sinks may lose their reader for good (a dead log shipper, `| head`): see log.ts.
const stderr = logSink(process.stderr);
const log = createLogger(stderr);
const accessBroken = (err: Error) => log('warn', 'the access log cannot be written; its lines are dropped from now on', { access_log: flags.accessLog, error: err.message });
const overflowLog = onceAMinute(Date.now);
const accessOverflow = (queued: number) => {
  if (overflowLog.allow('access')) log('warn', "the access log's reader does not keep up; lines are dropped while this much is queued", { access_log: flags.accessLog, queued_bytes: queued });
};
const accessOut = flags.accessLog === 'off' ? null : logSink(flags.accessLog === 'stdout' ? process.stdout : createWriteStream(flags.accessLog, { flags: 'a' }), accessBroken, accessOverflow);
// The handlers go in before anything is started: a supervisor (or a test) acting on the
// `proxy ready` line at once must find them, or SIGTERM kills the proxy undrained. A signal
// that comes while the proxy is starting is acted on once it has started.
let early: string | null = null;
let onSignal: (signal: string) => void = (signal) => {
  early ??= signal;
};
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGINT', () => onSignal('SIGINT'));
stopWithWrapper();
const proxy = await startProxy(flags, { log, accessOut });
if (!proxy.ok) {
  stderr.write(proxy.error);
  process.exit(proxy.exitCode);
}
const running = proxy.value;

process.on('SIGHUP', () => {
  running.reload().catch((err: unknown) => log('error', 'reload failed', { error: String(err) }));
});
/** How long past the drain timeout closing the admin servers and the rest may take. */
const STOP_GRACE_MS = 5_000;
let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  log('info', 'draining', { signal, drain_timeout_ms: flags.drainTimeoutMs });
  // The drain is bounded by its timeout; closing what is left should take moments. Should
  // anything still hang, the process goes anyway: a SIGTERM that never ends is worse.
  setTimeout(() => {
    log('error', 'stopping took too long; exiting', { waited_ms: flags.drainTimeoutMs + STOP_GRACE_MS });
    process.exit(1);
  }, flags.drainTimeoutMs + STOP_GRACE_MS).unref();
  running.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      log('error', 'stop failed', { error: String(err) });
      process.exit(1);
    },
  );
};
onSignal = stop;
if (early !== null) stop(early);
// A bug on one connection must not take every other connection down with it. The log
// never throws and never writes to a failed sink, so a broken stderr cannot feed this
// handler with its own errors (log.ts).
process.on('uncaughtException', (err) => log('error', 'uncaught exception', { error: String(err?.stack ?? err) }));
process.on('unhandledRejection', (err) => log('error', 'unhandled rejection', { error: String((err as Error)?.stack ?? err) }));
