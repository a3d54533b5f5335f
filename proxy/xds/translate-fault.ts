// Envoy's fault filter -> the proxy's FaultInjection (xds/SUBSET.md, "FaultInjectionPolicy"),
// the model a static file's FaultInjectionPolicy gives a rule, so the same filter
// (proxy/http/filters/fault.ts) runs. The filter sits in an HttpConnectionManager's
// http_filters with no fault of its own; each route says its fault in
// `typed_per_filter_config["envoy.filters.http.fault"]`, read as Envoy reads it: what it
// leaves unset means what it means to Envoy (no percentage: 0 %), and what a Sluice proxy
// cannot do the way Envoy would (header-driven faults, header matching, max_active_faults,
// response rate limits, downstream nodes, runtime keys) is a problem with its path.

import type { FaultInjection, RouteRule } from '../config/model.ts';
import { EMBEDDED_TYPE_URLS } from '../../xds/index.ts';
import type { UnattachedRoute } from './translate-route.ts';
import { DURATION, durationMs, enumOf, message, readTyped, scalar, type Pb, type Sink } from './shape.ts';

export const FAULT_NAME = 'envoy.filters.http.fault';

const DENOMINATORS: Readonly<Record<string, number>> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };
const FRACTIONAL_PERCENT = message({ numerator: scalar, denominator: enumOf(...Object.keys(DENOMINATORS)) });

/** envoy.extensions.filters.http.fault.v3.HTTPFault, as far as a Sluice proxy reads it. */
export const HTTP_FAULT = message({
  delay: message({ fixed_delay: DURATION, percentage: FRACTIONAL_PERCENT }),
  abort: message({ http_status: scalar, grpc_status: scalar, percentage: FRACTIONAL_PERCENT }),
});

/** The filter's own config, in http_filters: the faults are the routes'. */
export function checkFilterConfig(config: Pb, sink: Sink): void {
  for (const field of ['delay', 'abort']) {
    if (config[field] !== undefined) sink.add(field, `a Sluice proxy injects the faults of each route (typed_per_filter_config["${FAULT_NAME}"]), not one for the whole listener; leave the filter's own config empty`);
  }
}

/** A route's typed_per_filter_config: the fault filter's entry, the only one a Sluice proxy reads. */
export function routeFault(perFilter: Pb, sink: Sink): FaultInjection | undefined {
  let fault: FaultInjection | undefined;
  for (const [name, any] of Object.entries(perFilter)) {
    const path = `[${JSON.stringify(name)}]`;
    if (name !== FAULT_NAME) {
      sink.add(path, `a Sluice proxy reads the per-route config of ${FAULT_NAME} only`);
      continue;
    }
    const config = readTyped(any as Pb, EMBEDDED_TYPE_URLS.HTTPFault, HTTP_FAULT, sink, path);
    if (config !== undefined) fault = translateFault(config, sink.at(path));
  }
  return fault;
}

/** One per-route HTTPFault; undefined when it injects nothing. */
export function translateFault(f: Pb, sink: Sink): FaultInjection | undefined {
  let delay: FaultInjection['delay'];
  let abort: FaultInjection['abort'];
  if (f.delay !== undefined) {
    const at = sink.at('delay');
    const ms = f.delay.fixed_delay === undefined ? undefined : durationMs(f.delay.fixed_delay, at, 'fixed_delay');
    if (f.delay.fixed_delay === undefined) at.add('fixed_delay', 'required (a delay a request header sets, header_delay, is not supported)');
    else if (ms === 0) at.add('fixed_delay', 'must be above 0, as Envoy requires');
    if (ms !== undefined && ms > 0) delay = { fixedDelayMs: ms, percent: percentOf(f.delay.percentage, at) };
  }
  if (f.abort !== undefined) {
    const at = sink.at('abort');
    const percent = percentOf(f.abort.percentage, at);
    if (f.abort.http_status !== undefined) {
      const status = Number(f.abort.http_status);
      if (status >= 200 && status <= 599) abort = { httpStatus: status, percent };
      else at.add('http_status', `must be 200-599, as Envoy requires; got ${status}`);
    } else if (f.abort.grpc_status !== undefined) {
      const status = Number(f.abort.grpc_status);
      // Envoy answers a request that is not a gRPC call 200 too, with the status it would give a gRPC one.
      if (status >= 1 && status <= 16) abort = { httpStatus: 200, grpcStatus: status, percent };
      else at.add('grpc_status', `must be a gRPC error status, 1-16; got ${status}`);
    } else {
      at.add('', 'needs http_status or grpc_status (an abort a request header sets, header_abort, is not supported)');
    }
  }
  if (delay === undefined && abort === undefined) return undefined;
  return { ...(delay === undefined ? {} : { delay }), ...(abort === undefined ? {} : { abort }) };
}

/** A FractionalPercent as 0-100; unset is 0 % (Envoy's reading), above the whole is all. */
function percentOf(p: Pb | undefined, sink: Sink): number {
  if (p === undefined) return 0;
  const denominator = DENOMINATORS[String(p.denominator ?? 'HUNDRED')];
  if (denominator === undefined) return 0; // the shape check reported it
  const numerator = Number(p.numerator ?? 0);
  if (!Number.isInteger(numerator) || numerator < 0) sink.add('percentage.numerator', `must be a whole number; got ${p.numerator}`);
  return Math.min(100, (numerator * 100) / denominator);
}

/** Routes without their faults: what a listener without the fault filter runs (Envoy ignores the per-route config of a filter it does not run). */
export function withoutFaults(routes: readonly UnattachedRoute[]): UnattachedRoute[] {
  return routes.map((r) => ({ ...r, rules: r.rules.map(({ fault: _, ...rule }): RouteRule => rule) }));
}

export const hasFaults = (routes: readonly UnattachedRoute[]): boolean => routes.some((r) => r.rules.some((rule) => rule.fault !== undefined));
