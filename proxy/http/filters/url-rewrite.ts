// Gateway API URLRewrite: the upstream sees another host or path; routing already happened.

import type { PathModifier, UrlRewrite } from '../../config/model.ts';
import type { RequestContext } from '../context.ts';
import type { Filter } from '../filter.ts';

export function urlRewriteFilter(rewrite: UrlRewrite): Filter {
  return (next) => (ctx) => {
    if (rewrite.hostname !== undefined) ctx.headers.host = rewrite.hostname;
    if (rewrite.path !== undefined) ctx.path = rewritePath(ctx, rewrite.path);
    return next(ctx);
  };
}

/** The new path for `ctx`, shared with RequestRedirect. */
export function rewritePath(ctx: RequestContext, mod: PathModifier): string {
  if (mod.type === 'ReplaceFullPath') return mod.replaceFullPath;
  const matched = ctx.route?.match.path;
  // Validation allows ReplacePrefixMatch only on PathPrefix matches.
  const prefix = matched?.type === 'PathPrefix' ? trimSlash(matched.value) : '';
  return replacePrefix(ctx.path, prefix, mod.replacePrefixMatch);
}

/** Element-wise, as Gateway API says: "/foo" -> "/bar" turns "/foo/x" into "/bar/x". */
export function replacePrefix(path: string, prefix: string, replacement: string): string {
  const rest = path.slice(prefix.length);
  const base = trimSlash(replacement);
  if (rest === '') return base === '' ? '/' : base;
  return base + rest;
}

function trimSlash(s: string): string {
  return s.length > 1 && s.endsWith('/') ? s.slice(0, -1) : s === '/' ? '' : s;
}
