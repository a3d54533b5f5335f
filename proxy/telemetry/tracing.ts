// Tracing, as the proxy server sees it: `configure` with each config, `wrap` each HTTP
// listener's handler, `end` each traced request once it is over. With tracing off `wrap`
// returns the handler unchanged and `ctx.span` stays null, so a request pays one branch (in
// the telemetry step) and allocates nothing. The SDK (otel-sdk.ts) is imported the first
// time a config turns tracing on, and changing or dropping the exporter needs no restart.

import type { HttpListener, TracingConfig } from '../config/model.ts';
import type { RequestContext } from '../http/context.ts';
import type { Handler } from '../http/filter.ts';
import type { Logger } from '../http/rescue.ts';
import { onceAMinute } from '../log.ts';
import type { SdkTracer } from './otel-sdk.ts';
import { spanAttributes, spanName, type MeshSelf } from './span-attributes.ts';
import { readTraceContext, writeTraceContext } from './trace-context.ts';

export type { MeshSelf } from './span-attributes.ts';

type SdkModule = typeof import('./otel-sdk.ts');

export type Tracing = {
  /**
   * Called by every config apply, before the listeners' handlers are built: loads the SDK
   * the first time `config` is set, and replaces the exporter when it changed. Never
   * throws: an exporter that cannot be built is logged and tracing stays off.
   */
  configure(config: TracingConfig | undefined): Promise<void>;
  /** The listener's handler, starting a span per request when tracing is on; `handler` itself when off. */
  wrap(handler: Handler, listener: HttpListener): Handler;
  /** Ends the request's span (ctx.span not null) with its attributes. Called once, when the request is over. */
  end(ctx: RequestContext): void;
  /** Whether the SDK was ever imported into this process. */
  readonly sdkLoaded: boolean;
  /** Exports what is queued and stops. */
  close(): Promise<void>;
};

/** How long a replaced exporter lives on, so that spans of requests in flight still go out. */
const RETIRE_MS = 10_000;

export function createTracing(log: Logger, self: MeshSelf, version: string): Tracing {
  let sdk: SdkModule | null = null;
  let current: { key: string; tracer: SdkTracer; percent: number } | null = null;
  const retiring = new Set<SdkTracer>();
  const exportErrors = onceAMinute(Date.now);

  const retire = (tracer: SdkTracer): void => {
    retiring.add(tracer);
    setTimeout(() => {
      retiring.delete(tracer);
      void tracer.shutdown().catch(() => {});
    }, RETIRE_MS).unref();
  };

  return {
    async configure(config) {
      const key = config === undefined ? '' : JSON.stringify(config);
      if (key === (current?.key ?? '')) return;
      const old = current;
      current = null;
      if (old !== null) retire(old.tracer);
      if (config === undefined) {
        log('info', 'tracing off', {});
        return;
      }
      try {
        sdk ??= await import('./otel-sdk.ts');
        const attributes: Record<string, string> = {};
        if (self.namespace !== undefined) attributes['service.namespace'] = self.namespace;
        if (self.workload !== undefined) attributes['service.instance.id'] = self.workload;
        if (self.zone !== undefined) attributes['cloud.availability_zone'] = self.zone;
        const endpoint = config.exporter.endpoint;
        const onExportError = (err: Error) => {
          if (exportErrors.allow(endpoint)) log('warn', 'spans could not be exported; they are dropped (said once a minute)', { endpoint, error: err.message });
        };
        current = { key, tracer: sdk.createSdkTracer(config, attributes, version, onExportError), percent: config.samplingPercent };
        log('info', 'tracing on', { exporter: config.exporter.protocol, endpoint: config.exporter.endpoint, sampling_percent: config.samplingPercent });
      } catch (err) {
        log('error', 'tracing stays off: the OpenTelemetry exporter could not be started', { endpoint: config.exporter.endpoint, error: (err as Error).message });
      }
    },

    wrap(handler, listener) {
      if (current === null || listener.traced === false) return handler;
      const { tracer, percent } = current;
      // Envoy's rule: a listener whose traffic_direction is OUTBOUND makes client spans, any other server spans.
      const kind = listener.direction === 'OUTBOUND' ? 'client' : 'server';
      return (ctx) => {
        const parent = readTraceContext(ctx.headers);
        // Parent-based sampling, decided here: only a sampled request reaches the SDK, so at 1 %
        // the other 99 cost two ids and a header, not a span (the SDK's sampler is AlwaysOn).
        const sampled = parent !== null ? parent.sampled : percent > 0 && Math.random() * 100 < percent;
        if (!sampled) {
          writeTraceContext(ctx.headers, parent?.traceId ?? randomId(32), randomId(16), false, parent);
          return handler(ctx);
        }
        const span = tracer.start(ctx.method, kind, parent);
        const sc = span.spanContext();
        ctx.span = { span, kind, traceId: sc.traceId, spanId: sc.spanId, sampled: true };
        writeTraceContext(ctx.headers, sc.traceId, sc.spanId, true, parent);
        return handler(ctx);
      };
    },

    end(ctx) {
      const t = ctx.span!;
      const status = ctx.status;
      t.span.updateName(spanName(ctx));
      t.span.setAttributes(spanAttributes(ctx, t.kind, self));
      // Semconv: a server span is an error on 5xx, a client span on 4xx too; no status at all (DC, a reset) is one as well.
      if (status === 0 || status >= 500 || (t.kind === 'client' && status >= 400)) t.span.setStatus({ code: 2 /* ERROR */ });
      t.span.end();
    },

    get sdkLoaded() {
      return sdk !== null;
    },

    async close() {
      const all = [...retiring, ...(current === null ? [] : [current.tracer])];
      current = null;
      retiring.clear();
      await Promise.all(all.map((t) => t.shutdown().catch(() => {})));
    },
  };
}

const HEX = '0123456789abcdef';

/** `digits` random lower-case hex digits, never all zero (W3C: an all-zero id is invalid). */
function randomId(digits: number): string {
  let id = '';
  let zero = true;
  for (let i = 0; i < digits; i++) {
    const d = (Math.random() * 16) | 0;
    if (d !== 0) zero = false;
    id += HEX[d];
  }
  return zero ? randomId(digits) : id;
}
