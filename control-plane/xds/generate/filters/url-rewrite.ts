// URLRewrite -> the route action's `host_rewrite_literal`, and `prefix_rewrite`
// (ReplacePrefixMatch) or `regex_rewrite` over the whole path (ReplaceFullPath). Envoy
// rewrites the path without its query, which is kept, as Gateway API says.

import type { Obj } from '../envoy.ts';
import type { RouteFilterGenerator } from '../route-filters.ts';
import { literalSubstitution, prefixRewrite, WHOLE_PATH, type PathModifier } from './path-modifier.ts';

type UrlRewrite = { readonly hostname?: string; readonly path?: PathModifier };

export const urlRewrite: RouteFilterGenerator = {
  type: 'URLRewrite',
  route(route, filter, at) {
    const action = route.route as Obj | undefined;
    if (action === undefined) return;
    const r = filter.urlRewrite as UrlRewrite;
    if (r.hostname !== undefined) action.host_rewrite_literal = r.hostname;
    if (r.path?.type === 'ReplacePrefixMatch') action.prefix_rewrite = prefixRewrite(r.path.replacePrefixMatch ?? '', at.match);
    else if (r.path?.type === 'ReplaceFullPath') action.regex_rewrite = { pattern: { regex: WHOLE_PATH }, substitution: literalSubstitution(r.path.replaceFullPath ?? '/') };
  },
};
