// The proxy's own config model: what every config source (a static YAML file now, xDS
// later) is turned into. Plain readonly data, every default already filled in, deep-frozen
// by the loader; the data path only ever reads it.

import type { ConnectionLimits, HealthCheck, OutlierDetection } from '../../kinds/circuit-breaker-policy.ts';
import type { HashOn } from '../../kinds/load-balancing.ts';
import type { EscapedSlashes, PathParameters } from '../../kinds/normalize-path.ts';
import type { RetryBudget, RetryPolicy } from '../../kinds/retry-policy.ts';
import type { AuthorizationPolicy } from '../authz/model.ts';
import type { JwtProvider } from '../jwt/model.ts';

export type ProxyConfig = {
  /** Who this proxy is; today only where it runs, for locality-aware balancing. */
  readonly node: NodeInfo;
  /** This proxy's own certificate (X.509-SVID), key and trust bundle; null when it does no mTLS. */
  readonly identity: IdentityFiles | null;
  readonly listeners: readonly Listener[];
  /** HTTPRoute-shaped route objects; each attaches to listeners by `parentRefs`. */
  readonly routes: readonly HttpRoute[];
  /** Clusters, in Envoy's words: a named set of endpoints and how to talk to them. */
  readonly backends: readonly Backend[];
  /** Where this proxy sends its spans and how many it samples; absent: no tracing, and the SDK is never loaded. */
  readonly tracing?: TracingConfig;
};

/** OpenTelemetry tracing (README, "Tracing"): Envoy's HttpConnectionManager `tracing` over xDS, `tracing:` in the static file. */
export type TracingConfig = {
  /** Percent (0-100) of the traces this proxy starts that are sampled; a caller's sampled or unsampled traceparent is honoured. */
  readonly samplingPercent: number;
  /** The resource's service.name. */
  readonly serviceName: string;
  readonly exporter: OtlpExporter;
};

export type OtlpExporter = {
  /** OTLP over gRPC, or over HTTP with protobuf bodies. */
  readonly protocol: 'grpc' | 'http/protobuf';
  /** grpc: http://host:port (https:// for TLS); http/protobuf: the full URL, e.g. http://collector:4318/v1/traces. */
  readonly endpoint: string;
  /** Sent with every export: gRPC metadata or HTTP headers (an API key, a tenant). */
  readonly headers: Readonly<Record<string, string>>;
};

export type NodeInfo = {
  /** The zone (failure domain) this proxy runs in; endpoints in the same zone are preferred. */
  readonly zone?: string;
};

/** File paths as the config writes them; relative ones are read from the config file's folder. */
export type IdentityFiles = {
  /** The SVID, then its intermediates (what `sluicectl ca issue` writes as cert.pem). */
  readonly cert: string;
  readonly key: string;
  /** The roots peers are checked against; several during a CA rotation. */
  readonly bundle: string;
};

// --- listeners ---

/**
 * Istio's PeerAuthentication modes: STRICT takes mTLS only, PERMISSIVE takes mTLS and
 * plaintext (told apart by the first byte), DISABLE takes plaintext only.
 */
export type TlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export type Listener = HttpListener | TcpListener;

type ListenerBase = {
  readonly name: string;
  /** IP address to bind, e.g. 127.0.0.1 or 0.0.0.0. */
  readonly address: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** Whether downstream connections are mTLS. Default DISABLE. */
  readonly tls: { readonly mode: TlsMode };
  /**
   * Transparent capture (from xDS; proxy/capture/). false: never bound, it takes only the
   * connections a useOriginalDst listener hands it (Envoy's bind_to_port). Default true.
   */
  readonly bindToPort?: boolean;
  /**
   * Envoy's use_original_dst: each connection iptables redirected here goes to the unbound
   * listener of its direction whose address (or 0.0.0.0) and port are where it was going;
   * only a connection none takes is this listener's own.
   */
  readonly useOriginalDst?: boolean;
  /** Envoy's traffic_direction, which keeps captured inbound and outbound connections apart. */
  readonly direction?: 'INBOUND' | 'OUTBOUND';
};

export type HttpListener = ListenerBase & {
  readonly protocol: 'http';
  readonly limits: HttpLimits;
  /**
   * A path holding %2F or %5C (an escaped '/' or '\\'): Reject answers 400 (the default),
   * Unescape turns them into '/' before normalizing, Keep passes them on as they are. A
   * backend that decodes them would otherwise see another path than routing and
   * authorization saw (CVE-2021-31920).
   */
  readonly escapedSlashes: EscapedSlashes;
  /** A ';' path parameter: Reject (400, the default), Strip or Keep; kinds/normalize-path.ts says why. */
  readonly pathParameters: PathParameters;
  /** false: no span for this listener's requests even with tracing on (an xDS HttpConnectionManager without `tracing`). */
  readonly traced?: boolean;
  /** AuthorizationPolicies targeting this listener, in file order; empty: every request is allowed. */
  readonly authorization: readonly AuthorizationPolicy[];
  /** RequestAuthentication jwtRules targeting this listener; empty: bearer tokens are not read. */
  readonly jwt: readonly JwtProvider[];
  /**
   * Set behind http_inspector (a captured Service port): a connection whose first bytes are
   * neither an HTTP/1 request line nor the h2 preface is closed without an answer.
   */
  readonly httpOnly?: boolean;
  /**
   * A port whose protocol is told from each connection (a Service port that declares none):
   * a connection that is not HTTP (plaintext: its first bytes, or silence; under TLS: it
   * offered neither h2 nor http/1.1 by ALPN) is forwarded as TCP to `backend`, decided on by
   * `authorization` as on a tcp listener.
   */
  readonly tcpFallback?: { readonly backend: string; readonly authorization: readonly AuthorizationPolicy[] };
};

// The values belong to the normalizer that reads them (shared with the control plane).
export { ESCAPED_SLASHES, PATH_PARAMETERS, type EscapedSlashes, type PathParameters } from '../../kinds/normalize-path.ts';

export type TcpListener = ListenerBase & {
  readonly protocol: 'tcp';
  /** Name of the backend every accepted connection is forwarded to. */
  readonly backend: string;
  /**
   * Decided per connection on its peer alone, as kinds/authz-spec.ts `forConnections` reads
   * the policies (DENY first; with an ALLOW policy, a connection none allows is closed).
   */
  readonly authorization: readonly AuthorizationPolicy[];
  /**
   * A zone ingress (from xDS: tls_inspector, server_names): each connection goes, TLS
   * untouched, to the backend whose names hold the server name (SNI) of its ClientHello;
   * one that names none of them, or no name, is closed. `backend` is then ''.
   */
  readonly serverNames?: readonly { readonly names: readonly string[]; readonly backend: string }[];
};

export type HttpLimits = {
  /** Request line plus header block, bytes (431 over it). Default 61440 (60 KiB). */
  readonly maxHeaderBytes: number;
  /** Header fields per request (431 over it). Default 100. */
  readonly maxHeaders: number;
  /** Request target length, bytes (414 over it). Default 16384. */
  readonly maxUrlBytes: number;
  /** HTTP/2: streams the client may reset per connection in `resetWindowMs` before GOAWAY. Default 200. */
  readonly h2MaxResetsPerWindow: number;
  /** Default 1000. */
  readonly h2ResetWindowMs: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS. Default 250. */
  readonly h2MaxConcurrentStreams: number;
  /** A downstream connection with no request in flight is closed after this long. Default 65000. */
  readonly idleTimeoutMs: number;
};

export const defaultHttpLimits: HttpLimits = Object.freeze({
  maxHeaderBytes: 60 * 1024,
  maxHeaders: 100,
  maxUrlBytes: 16 * 1024,
  h2MaxResetsPerWindow: 200,
  h2ResetWindowMs: 1000,
  h2MaxConcurrentStreams: 250,
  idleTimeoutMs: 65_000,
});

// --- routes (Gateway API HTTPRoute, spec.rules and below kept as the spec writes them) ---

export type HttpRoute = {
  readonly name: string;
  /** Listener names this route attaches to; empty means every HTTP listener. */
  readonly parentRefs: readonly string[];
  /**
   * Host header patterns ("api.example.com", "*.example.com"); empty matches any host. From
   * xDS also "svc.ns.svc.cluster.local:8080": only a Host with that port, ahead of the name alone.
   */
  readonly hostnames: readonly string[];
  readonly rules: readonly RouteRule[];
};

export type RouteRule = {
  readonly name?: string;
  /** Never empty: an omitted list becomes one match on PathPrefix "/". */
  readonly matches: readonly RouteMatch[];
  readonly filters: readonly RouteFilter[];
  /** Empty only when a RequestRedirect filter answers the request. */
  readonly backendRefs: readonly BackendRef[];
  /** Gateway API HTTPRouteTimeouts, in ms; absent means no limit. */
  readonly timeouts: RouteTimeouts;
  /** From a RetryPolicy targeting this rule (or its route): fields it sets override the backend's. */
  readonly retry?: Partial<RetryPolicy>;
  /** From a FaultInjectionPolicy targeting this rule (or its route). */
  readonly fault?: FaultInjection;
  /**
   * What a request through this rule is hashed on, for a backend whose balancer hashes
   * (Envoy's per-route hash_policy, read from xDS): replaces the backend's `hashOn`. Several
   * are combined; one the request lacks is skipped.
   */
  readonly hashOn?: readonly HashOn[];
};

export type RouteTimeouts = {
  /** From the request reaching the proxy to the response head leaving it (504 UT). */
  readonly request?: number;
  /** One attempt at the backend (the per-try timeout); a retry gets a fresh one. */
  readonly backendRequest?: number;
};

export type RouteMatch = {
  /** Defaults to PathPrefix "/". */
  readonly path: PathMatch;
  readonly headers: readonly HeaderMatch[];
  readonly queryParams: readonly QueryParamMatch[];
  /** Upper-case HTTP method, when the match names one. */
  readonly method?: string;
};

export type PathMatch = {
  readonly type: 'Exact' | 'PathPrefix' | 'RegularExpression';
  readonly value: string;
};

export type HeaderMatch = {
  readonly type: 'Exact' | 'RegularExpression';
  /** Lower-cased by the loader: header names are case-insensitive. */
  readonly name: string;
  readonly value: string;
};

export type QueryParamMatch = {
  readonly type: 'Exact' | 'RegularExpression';
  /** Case-sensitive, as Gateway API says. */
  readonly name: string;
  readonly value: string;
};

export type RouteFilter =
  | { readonly type: 'RequestHeaderModifier'; readonly requestHeaderModifier: HeaderModifier }
  | { readonly type: 'ResponseHeaderModifier'; readonly responseHeaderModifier: HeaderModifier }
  | { readonly type: 'URLRewrite'; readonly urlRewrite: UrlRewrite }
  | { readonly type: 'RequestRedirect'; readonly requestRedirect: RequestRedirect }
  | { readonly type: 'RequestMirror'; readonly requestMirror: RequestMirror };

export type HeaderModifier = {
  readonly set: readonly HeaderValue[];
  readonly add: readonly HeaderValue[];
  /** Lower-cased header names. */
  readonly remove: readonly string[];
};

/** `name` is lower-cased by the loader. */
export type HeaderValue = { readonly name: string; readonly value: string };

export type PathModifier =
  | { readonly type: 'ReplaceFullPath'; readonly replaceFullPath: string }
  | { readonly type: 'ReplacePrefixMatch'; readonly replacePrefixMatch: string };

export type UrlRewrite = {
  readonly hostname?: string;
  readonly path?: PathModifier;
};

export type RequestRedirect = {
  readonly scheme?: 'http' | 'https';
  readonly hostname?: string;
  readonly path?: PathModifier;
  readonly port?: number;
  /** Default 302. */
  readonly statusCode: 301 | 302 | 303 | 307 | 308;
};

export type RequestMirror = {
  readonly backendRef: { readonly name: string };
  /** Share of requests mirrored, 0-100. Default 100. */
  readonly percent: number;
};

export type BackendRef = {
  readonly name: string;
  /** Relative weight; 0 sends nothing. Default 1. */
  readonly weight: number;
  /** Header changes for the requests sent to this backend and its responses, after the rule's own; absent: none. */
  readonly filters?: readonly BackendFilter[];
};

/** The filters a backendRef carries: Gateway API allows any, Envoy (and so xDS) has fields for these. */
export type BackendFilter = Extract<RouteFilter, { readonly type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' }>;

// --- backends ---

export type Backend = {
  readonly name: string;
  /** How the proxy speaks to the endpoints: HTTP/1.1, or HTTP/2 cleartext (prior knowledge). */
  readonly protocol: 'http1' | 'http2';
  /** Load-balancing policy name, from the LB registry. Default 'least-request'. */
  readonly loadBalancer: string;
  /** ring-hash and maglev: what a request is hashed on; absent, each request hashes at random. */
  readonly hashOn?: HashOn;
  /**
   * Locality failover: a priority level keeps all its traffic while at least this share
   * (percent) of its endpoints is healthy, and spills the rest to the next level below
   * it. Default 71, Envoy's overprovisioning factor of 1.4.
   */
  readonly failoverThreshold: number;
  /** Upstream TCP connect timeout. Default 5000 (RetryPolicy timeouts.connect overrides). */
  readonly connectTimeoutMs: number;
  /** An upstream keep-alive connection idle this long is closed. Default 60000. */
  readonly idleTimeoutMs: number;
  readonly endpoints: readonly Endpoint[];
  /** Retries and timeouts for requests to this backend (RetryPolicy, else defaults). */
  readonly retry: RetryPolicy;
  /** Linkerd's retry budget: retries stay under this share of requests plus a floor. */
  readonly retryBudget: RetryBudget;
  /** Circuit breaking (CircuitBreakerPolicy, else defaults). */
  readonly limits: ConnectionLimits;
  /** Passive health; null when a policy turned it off. */
  readonly outlierDetection: OutlierDetection | null;
  /** Active HTTP health checks; null (the default) means none. */
  readonly healthCheck: HealthCheck | null;
  /** mTLS to the endpoints (peer proxies); null means plaintext. */
  readonly tls: BackendTls | null;
  /** Envoy's ORIGINAL_DST: no endpoints; each captured connection goes on to where it was going (TCP only). */
  readonly originalDst?: boolean;
};

/**
 * The endpoints are peer proxies' mTLS listeners: this proxy presents its SVID, checks the
 * server's chain against the bundle and its SPIFFE ID against `identities`, and speaks
 * HTTP/2 (ALPN h2) whatever `protocol` says, so HTTP/1.1 calls are multiplexed between proxies.
 */
export type BackendTls = {
  /** SPIFFE IDs the endpoints may run as; any other is refused. */
  readonly identities: readonly string[];
  /** SNI sent in the ClientHello. Default: the backend's name. */
  readonly serverName: string;
};

export type Endpoint = {
  readonly address: string;
  readonly port: number;
  /** Relative weight, ≥ 1. Default 1. */
  readonly weight: number;
  /** The zone the endpoint runs in, when known. */
  readonly zone?: string;
  /** Who runs there, when the control plane says (EDS metadata `sluice.dev`): the destination labels of the mesh metrics. */
  readonly workload?: EndpointWorkload;
  /**
   * Failover level: 0 is used first. Default: 0 when the endpoint's zone is the proxy's
   * (or either is unknown), 1 otherwise.
   */
  readonly priority: number;
};

export type EndpointWorkload = { readonly name: string; readonly namespace: string; readonly principal?: string };

/** What a request is hashed on (shared with LoadBalancingPolicy, kinds/load-balancing.ts). */
export type { HashOn } from '../../kinds/load-balancing.ts';

// --- resilience (mesh.sluice.dev/v1alpha1 policies, resolved) ---

/** The RetryPolicy spec's words (kinds/resilience-specs.ts), which the proxy acts on as they are. */
export type { RetryOn } from '../../kinds/resilience-specs.ts';

/** A RetryPolicy resolved, and a backend's retry budget: shared with the control plane, which sends them as Envoy's fields. */
export type { RetryBudget, RetryPolicy } from '../../kinds/retry-policy.ts';

/** A CircuitBreakerPolicy resolved: shared with the control plane, which sends it as Envoy's circuit_breakers, outlier_detection and health_checks. */
export type { ConnectionLimits, HealthCheck, OutlierDetection, SuccessRateEjection } from '../../kinds/circuit-breaker-policy.ts';

export type FaultInjection = {
  readonly delay?: { readonly fixedDelayMs: number; readonly percent: number };
  /** `grpcStatus` answers a gRPC request with that status (HTTP 200, trailers-only); other requests get `httpStatus` (default 503). */
  readonly abort?: { readonly httpStatus: number; readonly grpcStatus?: number; readonly percent: number };
};
