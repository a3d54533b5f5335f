#!/usr/bin/env -S node --max-semi-space-size=1
// sluice-proxy: flags -> config source (a static file for now) -> listeners -> admin.

import { createWriteStream } from 'node:fs';
import { parseFlags, usage } from './flags.ts';
import { createLogger } from './log.ts';
import { startProxy } from './run.ts';

const parsed = parseFlags(process.argv.slice(2));
if (parsed.ok === 'help') {
  process.stdout.write(usage);
  process.exit(0);
}
if (!parsed.ok) {
  process.stderr.write(`sluice-proxy: ${parsed.error}\n\n${usage}`);
  process.exit(2);
}
const flags = parsed.flags;
const log = createLogger(process.stderr);

const accessOut = flags.accessLog === 'off' ? null : flags.accessLog === 'stdout' ? process.stdout : createWriteStream(flags.accessLog, { flags: 'a' });
const proxy = await startProxy(flags, { log, accessOut });
if (!proxy.ok) {
  process.stderr.write(proxy.error);
  process.exit(proxy.exitCode);
}
const running = proxy.value;

process.on('SIGHUP', () => {
  running.reload().catch((err: unknown) => log('error', 'reload failed', { error: String(err) }));
});
let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  log('info', 'draining', { signal, drain_timeout_ms: flags.drainTimeoutMs });
  running.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      log('error', 'stop failed', { error: String(err) });
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
// A bug on one connection must not take every other connection down with it.
process.on('uncaughtException', (err) => log('error', 'uncaught exception', { error: String(err?.stack ?? err) }));
process.on('unhandledRejection', (err) => log('error', 'unhandled rejection', { error: String((err as Error)?.stack ?? err) }));
