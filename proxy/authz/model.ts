// The resolved AuthorizationPolicy (mesh.sluice.dev/v1alpha1) as the engine reads it, and the
// view of a request it decides on. Plain readonly data: config/authz-spec.ts (from kinds/authz-spec.ts) fills in the
// defaults, engine.ts compiles it once per config. In every list below, empty means "not
// constrained" (the schema refuses an empty list, so empty only ever means "absent").

import type { HeaderMatch } from '../config/model.ts';

export type AuthzAction = 'ALLOW' | 'DENY';

export type AuthorizationPolicy = {
  /** metadata.name; named in decisions and access logs. */
  readonly name: string;
  readonly action: AuthzAction;
  /**
   * A policy matches a request when any rule matches. An ALLOW policy with no rules matches
   * nothing, so its presence alone denies every request (Istio's allow-nothing); a DENY
   * policy with no rules denies nothing.
   */
  readonly rules: readonly AuthzRule[];
};

/** Matches when every part matches; an empty `from` or `to` matches any source or operation. */
export type AuthzRule = {
  /** Any entry matching is enough. */
  readonly from: readonly AuthzSource[];
  /** Any entry matching is enough. */
  readonly to: readonly AuthzOperation[];
  /** Every condition must hold. */
  readonly when: readonly AuthzCondition[];
};

/** Every non-empty field must match. */
export type AuthzSource = {
  /** Whole SPIFFE IDs of the mTLS peer; '*' is any authenticated peer. */
  readonly identities: readonly string[];
  readonly notIdentities: readonly string[];
  /** The <ns> of a peer spiffe://<td>/ns/<ns>/sa/<sa>. */
  readonly namespaces: readonly string[];
  readonly notNamespaces: readonly string[];
  /** `${iss}/${sub}` of the verified JWT; '*' is any verified JWT. */
  readonly requestPrincipals: readonly string[];
  readonly notRequestPrincipals: readonly string[];
};

/** Every non-empty field must match. */
export type AuthzOperation = {
  /** Upper-case, compared exactly. */
  readonly methods: readonly string[];
  readonly notMethods: readonly string[];
  readonly paths: readonly AuthzPathMatch[];
  readonly notPaths: readonly AuthzPathMatch[];
  /** 'api.example.com', '*.example.com', optionally with ':port'; any case. */
  readonly hosts: readonly string[];
  readonly notHosts: readonly string[];
  /** Every header match must hold; `name` is lower-case. */
  readonly headers: readonly HeaderMatch[];
};

/** Gateway API path matching, on the proxy's normalized path, case-sensitive. */
export type AuthzPathMatch = {
  readonly type: 'Exact' | 'PathPrefix';
  readonly value: string;
};

/** A condition on the verified JWT's claims; every non-empty list must be satisfied. */
export type AuthzCondition = {
  /** A top-level claim name, or a dot path into nested objects ('realm_access.roles'). */
  readonly claim: string;
  readonly values: readonly string[];
  readonly notValues: readonly string[];
};

// --- what the engine sees of a request ---

export type AuthzRequest = {
  /** The mTLS peer's verified SPIFFE ID; null on a plaintext connection. */
  readonly peer: string | null;
  readonly method: string; // upper-case
  /** Already normalized by the proxy (percent-decoding of unreserved, dot segments, '//' merged); the engine never re-normalizes. */
  readonly path: string;
  /** Host / :authority as sent, maybe with a port, any case. */
  readonly host: string;
  /** Every field value of a header separately, in order (duplicates not joined); name is lower-case. Empty when absent. */
  headerValues(name: string): readonly string[];
  /** The verified JWT's payload, or null when the request carried none. */
  readonly claims: Readonly<Record<string, unknown>> | null;
  /** `${iss}/${sub}` of the verified JWT, or null. */
  readonly principal: string | null;
};

export type AuthzDecision = { readonly allowed: true; readonly policy: string | null } | { readonly allowed: false; readonly policy: string | null; readonly reason: string };
