// RequestRedirect -> the route's `redirect` in place of its `route`: the proxy answers,
// nothing is forwarded. `response_code` is always written, since Envoy's default (301)
// is not Gateway API's (302). Without `scheme_redirect` Envoy keeps the request's scheme,
// and the query is kept, as Gateway API says.

import type { Obj } from '../envoy.ts';
import type { RouteFilterGenerator } from '../route-filters.ts';
import { prefixRewrite, type PathModifier } from './path-modifier.ts';

type RequestRedirect = { readonly scheme?: string; readonly hostname?: string; readonly path?: PathModifier; readonly port?: number; readonly statusCode?: number };

const RESPONSE_CODES: Readonly<Record<number, string>> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };

export const requestRedirect: RouteFilterGenerator = {
  type: 'RequestRedirect',
  route(route, filter, at) {
    const r = filter.requestRedirect as RequestRedirect;
    const redirect: Obj = {};
    if (r.scheme !== undefined) redirect.scheme_redirect = r.scheme;
    if (r.hostname !== undefined) redirect.host_redirect = r.hostname;
    if (r.port !== undefined) redirect.port_redirect = r.port;
    if (r.path?.type === 'ReplaceFullPath') redirect.path_redirect = r.path.replaceFullPath ?? '/';
    else if (r.path?.type === 'ReplacePrefixMatch') redirect.prefix_rewrite = prefixRewrite(r.path.replacePrefixMatch ?? '', at.match);
    redirect.response_code = RESPONSE_CODES[r.statusCode ?? 302];
    delete route.route;
    route.redirect = redirect;
  },
};
