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

/**
 * Why dialing `target` cannot work however often it is tried, from the details of a gRPC
 * UNAVAILABLE; null when trying again may help (refused, reset, timed out: a control plane
 * starting or restarting). For a proxy that has never had a config: it says so and exits,
 * for its supervisor or operator to act, instead of retrying with /ready at 503.
 */
export function dialFailure(details: string, target: string): string | null {
  if (/Name resolution failed/i.test(details)) return `${target}: the host name does not resolve; check --control-plane`;
  if (/wrong version number|packet length too long|http request|unexpected eof while reading|record layer failure/i.test(details)) {
    return `${target} does not answer TLS: is it the control plane's xDS port (15012), not its HTTP API port (15014), or another program? check --control-plane`;
  }
  if (isCertificateFailure(details)) {
    return `the TLS handshake with ${target} failed on certificates (${details.split('\n')[0].slice(0, 200)}): this identity and that control plane are not of one CA; join it with a token it minted`;
  }
  return null;
}

/** A gRPC UNAVAILABLE's details that say the TLS handshake failed on certificates (not of one CA). */
export function isCertificateFailure(details: string): boolean {
  return /certificate|unable to verify|self[- ]signed|unknown ca|bad certificate|CERT_/i.test(details);
}
