// The baseline of the xDS push bench (xds-push.ts): the least an ADS server on the same
// gRPC library can do. It answers each stream's first request of a type with the bytes
// sluice-cp sent one real proxy for it (captured in the same run), and on a trigger writes
// one pre-encoded response (the same bytes as sluice-cp's, but a new version) to every
// stream that subscribed to its type. No snapshot, no versions to compute, no
// serialization per stream: the floor of fan-out with grpc-js on this machine.
//
// `node test/bench/ads-baseline-server.ts FILE` (forked, with IPC), FILE a JSON
// BaselinePlan. Says { ev: 'listening', port }; on { cmd: 'push', index } writes
// pushes[index] and says { ev: 'written', streams }; on { cmd: 'stop' } exits.

import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { proxyEnv } from '../../proxy/node-flags.ts';
import { rawAdsService } from './ads-wire.ts';

/** Base64 DiscoveryResponse bytes: the initial answer per type URL, and the pushes of `pushTypeUrl`. */
export type BaselinePlan = { readonly initial: Record<string, string>; readonly pushTypeUrl: string; readonly pushes: readonly string[] };

type Message = { ev: 'listening'; port: number } | { ev: 'written'; streams: number };

const SELF = fileURLToPath(import.meta.url);

export type BaselineServer = { readonly child: ChildProcess; readonly address: string; push(index: number): void; stop(): Promise<void> };

/** Forks the baseline server on `planFile` and waits for its port. */
export function startAdsBaseline(planFile: string): Promise<BaselineServer> {
  const child = fork(SELF, [planFile], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: proxyEnv(join(tmpdir(), 'sluice-compile-cache')) });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error('the ADS baseline server did not start within 30 s'))), 30_000);
    void exited.then(() => reject(new Error('the ADS baseline server exited before listening')));
    child.on('message', (m: Message) => {
      if (m.ev !== 'listening') return;
      clearTimeout(timer);
      resolve({
        child,
        address: `127.0.0.1:${m.port}`,
        push: (index) => child.send({ cmd: 'push', index }),
        stop: async () => {
          if (child.connected) child.send({ cmd: 'stop' });
          const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(t);
        },
      });
    });
  });
}

function serve(plan: BaselinePlan): void {
  const initial = new Map(Object.entries(plan.initial).map(([t, b]) => [t, Buffer.from(b, 'base64')]));
  const pushes = plan.pushes.map((b) => Buffer.from(b, 'base64'));
  const subscribed = new Set<grpc.ServerDuplexStream<Record<string, unknown>, Buffer>>();
  const server = new grpc.Server();
  server.addService(rawAdsService(), {
    StreamAggregatedResources: (call: grpc.ServerDuplexStream<Record<string, unknown>, Buffer>) => {
      const seen = new Set<string>();
      call.on('data', (req: { type_url?: string }) => {
        const type = req.type_url ?? '';
        if (seen.has(type)) return; // an ACK, or a change of names: nothing new to say
        seen.add(type);
        if (type === plan.pushTypeUrl) subscribed.add(call);
        const bytes = initial.get(type);
        if (bytes !== undefined) call.write(bytes);
      });
      const gone = () => subscribed.delete(call);
      call.on('end', () => (gone(), call.end()));
      call.on('error', gone);
      call.on('cancelled', gone);
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    process.send!({ ev: 'listening', port } satisfies Message);
  });
  process.on('message', (c: { cmd: 'push'; index: number } | { cmd: 'stop' }) => {
    if (c.cmd === 'stop') {
      server.forceShutdown();
      process.exit(0);
    }
    const bytes = pushes[c.index % pushes.length];
    for (const call of subscribed) call.write(bytes);
    process.send!({ ev: 'written', streams: subscribed.size } satisfies Message);
  });
  process.on('disconnect', () => process.exit(0));
}

if (import.meta.main) serve(JSON.parse(readFileSync(process.argv[2], 'utf8')) as BaselinePlan);
