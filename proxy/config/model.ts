// The proxy's own config model: what every config source (a static YAML file now, xDS
// later) is turned into. Plain readonly data, every default already filled in, deep-frozen
// by the loader; the data path only ever reads it.

export type ProxyConfig = {
  readonly listeners: readonly Listener[];
  /** HTTPRoute-shaped route objects; each attaches to listeners by `parentRefs`. */
  readonly routes: readonly HttpRoute[];
  /** Clusters, in Envoy's words: a named set of endpoints and how to talk to them. */
  readonly backends: readonly Backend[];
};

// --- listeners ---

export type Listener = HttpListener | TcpListener;

type ListenerBase = {
  readonly name: string;
  /** IP address to bind, e.g. 127.0.0.1 or 0.0.0.0. */
  readonly address: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
};

export type HttpListener = ListenerBase & {
  readonly protocol: 'http';
  readonly limits: HttpLimits;
};

export type TcpListener = ListenerBase & {
  readonly protocol: 'tcp';
  /** Name of the backend every accepted connection is forwarded to. */
  readonly backend: string;
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
};

export const defaultHttpLimits: HttpLimits = Object.freeze({
  maxHeaderBytes: 60 * 1024,
  maxHeaders: 100,
  maxUrlBytes: 16 * 1024,
  h2MaxResetsPerWindow: 200,
  h2ResetWindowMs: 1000,
  h2MaxConcurrentStreams: 250,
});

// --- routes (Gateway API HTTPRoute, spec.rules and below kept as the spec writes them) ---

export type HttpRoute = {
  readonly name: string;
  /** Listener names this route attaches to; empty means every HTTP listener. */
  readonly parentRefs: readonly string[];
  /** Host header patterns ("api.example.com", "*.example.com"); empty matches any host. */
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
};

export type RouteTimeouts = {
  /** From the request reaching the proxy to the response head leaving it (504 UT). */
  readonly request?: number;
  /** One attempt at the backend; the same as `request` until retries exist. */
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
};

// --- backends ---

export type Backend = {
  readonly name: string;
  /** How the proxy speaks to the endpoints: HTTP/1.1, or HTTP/2 cleartext (prior knowledge). */
  readonly protocol: 'http1' | 'http2';
  /** Load-balancing policy name, from the LB registry. Default 'round-robin'. */
  readonly loadBalancer: string;
  /** Upstream TCP connect timeout. Default 5000. */
  readonly connectTimeoutMs: number;
  readonly endpoints: readonly Endpoint[];
};

export type Endpoint = {
  readonly address: string;
  readonly port: number;
  /** Relative weight, ≥ 1. Default 1. */
  readonly weight: number;
};
