// What a failure site knows that the access-log line does not: which try went where and
// how it ended, which authorization rule denied, the backend's endpoints' health at that
// moment, the SPIFFE IDs of a refused peer, which timeout fired, which limit overflowed.
// Written only on failure paths (a request that succeeds at the first try allocates none of
// it) and sent to the control plane for `sluicectl explain` (failure-report.ts).

import type { RequestContext } from '../http/context.ts';
import type { EndpointState } from '../upstream/endpoint.ts';

/** One try at a backend: the endpoint and how it ended ("503", or the error's code and message). */
export type TryNote = { readonly endpoint: string; readonly outcome: string };

/** An endpoint's health when the backend had none to offer. Times are ISO-8601. */
export type HostNote = {
  readonly endpoint: string;
  readonly healthy: boolean;
  readonly reason: string;
  readonly ejectedAt?: string;
  readonly ejectedUntil?: string;
};

export type FailureNotes = {
  tries?: TryNote[];
  /** The authorization engine's decision: the policy (null: none matched) and its sentence. */
  rbac?: { readonly policy: string | null; readonly reason: string };
  hosts?: HostNote[];
  peer?: { readonly expected: readonly string[]; readonly seen: string };
  /**
   * `route`: the HTTPRoute rule's timeouts.request (the timeout filter); `request`: the
   * backend's retry policy's timeout over all tries; `per-try`: one try's.
   */
  timeout?: { readonly kind: 'route' | 'request' | 'per-try'; readonly ms: number };
  overflow?: { readonly threshold: 'maxActiveRequests' | 'maxPendingRequests'; readonly limit: number; readonly current: number };
};

/** The request's notes, made on first use. */
export function notesOf(ctx: RequestContext): FailureNotes {
  return (ctx.explain ??= {});
}

/** The code peer.ts gives a server certificate whose SPIFFE ID is not one the backend expects. */
export const PEER_IDENTITY_ERROR = 'ERR_SLUICE_PEER_IDENTITY';

/** Notes a failed try; the peer's SPIFFE IDs too when the failure was a refused identity. */
export function noteTry(ctx: RequestContext, endpoint: EndpointState, outcome: number | Error): void {
  const n = notesOf(ctx);
  const text = typeof outcome === 'number' ? String(outcome) : `${(outcome as { code?: string }).code ?? 'ERROR'}: ${outcome.message}`;
  (n.tries ??= []).push({ endpoint: endpoint.key, outcome: text });
  if (typeof outcome === 'number') return;
  for (let e: unknown = outcome, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const p = e as { code?: string; expected?: readonly string[]; seen?: string };
    if (p.code === PEER_IDENTITY_ERROR && p.seen !== undefined && p.expected !== undefined) {
      n.peer = { expected: p.expected, seen: p.seen };
      return;
    }
  }
}

/** Every endpoint of a backend with its health, at the moment it had none healthy. */
export function hostNotes(endpoints: readonly EndpointState[]): HostNote[] {
  return endpoints.map((e) => ({
    endpoint: e.key,
    healthy: e.healthy,
    reason: e.healthReason,
    ...(e.ejectedUntil === 0 ? {} : { ejectedAt: new Date(e.ejectedAt).toISOString(), ejectedUntil: new Date(e.ejectedUntil).toISOString() }),
  }));
}
