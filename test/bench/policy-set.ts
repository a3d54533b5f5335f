// The policies the benches apply: one of every kind (RetryPolicy, CircuitBreakerPolicy,
// FaultInjectionPolicy, LoadBalancingPolicy, AuthorizationPolicy, RequestAuthentication with
// an inline JWKS) and a route's header filters, all of them letting traffic through: a 0 %
// abort, an ALLOW for the caller's identity, a token that is optional and valid when sent.
// The same specs serve the control plane (targets: a Service, its HTTPRoute) and the static
// file (targets: a Backend, the route, the listener), so both modes run the same policy.

import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

const GROUP = 'mesh.sluice.dev/v1alpha1';
export const ISSUER = 'https://sso.bench.sluice.dev/realms/bench';
export const AUDIENCE = 'api';
/** The header the LoadBalancingPolicy hashes on; the load sends it. */
export const HASH_HEADER = 'x-user';
/** Set on every response by the route's ResponseHeaderModifier: seeing it proves the filters run. */
export const SERVED_BY = { name: 'x-served-by', value: 'sluice-bench' };

export type Signer = { readonly jwks: string; token(lifetimeSeconds: number): Promise<string> };

/** An RS256 key: the inline JWKS (public key only) and tokens it verifies. */
export async function newSigner(): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const pub = await exportJWK(publicKey);
  const jwk: JWK = { kid, kty: 'RSA', alg: 'RS256', use: 'sig', n: pub.n, e: pub.e };
  return { jwks: JSON.stringify({ keys: [jwk] }), token: (s) => sign(privateKey, kid, s) };
}

function sign(key: CryptoKey, kid: string, lifetimeSeconds: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'bench-user', iat: now, exp: now + lifetimeSeconds, preferred_username: 'bench' }).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(key);
}

type TargetRef = { kind: string; name: string; group?: string; sectionName?: string };
type Policy = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec: Record<string, unknown> };

/** Where each policy attaches: `destination` is a Service or a Backend, `route` an HTTPRoute, `arrival` a Service or a Listener. */
export type Targets = { readonly destination: TargetRef; readonly route: TargetRef; readonly arrival: TargetRef; readonly namespace?: string };

/** The six policies, named after `prefix`. `callers` are the SPIFFE IDs (or `namespaces`) the ALLOW admits. */
export function policySet(prefix: string, t: Targets, allow: { identities?: string[]; namespaces?: string[] }, jwks: string): Policy[] {
  const meta = (kind: string) => ({ name: `${prefix}-${kind}`, ...(t.namespace === undefined ? {} : { namespace: t.namespace }) });
  const p = (kind: string, short: string, targetRefs: TargetRef[], spec: Record<string, unknown>): Policy => ({ apiVersion: GROUP, kind, metadata: meta(short), spec: { targetRefs, ...spec } });
  return [
    p('RetryPolicy', 'retry', [t.destination], { attempts: 2, retryOn: ['5xx', 'reset', 'connect-failure'], timeouts: { perTry: '5s', request: '15s' } }),
    p('CircuitBreakerPolicy', 'cb', [t.destination], {
      limits: { maxConnections: 1024, maxPendingRequests: 1024, maxActiveRequests: 1024, maxActiveRetries: 64 },
      outlierDetection: { interval: '10s', consecutive5xx: 5, consecutiveGatewayErrors: 5, baseEjectionTime: '30s' },
    }),
    p('FaultInjectionPolicy', 'fault', [t.route], { abort: { httpStatus: 503, percent: 0 } }),
    p('LoadBalancingPolicy', 'lb', [t.destination], { type: 'RingHash', hashOn: { type: 'Header', name: HASH_HEADER } }),
    p('AuthorizationPolicy', 'authz', [t.arrival], { action: 'ALLOW', rules: [{ from: [allow], to: [{ methods: ['GET', 'HEAD'], paths: [{ type: 'PathPrefix', value: '/' }] }] }] }),
    p('RequestAuthentication', 'jwt', [t.arrival], { jwtRules: [{ issuer: ISSUER, audiences: [AUDIENCE], jwks, outputClaimToHeaders: [{ header: 'x-jwt-sub', claim: 'sub' }] }] }),
  ];
}

/** The route filters: request headers set and removed, a response header added. */
export const ROUTE_FILTERS = [
  { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-bench', value: 'policies' }], remove: ['x-debug'] } },
  { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [SERVED_BY] } },
];
