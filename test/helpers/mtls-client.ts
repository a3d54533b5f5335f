// A workload calling a listener straight over mTLS, as a peer proxy would, with whichever
// certificate the test hands it: one request per fresh connection, so each request is
// authorized under the identity of exactly that certificate.

import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { Svid } from './mesh-pki.ts';

export type Reply = { readonly status: number; readonly headers: IncomingHttpHeaders; readonly body: string };
/** A reply, or why the connection produced none (a refused handshake, a dropped connection). */
export type Outcome = Reply | { readonly error: string };

export type MtlsRequest = {
  /** The client certificate; none: the client presents no certificate. */
  readonly svid?: Svid;
  /** The roots the client trusts for the server's certificate. */
  readonly bundle: string;
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Record<string, string | string[]>;
};

/** Gives up on a connection that neither answers nor closes within this. */
const GIVE_UP_MS = 5000;

export function mtlsRequest(port: number, r: MtlsRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = https.request({
      host: '127.0.0.1',
      port,
      method: r.method ?? 'GET',
      path: r.path ?? '/',
      headers: { connection: 'close', ...r.headers },
      ...(r.svid === undefined ? {} : { cert: r.svid.cert, key: r.svid.key }),
      ca: r.bundle,
      // A mesh server is who its SPIFFE ID says, not a host name.
      checkServerIdentity: () => undefined,
      agent: false,
    });
    req.setTimeout(GIVE_UP_MS, () => req.destroy(new Error(`no answer in ${GIVE_UP_MS} ms`)));
    req.once('error', (err) => resolve({ error: err.message }));
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.once('error', (err) => resolve({ error: err.message }));
    });
    req.end();
  });
}

/** The reply, failing the test with what happened instead when there is none. */
export function replyOf(o: Outcome): Reply {
  if ('error' in o) throw new Error(`expected an HTTP answer, the connection failed: ${o.error}`);
  return o;
}
