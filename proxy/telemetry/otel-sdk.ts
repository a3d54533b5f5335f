// The OpenTelemetry SDK, behind the one function tracing.ts needs. This file is imported
// only by `import()` the first time a config turns tracing on (tracing.ts): a proxy that
// never traces never loads @opentelemetry/*, and keeps its memory.
//
// The trace parts of the SDK are imported from the packages @opentelemetry/sdk-node is made
// of (its `tracing`, `resources` and `api` are these): sdk-node's own entry point also loads
// the metrics and logs SDKs, the instrumentation loader and every exporter, 20 MiB of live
// heap against 4 for these, which a proxy running with a 1 MiB young generation pays on
// every major GC (BENCHMARKS.md, "Tracing").
//
// No global is registered (no NodeSDK.start(), no global tracer provider or context
// manager): the proxy passes each span's parent explicitly, and several providers may live
// at once while a changed exporter replaces the old one.

import { Metadata } from '@grpc/grpc-js';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import * as api from '@opentelemetry/api';
import * as resources from '@opentelemetry/resources';
import * as tracing from '@opentelemetry/sdk-trace-base';
import type { TracingConfig } from '../config/model.ts';
import type { IncomingTrace } from './trace-context.ts';

export type SpanKindName = 'server' | 'client';

export type SdkTracer = {
  /** A recorded span whose parent is the caller's (a root span when `parent` is null); called for sampled requests only. */
  start(name: string, kind: SpanKindName, parent: IncomingTrace | null): api.Span;
  /** Exports what is queued, then stops; spans ended later are dropped. */
  shutdown(): Promise<void>;
};

/** Export batches at most this often: a trace shows up within about a second. */
const EXPORT_DELAY_MS = 1000;

/** `onExportError` hears of each batch the collector did not take (the SDK itself says nothing). */
export function createSdkTracer(config: Pick<TracingConfig, 'serviceName' | 'exporter'>, attributes: Readonly<Record<string, string>>, version: string, onExportError: (err: Error) => void): SdkTracer {
  const { protocol, endpoint, headers } = config.exporter;
  const otlp =
    protocol === 'grpc'
      ? new GrpcExporter({ url: endpoint, metadata: metadataOf(headers) })
      : new ProtoExporter({ url: endpoint, headers: { ...headers } });
  const exporter: tracing.SpanExporter = {
    export: (spans, done) =>
      otlp.export(spans, (result) => {
        if (result.code !== 0) onExportError(result.error ?? new Error('export failed'));
        done(result);
      }),
    shutdown: () => otlp.shutdown(),
    forceFlush: () => otlp.forceFlush(),
  };
  const provider = new tracing.BasicTracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': config.serviceName, ...attributes }),
    // tracing.ts samples (parent-based, samplingPercent for the traces it starts) and calls start() for sampled requests only.
    sampler: new tracing.AlwaysOnSampler(),
    spanProcessors: [new tracing.BatchSpanProcessor(exporter, { scheduledDelayMillis: EXPORT_DELAY_MS })],
  });
  const tracer = provider.getTracer('sluice-proxy', version);
  return {
    start(name, kind, parent) {
      const context =
        parent === null
          ? api.ROOT_CONTEXT
          : api.trace.setSpanContext(api.ROOT_CONTEXT, {
              traceId: parent.traceId,
              spanId: parent.spanId,
              traceFlags: parent.sampled ? api.TraceFlags.SAMPLED : api.TraceFlags.NONE,
              isRemote: true,
              ...(parent.traceState === '' ? {} : { traceState: api.createTraceState(parent.traceState) }),
            });
      return tracer.startSpan(name, { kind: kind === 'server' ? api.SpanKind.SERVER : api.SpanKind.CLIENT }, context);
    },
    shutdown: () => provider.shutdown(),
  };
}

function metadataOf(headers: Readonly<Record<string, string>>): Metadata {
  const m = new Metadata();
  for (const [k, v] of Object.entries(headers)) m.set(k, v);
  return m;
}
