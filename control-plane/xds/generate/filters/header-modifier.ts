// RequestHeaderModifier and ResponseHeaderModifier -> `request_headers_to_add` /
// `request_headers_to_remove` and `response_headers_to_add` / `response_headers_to_remove`,
// on a route or on a weighted cluster entry alike. `set` overwrites (or adds), `add`
// appends. The API lets a header appear once per modifier, so Envoy's remove-then-add and
// the proxy's set-add-remove order agree.

import type { Obj } from '../envoy.ts';
import type { FilterSpec, RouteFilterGenerator } from '../route-filters.ts';

type Header = { readonly name: string; readonly value: string };
type HeaderModifier = { readonly set?: readonly Header[]; readonly add?: readonly Header[]; readonly remove?: readonly string[] };

/** Envoy reads `%...%` in a header value as a command (%DOWNSTREAM_REMOTE_ADDRESS%); `%%` is a plain '%'. */
export const escapePercent = (value: string): string => value.replaceAll('%', '%%');

function modifier(direction: 'request' | 'response', field: string, type: string): RouteFilterGenerator {
  const set = (target: Obj, filter: FilterSpec) => {
    const m = filter[field] as HeaderModifier;
    const option = (h: Header, action: string) => ({ header: { key: h.name.toLowerCase(), value: escapePercent(h.value) }, append_action: action });
    const add = [...(m.set ?? []).map((h) => option(h, 'OVERWRITE_IF_EXISTS_OR_ADD')), ...(m.add ?? []).map((h) => option(h, 'APPEND_IF_EXISTS_OR_ADD'))];
    const remove = (m.remove ?? []).map((n) => n.toLowerCase());
    if (add.length > 0) target[`${direction}_headers_to_add`] = [...((target[`${direction}_headers_to_add`] as Obj[] | undefined) ?? []), ...add];
    if (remove.length > 0) target[`${direction}_headers_to_remove`] = [...((target[`${direction}_headers_to_remove`] as string[] | undefined) ?? []), ...remove];
  };
  return { type, route: set, backend: set };
}

export const requestHeaderModifier = modifier('request', 'requestHeaderModifier', 'RequestHeaderModifier');
export const responseHeaderModifier = modifier('response', 'responseHeaderModifier', 'ResponseHeaderModifier');
