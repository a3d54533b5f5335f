// One error class and one table of codes for the proxy (fastify's FST_ERR_* table,
// without undici's class per code). Tests check `err.code`, never `instanceof`.

/** Envoy's response flags, so an operator can tell which 503 it was. */
export type ResponseFlag =
  | 'NR' // no route
  | 'NC' // no cluster: the route names a backend that does not exist
  | 'UH' // no healthy upstream
  | 'UF' // upstream connect failure
  | 'UC' // upstream connection termination
  | 'UPE' // upstream protocol error (the upstream's answer was not valid HTTP)
  | 'UR' // upstream remote reset (HTTP/2 stream reset)
  | 'UT' // upstream request timeout
  | 'UO' // upstream overflow (circuit breaking)
  | 'URX' // retries ran out (the last try's answer is what the client got)
  | 'DI' // delay injected by the fault filter
  | 'FI' // fault injected (abort) by the fault filter
  | 'DC' // downstream connection termination
  | 'DPE' // downstream protocol error
  | 'RBAC' // denied by an authorization policy
  | 'LR'; // local reset (drain, limits)

type CodeInfo = { readonly status: number; readonly details: string; readonly flag?: ResponseFlag; readonly message: string };

export const errorCodes = {
  ROUTE_NOT_FOUND: { status: 404, details: 'route_not_found', flag: 'NR', message: 'no route matches the request' },
  BACKEND_NOT_FOUND: { status: 500, details: 'cluster_not_found', flag: 'NC', message: 'the route names a backend that does not exist' },
  NO_HEALTHY_UPSTREAM: { status: 503, details: 'no_healthy_upstream', flag: 'UH', message: 'the backend has no healthy endpoint' },
  UPSTREAM_CONNECT_FAILURE: { status: 503, details: 'upstream_connect_failure', flag: 'UF', message: 'could not connect to the upstream' },
  UPSTREAM_CONNECTION_TERMINATION: { status: 503, details: 'upstream_connection_termination', flag: 'UC', message: 'the upstream closed the connection before answering' },
  UPSTREAM_REFUSED_STREAM: { status: 503, details: 'upstream_reset_refused_stream', flag: 'UR', message: 'the upstream refused the stream (it was not processed)' },
  UPSTREAM_RESET: { status: 503, details: 'upstream_reset', flag: 'UR', message: 'the upstream reset the stream' },
  UPSTREAM_OVERFLOW: { status: 503, details: 'upstream_overflow', flag: 'UO', message: 'the backend is at its connection or request limit' },
  UPSTREAM_TIMEOUT: { status: 504, details: 'upstream_response_timeout', flag: 'UT', message: 'the upstream did not answer in time' },
  UPSTREAM_PROTOCOL_ERROR: { status: 502, details: 'upstream_protocol_error', flag: 'UPE', message: 'the upstream sent a response that is not valid HTTP' },
  DOWNSTREAM_DISCONNECT: { status: 499, details: 'downstream_remote_disconnect', flag: 'DC', message: 'the client went away' },
  BAD_REQUEST: { status: 400, details: 'bad_request', flag: 'DPE', message: 'malformed request' },
  URI_TOO_LONG: { status: 414, details: 'uri_too_long', flag: 'DPE', message: 'request target too long' },
  HEADERS_TOO_LARGE: { status: 431, details: 'request_headers_too_large', flag: 'DPE', message: 'request header block too large or too many header fields' },
  TRANSFER_ENCODING_NOT_IMPLEMENTED: { status: 501, details: 'unsupported_transfer_encoding', flag: 'DPE', message: 'only a final "chunked" transfer coding is supported' },
  RBAC_DENIED: { status: 403, details: 'rbac_access_denied', flag: 'RBAC', message: 'RBAC: access denied' },
  JWT_INVALID: { status: 401, details: 'jwt_authn_access_denied', message: 'Jwt verification fails' },
  DRAINING: { status: 503, details: 'listener_draining', flag: 'LR', message: 'the proxy is shutting down' },
  INTERNAL: { status: 500, details: 'internal_error', message: 'internal proxy error' },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof errorCodes;

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: string;
  readonly flag: ResponseFlag | undefined;
  /** Headers the local reply carries besides the usual ones (a 401's WWW-Authenticate). */
  readonly headers: Readonly<Record<string, string>> | undefined;

  /** `details` replaces the code's own (e.g. naming the policy that denied). */
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; details?: string; headers?: Record<string, string> }) {
    const info: CodeInfo = errorCodes[code];
    super(message ?? info.message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.status = info.status;
    this.details = options?.details ?? info.details;
    this.headers = options?.headers;
    this.flag = info.flag;
  }
}

export function isSluiceError(err: unknown): err is SluiceError {
  if (!(err instanceof Error)) return false;
  const code = (err as unknown as { code?: unknown }).code;
  return typeof code === 'string' && code in errorCodes;
}

/** Walks the `cause` chain for an error with `code` (linkerd's is_caused_by). */
export function findCause(err: unknown, code: string): Error | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 16; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === code) return e;
  }
  return undefined;
}

/** Expected failures are values (config parsing, xDS decoding), not exceptions. */
export type Result<T, E = Violation[]> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

/** One problem in a config document, at a field path like `routes[0].rules[1].backendRefs[0].name`. */
export type Violation = { readonly path: string; readonly message: string };

/** One line per violation, `FILE: path.to.field: message`, for stderr and logs. */
export function formatViolations(file: string, violations: readonly Violation[]): string {
  return violations.map((v) => `${file}: ${v.path}: ${v.message}`).join('\n');
}
