// Gateway API's HTTPPathModifier, shared by URLRewrite and RequestRedirect, as Envoy's
// literal rewrites. A PathPrefix /foo is sent as two Envoy routes, `path: /foo` and
// `prefix: /foo/` (route-rules.ts), so ReplacePrefixMatch needs no regular expression:
// on the exact route the whole path becomes the replacement (or '/'), and on the prefix
// route `/foo/` becomes the replacement with one trailing '/', which replaces whole
// segments as Gateway API says (/foo -> /xyz: /foo/bar -> /xyz/bar, /foo/ -> /xyz/;
// /foo -> '' or '/': /foo/bar -> /bar, /foo -> /).

import type { Obj } from '../envoy.ts';

export type PathModifier = { readonly type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; readonly replaceFullPath?: string; readonly replacePrefixMatch?: string };

/** The prefix_rewrite of a ReplacePrefixMatch on the Envoy route with `match`; never '' (proto3 cannot tell it from unset). */
export function prefixRewrite(replacement: string, match: Obj): string {
  const base = replacement.endsWith('/') ? replacement.slice(0, -1) : replacement;
  if (match.path !== undefined) return base === '' ? '/' : base;
  return `${base}/`;
}

/** RE2's rewrite string reads '\' as an escape (\1 is a group): a literal one is doubled. */
export const literalSubstitution = (path: string): string => path.replaceAll('\\', '\\\\');

/** The whole path, whatever it is: Envoy Gateway's pattern for ReplaceFullPath. */
export const WHOLE_PATH = '^/.*$';
