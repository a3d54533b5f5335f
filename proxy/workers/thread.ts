// One worker thread of a proxy with --workers N (pool.ts starts it): a ProxyServer with its
// own telemetry, fed each config the main thread applied, its listeners bound with
// SO_REUSEPORT on the same ports as the main thread's, so the kernel spreads connections.
// It has no admin server and no config source of its own: the main thread asks it for its
// counts when scraped and tells it when to drain.

import { createWriteStream } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { deepFreeze } from '../config/frozen.ts';
import type { Logger } from '../http/rescue.ts';
import { createLogger, logSink, onceAMinute } from '../log.ts';
import { createRuntime } from '../runtime.ts';
import { ProxyIdentity } from '../tls/identity.ts';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.ts';

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);

const base = createLogger(logSink(process.stderr));
const log: Logger = (level, msg, fields) => base(level, msg, { ...fields, worker: init.index });
// Like main.ts: a bug on one connection must not take the others down; the thread logs and goes on.
process.on('uncaughtException', (err) => log('error', 'uncaught exception', { error: String(err?.stack ?? err) }));
process.on('unhandledRejection', (err) => log('error', 'unhandled rejection', { error: String((err as Error)?.stack ?? err) }));

const overflowLog = onceAMinute(Date.now);
const accessOut =
  init.accessLog === 'off'
    ? null
    : logSink(
        init.accessLog === 'stdout' ? process.stdout : createWriteStream(init.accessLog, { flags: 'a' }),
        (err) => log('warn', 'the access log cannot be written; its lines are dropped from now on', { access_log: init.accessLog, error: err.message }),
        (queued) => {
          if (overflowLog.allow('access')) log('warn', "the access log's reader does not keep up; lines are dropped while this much is queued", { access_log: init.accessLog, queued_bytes: queued });
        },
      );
const identity = new ProxyIdentity(init.baseDir, { now: Date.now, log });
const runtime = createRuntime({ log, accessOut }, identity, init.probe, init.self);
// Failed requests go to the main thread, which sends them to the control plane (sluicectl explain),
// with how many this thread's rate limit let go since its last message, for /config_dump.
let limitedTold = 0;
const sendFailures = () => {
  const limited = runtime.failures.stats.limited - limitedTold;
  limitedTold += limited;
  send({ type: 'failures', entries: runtime.failures.take(100), limited });
};
runtime.failures.enable(sendFailures);
// The limit drops without queueing anything: what it let go is told within a second.
setInterval(() => runtime.failures.stats.limited !== limitedTold && sendFailures(), 1000).unref();

// One message at a time, in order: an apply must not interleave with the next one.
let queue: Promise<void> = Promise.resolve();
port.on('message', (m: ToWorker) => {
  queue = queue.then(() => handle(m)).catch((err: unknown) => log('error', 'worker message failed', { type: m.type, error: String((err as Error)?.stack ?? err) }));
});

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'apply': {
      const svid = await identity.use(m.identity);
      if (!svid.ok) return send({ type: 'applied', id: m.id, error: `identity: ${svid.error}` });
      try {
        await runtime.server.apply(deepFreeze(m.config));
      } catch (err) {
        return send({ type: 'applied', id: m.id, error: (err as Error).message });
      }
      return send({ type: 'applied', id: m.id, error: null });
    }
    case 'snapshot':
      return send({ type: 'snapshot', id: m.id, snapshot: { metrics: runtime.metrics.snapshot(), clusters: runtime.server.clusters() } });
    case 'drain':
      await runtime.server.drain(m.timeoutMs);
      await runtime.close();
      identity.close();
      send({ type: 'drained' });
      process.exit(0);
  }
}
