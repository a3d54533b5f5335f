// Fault injection for chaos testing (FaultInjectionPolicy): a fixed delay and/or an abort
// for a share of a rule's requests, before anything is sent upstream. Flags DI and FI
// tell injected faults from real ones in the access log.

import type { FaultInjection } from '../../config/model.ts';
import { http } from '../../node-http.ts';
import type { ProxyResponse, RequestContext } from '../context.ts';
import type { Filter } from '../filter.ts';
import { DETAILS_HEADER } from '../rescue.ts';

export function faultFilter(fault: FaultInjection, random: () => number): Filter {
  const { delay, abort } = fault;
  return (next) => async (ctx) => {
    if (delay !== undefined && hit(delay.percent, random)) {
      ctx.addFlag('DI');
      await new Promise((resolve) => setTimeout(resolve, delay.fixedDelayMs));
      if (ctx.aborted !== null) throw ctx.aborted;
    }
    if (abort !== undefined && hit(abort.percent, random)) {
      ctx.addFlag('FI');
      ctx.details = 'fault_filter_abort';
      return abortReply(ctx, abort.httpStatus, abort.grpcStatus);
    }
    return next(ctx);
  };
}

function hit(percent: number, random: () => number): boolean {
  return percent >= 100 || random() * 100 < percent;
}

function abortReply(ctx: RequestContext, status: number, grpcStatus: number | undefined): ProxyResponse {
  const contentType = ctx.headers['content-type'];
  if (grpcStatus !== undefined && typeof contentType === 'string' && contentType.startsWith('application/grpc')) {
    // Trailers-only: the status rides in the head, as gRPC servers answer a call they refuse.
    return {
      status: 200,
      headers: { 'content-type': 'application/grpc', 'grpc-status': String(grpcStatus), 'grpc-message': 'fault injected', [DETAILS_HEADER]: 'fault_filter_abort' },
      body: null,
    };
  }
  const body = `fault injected: ${status} ${http.STATUS_CODES[status] ?? ''}\n`;
  return {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), [DETAILS_HEADER]: 'fault_filter_abort' },
    body,
  };
}
