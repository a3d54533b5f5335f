// RequestMirror -> one `request_mirror_policies[]` entry of the route action: the mirror
// Service port's cluster (every Service port's cluster is sent to every node), and the
// share as `runtime_fraction.default_value`, over the smallest of Envoy's denominators
// (100, 10 000, 1 000 000) that says it exactly, else rounded to a millionth. A mirror
// to a Service or port that does not exist is left out, as a backendRef is.

import { key } from '../../mesh-view.ts';
import { outboundCluster, type Obj } from '../envoy.ts';
import type { RouteFilterGenerator } from '../route-filters.ts';

type RequestMirror = {
  readonly backendRef: { readonly name: string; readonly namespace?: string; readonly port?: number };
  readonly percent?: number;
  readonly fraction?: { readonly numerator: number; readonly denominator?: number };
};

const DENOMINATORS = [['HUNDRED', 100], ['TEN_THOUSAND', 10_000], ['MILLION', 1_000_000]] as const;

export const requestMirror: RouteFilterGenerator = {
  type: 'RequestMirror',
  route(route, filter, at) {
    const action = route.route as Obj | undefined;
    if (action === undefined) return;
    const m = filter.requestMirror as RequestMirror;
    const svc = at.view.services.get(key(m.backendRef.namespace ?? at.namespace, m.backendRef.name));
    const sp = svc?.ports.find((p) => p.port === m.backendRef.port);
    if (svc === undefined || sp === undefined) return;
    const policy: Obj = { cluster: outboundCluster(svc.host, sp.port) };
    const [numerator, denominator] = m.fraction !== undefined ? [m.fraction.numerator, m.fraction.denominator ?? 100] : [m.percent ?? 100, 100];
    if (numerator < denominator) policy.runtime_fraction = { default_value: fractionalPercent(numerator, denominator) };
    action.request_mirror_policies = [...((action.request_mirror_policies as Obj[] | undefined) ?? []), policy];
  },
};

function fractionalPercent(numerator: number, denominator: number): Obj {
  for (const [name, scale] of DENOMINATORS) {
    if ((numerator * scale) % denominator === 0) return { numerator: (numerator * scale) / denominator, denominator: name };
  }
  return { numerator: Math.round((numerator * 1_000_000) / denominator), denominator: 'MILLION' };
}
