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
export { deepFreeze, formatViolations, loadStaticConfig, parseStaticConfig, type LoadOptions } from './load-static.ts';
export { StaticConfigSchema, type RawConfig } from './schema.ts';
export { validateDocument, type ValidateOptions } from './validate.ts';
