// The certificate service (DESIGN: "Certificates", port 15012): CSR in, SVID out, after
// attesting the caller. The first request of a stream authenticates it, once:
//
//   - a join token, when the first request carries one (a VM's first contact, or a
//     deliberate re-join as another Workload), used up atomically (join-tokens.ts);
//   - a pod's projected service-account token, when the first request carries one: the
//     Kubernetes API says, by TokenReview, which service account and pod it was issued to
//     (pod-attestation.ts); refused when the control plane does not run on Kubernetes;
//   - else a client certificate: an SVID of this mesh the caller already holds (a
//     restarted proxy, or one whose stream broke). grpc-js shows handlers only a
//     certificate that chained to our roots in the handshake (grpc-credentials.ts); we
//     check, by our clock, that it is a valid workload SVID of our trust domain now.
//
// From then on the stream IS that identity: every request, the first and each renewal,
// must carry a CSR whose one URI SAN is exactly it. So a token for one identity never
// gets a certificate for another, and a renewal needs no new proof (as Istio's agent
// renews with its current certificate; here the stream already carries that proof).

import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { certificateBlocks } from '../../certs/pem.ts';
import { DEFAULT_SVID_TTL_MS, issueSvid, leafSvidId, parseSpiffeId, readCsr, workloadId, workloadOf, type Ca } from '../../certs/index.ts';
import { CERTIFICATE_SERVICE, ERROR_CODE_METADATA, type CertificateRequest, type CertificateResponse } from '../../xds/ca-service.ts';
import type { Resource } from '../api/resource.ts';
import { DEFAULT_SERVICE_ACCOUNT } from '../api/kind-names.ts';
import type { Logger } from '../log.ts';
import { isStoreError } from '../store/errors.ts';
import type { ResourceStore } from '../store/store.ts';
import type { IssuedSvids } from './issued-svids.ts';
import { joinTokens, type JoinTokens } from './join-tokens.ts';
import { attestPod, type TokenReviewer } from './pod-attestation.ts';

export type CertificateServiceDeps = {
  readonly store: ResourceStore;
  readonly ca: Ca;
  readonly now: () => number;
  readonly log: Logger;
  /** Lifetime of the SVIDs issued. Default 24 h (certs DEFAULT_SVID_TTL_MS). */
  readonly svidTtlMs?: number;
  /** The join tokens the HTTP API mints; made from the store when absent. */
  readonly tokens?: JoinTokens;
  /** Told of every SVID issued (sluicectl check reads it); absent: not kept. */
  readonly issued?: IssuedSvids;
  /** Reviews pods' service-account tokens with the Kubernetes API; absent when the control plane does not run on Kubernetes. */
  readonly reviewTokens?: TokenReviewer;
};

/** Why a stream was ended: the gRPC status, our code (trailer sluice-error-code) and a sentence. */
class Refusal extends Error {
  readonly status: grpc.status;
  readonly code: string;
  constructor(status: grpc.status, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Who a stream is, once its first request has been attested. */
type StreamIdentity = {
  readonly spiffeId: string;
  readonly namespace: string;
  readonly workload: string;
  /** For the log: `join-token <id>`, `client-svid <serial>` or `kubernetes-token pod <ns>/<pod>`. Never a token's secret. */
  readonly via: string;
};

const WORKLOAD_TYPE = 'workloads.mesh.sluice.dev';
/** The kube store's pods (control-plane/store/kube-types.ts POD_TYPE), read without loading the Kubernetes client. */
const POD_TYPE = 'pods';

export function addCertificateService(server: grpc.Server, deps: CertificateServiceDeps): void {
  const tokens = deps.tokens ?? joinTokens({ store: deps.store, trustDomain: deps.ca.trustDomain, now: deps.now });
  const ttlMs = deps.svidTtlMs ?? DEFAULT_SVID_TTL_MS;

  /** The stream's identity from its client certificate, or null when it presented none we accept. */
  const fromClientSvid = async (call: grpc.ServerDuplexStream<CertificateRequest, CertificateResponse>, hint: string): Promise<StreamIdentity | null> => {
    const peer = call.getAuthContext().sslPeerCertificate;
    if (peer?.raw === undefined) return null;
    const cert = new X509Certificate(peer.raw);
    const now = deps.now();
    // The handshake checked the chain with the wall clock; our clock is the one that counts.
    if (now < cert.validFromDate.getTime() || now >= cert.validToDate.getTime()) {
      throw new Refusal(grpc.status.UNAUTHENTICATED, 'CLIENT_SVID_EXPIRED', `the client certificate (serial ${cert.serialNumber}) is valid only from ${cert.validFromDate.toISOString()} to ${cert.validToDate.toISOString()}; join again with a new join token (sluicectl token create)`);
    }
    // The X.509-SVID rules (one SPIFFE ID, no CA by basicConstraints or keyUsage), as the proxies apply them.
    const id = leafSvidId(cert);
    const owner = id.ok && id.value.trustDomain === deps.ca.trustDomain ? workloadOf(id.value) : null;
    if (!id.ok || owner === null) {
      const why = id.ok ? `it names ${id.value.uri}` : id.error;
      throw new Refusal(grpc.status.UNAUTHENTICATED, 'CLIENT_SVID_INVALID', `the client certificate is not a workload SVID of trust domain ${deps.ca.trustDomain}: ${why}`);
    }
    return { spiffeId: id.value.uri, namespace: owner.namespace, workload: await workloadFor(owner.namespace, owner.serviceAccount, hint), via: `client-svid ${cert.serialNumber}` };
  };

  /**
   * The Workload a client SVID belongs to. The SVID names namespace and service account
   * only, so the proxy may say which Workload it is; that one must exist and have that
   * account. Without a hint, the one Workload with that account, if there is exactly one
   * (a pod's SVID has none: '' then, as Istio's agents need no WorkloadEntry).
   */
  const workloadFor = async (namespace: string, serviceAccount: string, hint: string): Promise<string> => {
    const accountOf = (w: Resource) => (w.spec as { serviceAccount?: string } | undefined)?.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT;
    if (hint === '') {
      const { items } = await deps.store.list(WORKLOAD_TYPE, { namespace });
      const mine = items.filter((w) => accountOf(w) === serviceAccount);
      return mine.length === 1 ? mine[0].metadata.name : '';
    }
    let w: Resource | undefined;
    try {
      w = await deps.store.get(WORKLOAD_TYPE, namespace, hint);
    } catch (err) {
      if (!isStoreError(err, 'NOT_FOUND')) throw err;
    }
    // On Kubernetes, a pod's proxy renews as its pod: the pod (the store follows them) must run as that account.
    if (w === undefined && deps.reviewTokens !== undefined) {
      const pod = await deps.store.get(POD_TYPE, namespace, hint).catch((err: unknown) => (isStoreError(err, 'NOT_FOUND') ? undefined : Promise.reject(err)));
      const podAccount = (pod?.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName ?? DEFAULT_SERVICE_ACCOUNT;
      if (pod !== undefined && podAccount === serviceAccount) return hint;
      if (pod !== undefined) throw new Refusal(grpc.status.PERMISSION_DENIED, 'WORKLOAD_MISMATCH', `pod ${namespace}/${hint} runs as service account ${podAccount}, so the client certificate for service account ${serviceAccount} does not speak for it`);
    }
    if (w === undefined || accountOf(w) !== serviceAccount) {
      throw new Refusal(grpc.status.PERMISSION_DENIED, 'WORKLOAD_MISMATCH', `Workload ${namespace}/${hint} ${w === undefined ? 'does not exist' : `runs as service account ${accountOf(w)}`}, so the client certificate for service account ${serviceAccount} does not speak for it`);
    }
    return hint;
  };

  /** The service account the Kubernetes API says a pod's token was issued to; the pod's name is its workload. */
  const fromPodToken = async (token: string): Promise<StreamIdentity> => {
    if (deps.reviewTokens === undefined) {
      throw new Refusal(grpc.status.UNAUTHENTICATED, 'KUBERNETES_NOT_CONFIGURED', 'this control plane does not run on Kubernetes (start sluice-cp with --store kubernetes), so it cannot check a service-account token; a VM proxy joins with a join token (sluicectl token create)');
    }
    const pod = await attestPod(token, deps.reviewTokens);
    if (!pod.ok) throw new Refusal(grpc.status.UNAUTHENTICATED, pod.code, pod.message);
    const { namespace, serviceAccount, pod: name } = pod.value;
    return { spiffeId: workloadId(deps.ca.trustDomain, namespace, serviceAccount), namespace, workload: name, via: `kubernetes-token pod ${namespace}/${name}` };
  };

  /** The CSR's public key, once its one URI SAN is the stream's identity. */
  const checkCsr = (req: CertificateRequest, spiffeId: string): string => {
    const csr = readCsr(req.csr);
    if (!csr.ok) throw new Refusal(grpc.status.INVALID_ARGUMENT, 'CSR_INVALID', `the CSR cannot be used: ${csr.error}`);
    const asked = csr.value.uris;
    if (asked.length !== 1 || asked[0] !== spiffeId) {
      throw new Refusal(grpc.status.PERMISSION_DENIED, 'IDENTITY_MISMATCH', `the CSR asks for ${asked.length === 0 ? 'no identity (no URI SAN)' : asked.join(', ')}, but this stream is authenticated as ${spiffeId}; an SVID request names exactly that one identity`);
    }
    return csr.value.publicKeyPem;
  };

  const issue = (req: CertificateRequest, who: StreamIdentity, publicKeyPem: string): CertificateResponse => {
    const id = parseSpiffeId(who.spiffeId);
    const svid = id.ok ? issueSvid(deps.ca, { spiffeId: id.value, publicKeyPem, now: deps.now(), ttlMs }) : id;
    if (!svid.ok) throw new Refusal(grpc.status.INTERNAL, 'ISSUE_FAILED', `the CA could not issue ${who.spiffeId}: ${svid.error}`);
    const serial = new X509Certificate(certificateBlocks(svid.value.certChain)[0]).serialNumber;
    deps.log('info', 'svid issued', { identity: who.spiffeId, namespace: who.namespace, workload: who.workload, serial, notAfter: svid.value.notAfter.toISOString(), via: who.via });
    if (who.workload !== '') deps.issued?.record(who.namespace, who.workload, { identity: who.spiffeId, serial, notBefore: svid.value.notBefore.toISOString(), notAfter: svid.value.notAfter.toISOString() });
    return { request_id: req.request_id, cert_chain: svid.value.certChain, trust_bundle: deps.ca.bundle, spiffe_id: who.spiffeId, workload: who.workload, namespace: who.namespace };
  };

  const certify = (call: grpc.ServerDuplexStream<CertificateRequest, CertificateResponse>) => {
    let who: StreamIdentity | null = null;
    let done = false;
    // One request at a time, in order: the first one's attestation must finish before a second is read as a renewal.
    let queue = Promise.resolve();

    const handle = async (req: CertificateRequest): Promise<void> => {
      const podToken = req.kubernetes_token ?? '';
      if (who === null && req.join_token === '' && podToken !== '') {
        who = await fromPodToken(podToken);
        call.write(issue(req, who, checkCsr(req, who.spiffeId)));
        return;
      }
      if (who === null) {
        who = req.join_token === '' ? await fromClientSvid(call, req.workload) : null;
        if (who === null) {
          if (req.join_token === '') {
            throw new Refusal(grpc.status.UNAUTHENTICATED, 'NO_PROOF', 'this stream has no proof of identity: present a client SVID of this mesh in the TLS handshake, or send a join_token (sluicectl token create) in the first request');
          }
          // The CSR's key lets a used token finish the join it was used for (join-tokens.ts, check).
          const csr = readCsr(req.csr);
          const token = await tokens.check(req.join_token, csr.ok ? csr.value.publicKeyPem : undefined);
          if (!token.ok) throw new Refusal(grpc.status.UNAUTHENTICATED, token.error.code, token.error.message);
          // The CSR is checked before the token is used, so a malformed request does not waste it.
          const publicKeyPem = checkCsr(req, token.value.spiffeId);
          const used = await tokens.consume(req.join_token, publicKeyPem);
          if (!used.ok) throw new Refusal(grpc.status.UNAUTHENTICATED, used.error.code, used.error.message);
          who = { spiffeId: used.value.spiffeId, namespace: used.value.namespace, workload: used.value.workload, via: `join-token ${used.value.id}` };
          call.write(issue(req, who, publicKeyPem));
          return;
        }
      }
      call.write(issue(req, who, checkCsr(req, who.spiffeId)));
    };

    const end = (err: unknown) => {
      if (done) return;
      done = true;
      const refusal = err instanceof Refusal ? err : new Refusal(grpc.status.INTERNAL, 'INTERNAL', 'the certificate service failed; the control plane log has the details');
      if (!(err instanceof Refusal)) deps.log('error', 'certificate service failed', { error: (err as Error).stack ?? String(err), peer: call.getPeer() });
      else deps.log('warn', 'certificate request refused', { code: refusal.code, reason: refusal.message, identity: who?.spiffeId, peer: call.getPeer() });
      const metadata = new grpc.Metadata();
      metadata.set(ERROR_CODE_METADATA, refusal.code);
      call.emit('error', { code: refusal.status, details: refusal.message, metadata });
    };

    call.on('data', (req: CertificateRequest) => {
      queue = queue.then(() => (done ? undefined : handle(req))).catch(end);
    });
    call.on('end', () => {
      void queue.then(() => {
        if (done) return;
        done = true;
        call.end();
      });
    });
    call.on('error', () => {
      done = true;
    });
    call.on('cancelled', () => {
      done = true;
    });
  };

  server.addService(CERTIFICATE_SERVICE, { Certify: certify });
}
