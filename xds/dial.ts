// Dialing the control plane over TLS by an IP address (the README's 127.0.0.1:15012, a VM
// given the control plane's address). grpc-js sends the target's host as the TLS server
// name, and an IP there is what Node's DEP0123 warns of (RFC 6066 allows host names only),
// on stderr, outside the JSON log. So for an IP the server name is a fixed host name, and
// the certificate is checked against the IP itself, as it was: the control plane's serving
// certificate names the address it listens on (control-plane/ca/ca-dir.ts).

import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type * as grpc from '@grpc/grpc-js';

/** The TLS server name sent when the control plane is dialed by IP: any host name would do; this one says who. */
export const CONTROL_PLANE_SNI = 'sluice-cp';

export type Dial = { readonly options: grpc.ChannelOptions; readonly verify: grpc.VerifyOptions };

/** Channel options and certificate check for `HOST:PORT` (`[v6]:PORT`). */
export function dialControlPlane(address: string): Dial {
  const host = address.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  if (isIP(host) === 0) return { options: {}, verify: {} };
  return {
    options: { 'grpc.ssl_target_name_override': CONTROL_PLANE_SNI, 'grpc.default_authority': address },
    verify: { checkServerIdentity: (_name: string, cert: PeerCertificate) => checkServerIdentity(host, cert) },
  };
}
