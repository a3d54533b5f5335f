// A bare ADS stream for tests that must drive ACKs, NACKs and nonces by hand: the real
// @grpc/grpc-js client with the Envoy ADS service definition, and a queue of responses.

import * as grpc from '@grpc/grpc-js';
import { adsPackageDefinition, unpack } from '../../../xds/index.ts';

export type Response = { version_info: string; type_url: string; nonce: string; resources: { type_url: string; value: Buffer }[] };

export type Stream = {
  send(req: Record<string, unknown>): void;
  /** The next response (waits for it; fails after 10 s). */
  next(): Promise<Response>;
  /** The stream's end status, once it ended. */
  readonly ended: Promise<grpc.StatusObject | Error>;
  close(): void;
};

type AdsClient = grpc.Client & { StreamAggregatedResources(): grpc.ClientDuplexStream<unknown, Response> };

export function openAds(address: string, credentials = grpc.credentials.createInsecure()): Stream {
  const pkg = grpc.loadPackageDefinition(adsPackageDefinition()) as unknown as {
    envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: new (addr: string, creds: grpc.ChannelCredentials) => AdsClient } } } };
  };
  const client = new pkg.envoy.service.discovery.v3.AggregatedDiscoveryService(address, credentials);
  const call = client.StreamAggregatedResources();
  const queue: Response[] = [];
  const waiting: ((r: Response) => void)[] = [];
  call.on('data', (r: Response) => {
    const w = waiting.shift();
    if (w !== undefined) w(r);
    else queue.push(r);
  });
  const ended = new Promise<grpc.StatusObject | Error>((resolve) => {
    call.on('status', resolve);
    call.on('error', resolve);
  });
  return {
    send: (req) => call.write(req),
    next: () => {
      const r = queue.shift();
      if (r !== undefined) return Promise.resolve(r);
      return new Promise<Response>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no ADS response within 10 s')), 10_000);
        waiting.push((x) => {
          clearTimeout(timer);
          resolve(x);
        });
      });
    },
    ended,
    close: () => {
      call.end();
      client.close();
    },
  };
}

/** The resources of a response as plain objects, by name. */
export function decoded(r: Response): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const any of r.resources) {
    const u = unpack(any);
    if (!u.ok) throw new Error(u.error);
    const v = u.value as Record<string, unknown>;
    out.set((v.name ?? v.cluster_name) as string, v);
  }
  return out;
}

/** A Struct as proto-loader wants it, from plain JSON. */
export function struct(obj: Record<string, unknown>): { fields: Record<string, unknown> } {
  const value = (v: unknown): unknown =>
    typeof v === 'string' ? { stringValue: v } : typeof v === 'number' ? { numberValue: v } : typeof v === 'boolean' ? { boolValue: v } : { structValue: struct(v as Record<string, unknown>) };
  return { fields: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, value(v)])) };
}
