// Sends the reporter's entries (telemetry/failure-report.ts) to the control plane over
// Envoy's gRPC access log service, StreamAccessLogs: the same address, mTLS credentials and
// channel options as ADS, so it goes where ADS goes (the control plane's :15012, outbound
// from the proxy) and the control plane admits it the way it admits the ADS stream. The
// first message names the node; later ones carry batches. A broken stream is reopened after
// a jittered backoff; meanwhile entries wait in the reporter's bounded queue.

import * as grpc from '@grpc/grpc-js';
import { accessLogPackageDefinition } from '../../xds/protos.ts';
import type { Logger } from '../http/rescue.ts';
import type { FailureReporter } from '../telemetry/failure-report.ts';
import type { AdsClock } from './ads-client.ts';

export const FAILURE_LOG_NAME = 'sluice.dev/failures';
const BATCH = 100;

export type FailureStreamDeps = {
  readonly target: string;
  readonly credentials: () => grpc.ChannelCredentials;
  readonly channelOptions?: grpc.ChannelOptions;
  /** The Node message as the ADS stream sends it (id and metadata). */
  readonly node: object;
  readonly reporter: FailureReporter;
  readonly clock: AdsClock;
  readonly random: () => number;
  readonly log: Logger;
};

type Call = grpc.ClientWritableStream<object>;

export class FailureStream {
  #deps: FailureStreamDeps;
  #client: grpc.Client | null = null;
  #call: Call | null = null;
  #identified = false;
  #attempt = 0;
  #cancelTimer: (() => void) | null = null;
  #closed = false;
  #flushing = false;
  #watching = false;

  constructor(deps: FailureStreamDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#deps.reporter.enable(() => this.#flushSoon());
    this.#open();
  }

  close(): void {
    this.#closed = true;
    this.#cancelTimer?.();
    this.#call?.end();
    this.#client?.close();
  }

  #open(): void {
    if (this.#closed) return;
    const pkg = grpc.loadPackageDefinition(accessLogPackageDefinition()) as unknown as {
      envoy: { service: { accesslog: { v3: { AccessLogService: grpc.ServiceClientConstructor } } } };
    };
    const client = new pkg.envoy.service.accesslog.v3.AccessLogService(this.#deps.target, this.#deps.credentials(), this.#deps.channelOptions);
    this.#client = client;
    this.#identified = false;
    const call = (client as unknown as { StreamAccessLogs(cb: (err: grpc.ServiceError | null) => void): Call }).StreamAccessLogs((err) => {
      if (this.#call !== call) return;
      this.#call = null;
      client.close();
      if (this.#closed) return;
      if (err !== null && err.code !== grpc.status.CANCELLED) this.#deps.log('warn', 'failure report stream to the control plane ended; retrying', { error: err.details || err.message });
      this.#retry();
    });
    call.on('error', () => {});
    this.#call = call;
    this.#flushSoon();
  }

  #retry(): void {
    const n = Math.min(this.#attempt++, 6);
    const ms = Math.floor(this.#deps.random() * Math.min(30_000, 500 * 2 ** n));
    this.#cancelTimer = this.#deps.clock.setTimer(() => {
      this.#cancelTimer = null;
      this.#open();
    }, ms);
  }

  #flushSoon(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    setImmediate(() => {
      this.#flushing = false;
      this.#flush();
    }).unref();
  }

  /** Writes what is queued while the stream stands and takes it (gRPC's own flow control buffers the rest). */
  #flush(): void {
    const call = this.#call;
    if (call === null) return;
    // Entries stay in the reporter's bounded queue until the connection stands: written into a
    // call that then fails, they would be lost.
    const channel = this.#client!.getChannel();
    const state = channel.getConnectivityState(true);
    if (state !== grpc.connectivityState.READY) {
      if (!this.#watching) {
        this.#watching = true;
        channel.watchConnectivityState(state, Infinity, () => {
          this.#watching = false;
          this.#flushSoon();
        });
      }
      return;
    }
    // A connection that stands ends the backoff, whether or not anything is queued.
    this.#attempt = 0;
    for (;;) {
      const entries = this.#deps.reporter.take(BATCH);
      if (entries.length === 0) return;
      const message = { ...(this.#identified ? {} : { identifier: { node: this.#deps.node, log_name: FAILURE_LOG_NAME } }), http_logs: { log_entry: entries } };
      this.#identified = true;
      this.#deps.reporter.stats.sent += entries.length;
      if (!call.write(message)) {
        call.once('drain', () => this.#flushSoon());
        return;
      }
    }
  }
}
