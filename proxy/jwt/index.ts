// End-user JWT validation (RequestAuthentication): what the proxy's filter and policy
// wiring import. The spec's schema, checks and resolution live with the other kinds, in
// proxy/config/jwt-spec.ts.

export type { JwksSource, JwtDeps, JwtProvider, JwtResult, JwtValid, JwtVerifier } from './model.ts';
export { bearerChallenge, JWT_DEFAULTS } from './model.ts';
export { ALGORITHMS, createJwtVerifier } from './verifier.ts';
