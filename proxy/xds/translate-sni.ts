// A zone ingress's listener (issue 18): tls_inspector in listener_filters and filter chains
// matched by server_names, each a tcp_proxy with no transport socket, so TLS passes through
// to the instance's proxy that terminates it. What a Sluice proxy reads of it, and the
// NACK for anything it would read otherwise than Envoy.

import { EMBEDDED_TYPE_URLS } from '../../xds/index.ts';
import type { TcpListener } from '../config/model.ts';
import { EMPTY, readTyped, type Pb, type Sink } from './shape.ts';

export const TLS_INSPECTOR = 'envoy.filters.listener.tls_inspector';

/** A chain's network filter, as translate-listener.ts read it. */
type ChainFilter = { readonly kind: 'http' | 'tcp'; readonly cluster?: string; readonly authorization: readonly unknown[] } | undefined;

/** Whether the listener is one: it runs tls_inspector, or a chain matches server_names. */
export function isSniListener(l: Pb): boolean {
  return ((l.listener_filters ?? []) as Pb[]).some((f) => f.name === TLS_INSPECTOR) || ((l.filter_chains ?? []) as Pb[]).some((c) => c.filter_chain_match?.server_names !== undefined);
}

/** The routes by server name (every problem in `sink`); `backend` '' and mode DISABLE: the proxy never touches the TLS. */
export function sniRoutes(l: Pb, filters: readonly ChainFilter[], outer: Sink): Pick<TcpListener, 'serverNames'> | undefined {
  let problems = 0;
  const sink = counting(outer, () => problems++);
  const inspectors = (l.listener_filters ?? []) as Pb[];
  inspectors.forEach((f, i) => {
    if (f.name !== TLS_INSPECTOR) sink.add(`listener_filters[${i}].name`, `'${f.name ?? ''}' beside ${TLS_INSPECTOR}: a listener that routes by server_names runs ${TLS_INSPECTOR} only`);
    else if (f.typed_config !== undefined) readTyped(f.typed_config, EMBEDDED_TYPE_URLS.TlsInspector, EMPTY, sink, `listener_filters[${i}].typed_config`);
  });
  if (!inspectors.some((f) => f.name === TLS_INSPECTOR)) sink.add('listener_filters', `server_names are known only behind ${TLS_INSPECTOR}`);
  if (l.use_original_dst?.value === true) sink.add('use_original_dst', 'a listener that routes by server_names takes its own connections only');
  if (l.bind_to_port !== undefined && l.bind_to_port.value !== true) sink.add('bind_to_port', 'a listener that routes by server_names must be bound');
  const chains = (l.filter_chains ?? []) as Pb[];
  if (chains.length === 0) sink.add('filter_chains', `${TLS_INSPECTOR} without a chain matching server_names tells nothing apart`);
  const seen = new Map<string, number>();
  const routes: { names: string[]; backend: string }[] = [];
  chains.forEach((c, i) => {
    const at = sink.at(`filter_chains[${i}]`);
    if (c.transport_socket !== undefined) at.add('transport_socket', 'must be unset: a chain matched by server_names passes TLS through untouched (the instance\'s proxy terminates it)');
    const f = filters[i];
    if (f !== undefined && f.kind !== 'tcp') at.add('filters', `a chain matched by server_names runs a tcp_proxy: the proxy never sees the requests inside the TLS`);
    if (f !== undefined && f.authorization.length > 0) at.add('filters', 'network RBAC on a chain matched by server_names: TLS is not terminated here, so there is no peer to decide on (the instance\'s proxy authorizes)');
    const match: Pb = c.filter_chain_match ?? {};
    if (match.transport_protocol !== undefined && match.transport_protocol !== 'tls') at.add('filter_chain_match.transport_protocol', `must be tls or unset beside server_names; got '${match.transport_protocol}'`);
    if (match.application_protocols !== undefined) at.add('filter_chain_match.application_protocols', 'not read beside server_names: the ingress forwards by SNI alone');
    const names = (match.server_names ?? []) as unknown[];
    if (names.length === 0) at.add('filter_chain_match.server_names', `required on every chain of a listener behind ${TLS_INSPECTOR}: a connection whose SNI no chain names is closed`);
    const list: string[] = [];
    names.forEach((n, j) => {
      const where = `filter_chain_match.server_names[${j}]`;
      if (typeof n !== 'string' || n === '') return at.add(where, 'required: a server name');
      if (n.startsWith('*')) return at.add(where, `'${n}': a Sluice proxy matches exact server names only`);
      const k = n.toLowerCase();
      const earlier = seen.get(k);
      if (earlier !== undefined) return at.add(where, `'${n}' is also matched by filter_chains[${earlier}]`);
      seen.set(k, i);
      list.push(k);
    });
    if (f?.kind === 'tcp' && f.cluster !== undefined) routes.push({ names: list, backend: f.cluster });
  });
  return problems > 0 ? undefined : { serverNames: routes };
}

function counting(sink: Sink, mark: () => void): Sink {
  return { add: (path, message) => (mark(), sink.add(path, message)), at: (path) => counting(sink.at(path), mark) };
}
