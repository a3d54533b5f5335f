// A tiny gRPC service for xDS tests, with JSON messages so no .proto is needed: each server
// answers with its own name, so a test can count where calls went, or with UNAVAILABLE
// while `unavailable` counts down; after `delayMs` when it is set.

import * as grpc from '@grpc/grpc-js';

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString('utf8')) as unknown,
};

export const GREETER: grpc.ServiceDefinition = {
  SayHello: {
    path: '/helloworld.Greeter/SayHello',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

export type Greeter = { readonly name: string; readonly port: number; calls: number; unavailable: number; delayMs: number; stop(): Promise<void> };

export async function startGreeter(name: string): Promise<Greeter> {
  const server = new grpc.Server();
  const g: Greeter = {
    name,
    port: 0,
    calls: 0,
    unavailable: 0,
    delayMs: 0,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
  server.addService(GREETER, {
    SayHello: (_call: unknown, cb: grpc.sendUnaryData<{ from: string }>) => {
      g.calls++;
      if (g.unavailable > 0) {
        g.unavailable--;
        cb({ code: grpc.status.UNAVAILABLE, details: 'try again' });
      } else if (g.delayMs > 0) setTimeout(() => cb(null, { from: name }), g.delayMs);
      else cb(null, { from: name });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return Object.assign(g, { port });
}
