// The proxy's config folder, seen from outside: the model types and the static YAML source.

export type {
  Backend,
  BackendRef,
  Endpoint,
  HeaderMatch,
  HeaderModifier,
  HeaderValue,
  HttpLimits,
  HttpListener,
  HttpRoute,
  Listener,
  PathMatch,
  PathModifier,
  ProxyConfig,
  QueryParamMatch,
  RequestMirror,
  RequestRedirect,
  RouteFilter,
  RouteMatch,
  RouteRule,
  RouteTimeouts,
  TcpListener,
  UrlRewrite,
} from './model.ts';
export { defaultHttpLimits } from './model.ts';
export { formatViolations } from '../errors.ts';
export { deepFreeze } from './frozen.ts';
// Only the isolated loader here: the validator (yaml, typebox, ajv: ~50 MiB of heap) must
// never be loaded into the proxy's own isolate. Tests reach it through load-static.ts.
export { loadConfigFile, type LoadOptions } from './isolated-load.ts';
