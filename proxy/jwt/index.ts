// End-user JWT validation (RequestAuthentication): what the proxy's filter and policy
// wiring import. The spec's schema and checks are shared with the control plane
// (kinds/jwt-spec.ts); turning them into this model is proxy/config/jwt-spec.ts.

export type { JwksSource, JwtDeps, JwtProvider, JwtResult, JwtValid, JwtVerifier } from './model.ts';
export { bearerChallenge, JWT_DEFAULTS } from './model.ts';
export { ALGORITHMS, createJwtVerifier } from './verifier.ts';
