// The balancers' names, apart from load-balancing.ts (which re-exports them) so that the
// proxy's request path reads them without loading the policy's schema (typebox).

/** The policy's words for the balancers, and the name each has in the proxy's LB registry. */
export const LB_TYPES = { LeastRequest: 'least-request', RoundRobin: 'round-robin', RingHash: 'ring-hash', Maglev: 'maglev' } as const;
export type LbType = keyof typeof LB_TYPES;
/** Balancers that read a request's hash (the registry's names). */
export const HASHING_BALANCERS: readonly string[] = [LB_TYPES.RingHash, LB_TYPES.Maglev];
