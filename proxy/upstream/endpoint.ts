// One upstream endpoint's live state: its connection pool and the counters /clusters shows.

import type { Dispatcher } from 'undici';
import type { Endpoint } from '../config/model.ts';

export class EndpointState {
  readonly endpoint: Endpoint;
  /** "ip:port", as the access log and /clusters print it. */
  readonly key: string;
  readonly weight: number;
  dispatcher: Dispatcher;
  healthy = true;
  healthReason: string | undefined = undefined;
  activeRequests = 0;
  totalRequests = 0;
  connectFailures = 0;

  constructor(endpoint: Endpoint, dispatcher: Dispatcher) {
    this.endpoint = endpoint;
    this.key = endpointKey(endpoint);
    this.weight = endpoint.weight;
    this.dispatcher = dispatcher;
  }
}

export function endpointKey(e: { address: string; port: number }): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}
