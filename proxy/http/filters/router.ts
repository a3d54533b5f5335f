// The terminal handler: rule -> backend (weighted) -> endpoint (load balancer) -> upstream.

import { SluiceError } from '../../errors.ts';
import type { Cluster, EndpointState } from '../../upstream/index.ts';
import type { ProxyResponse, RequestContext } from '../context.ts';
import type { Handler } from '../filter.ts';

export type RouterDeps = {
  readonly clusters: { get(name: string): Cluster | undefined };
  readonly forward: (ctx: RequestContext, endpoint: EndpointState) => Promise<ProxyResponse>;
  /** Injected so tests can make weighted picks and mirror shares deterministic. */
  readonly random: () => number;
};

export function routerHandler(deps: RouterDeps): Handler {
  return (ctx) => {
    const ref = ctx.route?.pickBackend(deps.random);
    if (ref === undefined) return Promise.reject(new SluiceError('NO_HEALTHY_UPSTREAM', 'the route has no backend with weight above 0'));
    ctx.backend = ref.name;
    const cluster = deps.clusters.get(ref.name);
    if (cluster === undefined) return Promise.reject(new SluiceError('BACKEND_NOT_FOUND', `backend '${ref.name}' is not defined`));
    const endpoint = cluster.lb.pick();
    if (endpoint === undefined) {
      return Promise.reject(new SluiceError('NO_HEALTHY_UPSTREAM', `backend '${ref.name}' has no healthy endpoint`));
    }
    ctx.upstreamHost = endpoint.key;
    return deps.forward(ctx, endpoint);
  };
}
