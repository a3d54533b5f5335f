// What a jwtRule gets for the fields it leaves out. Apart from jwt-spec.ts (which re-exports
// it) so that the proxy's request path reads the defaults without loading the spec's schema
// (typebox: ~370 modules a proxy never needs once its config is checked).

/** What a jwtRule gets for the fields it leaves out, in ms: the static file's proxy and the control plane's jwt_authn alike. */
export const JWT_RULE_DEFAULTS_MS = Object.freeze({ cacheDuration: 10 * 60_000, clockSkew: 60_000, fetchTimeout: 5_000 });
