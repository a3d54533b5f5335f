// The certificate service both sides speak on :15012 (DESIGN: "Certificates"): one
// bidirectional stream per proxy, `sluice.ca.v1.CertificateService/Certify`. The proxy
// sends a CSR (its key never leaves it), the control plane answers with the SVID and the
// trust bundle; renewals go over the same stream. Like Istio's IstioCertificateService,
// but streaming, so the stream is authenticated once (join token or client SVID) and a
// renewal carries no new proof. The messages are defined here in code: there is no .proto
// file, and the field numbers below are the wire contract.

import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';

export const CERTIFICATE_SERVICE_NAME = 'sluice.ca.v1.CertificateService';
export const CERTIFY_PATH = `/${CERTIFICATE_SERVICE_NAME}/Certify`;

/** Where an injected pod's proxy finds the mesh's roots for its first contact (the injector writes it, the proxy reads it). */
export const CA_BUNDLE_ENV = 'SLUICE_CA_BUNDLE';

export type CertificateRequest = {
  /** The CSR, PEM: exactly one URI SAN, the identity the stream is authenticated as. */
  csr: string;
  /** `sluice-jt.<id>.<secret>`: only on the first request of a stream, when the caller presents no client SVID. */
  join_token: string;
  /** Echoed in the response, so the caller can tell which request it answers. */
  request_id: string;
  /** The Workload's name, as a hint when the stream is authenticated by a client SVID (which names only namespace and service account). */
  workload: string;
  /** A pod's projected service-account token (audience sluice-cp): only on the first request of a stream, instead of a join token. */
  kubernetes_token?: string;
};

export type CertificateResponse = {
  request_id: string;
  /** PEM: the SVID, then its intermediates. */
  cert_chain: string;
  /** PEM: the roots the mesh trusts. */
  trust_bundle: string;
  spiffe_id: string;
  /** The Workload's name; '' when the identity is not tied to one Workload. */
  workload: string;
  namespace: string;
};

const root = protobuf.Root.fromJSON({
  nested: {
    sluice: {
      nested: {
        ca: {
          nested: {
            v1: {
              nested: {
                CertificateRequest: {
                  fields: { csr: { type: 'string', id: 1 }, join_token: { type: 'string', id: 2 }, request_id: { type: 'string', id: 3 }, workload: { type: 'string', id: 4 }, kubernetes_token: { type: 'string', id: 5 } },
                },
                CertificateResponse: {
                  fields: {
                    request_id: { type: 'string', id: 1 },
                    cert_chain: { type: 'string', id: 2 },
                    trust_bundle: { type: 'string', id: 3 },
                    spiffe_id: { type: 'string', id: 4 },
                    workload: { type: 'string', id: 5 },
                    namespace: { type: 'string', id: 6 },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
});

const RequestType = root.lookupType('sluice.ca.v1.CertificateRequest');
const ResponseType = root.lookupType('sluice.ca.v1.CertificateResponse');

/** Every field present ('' when unset), as proto3 reads an absent string. */
const TO_OBJECT: protobuf.IConversionOptions = { defaults: true };

function codec<T extends object>(type: protobuf.Type): { serialize: (m: Partial<T>) => Buffer; deserialize: (b: Buffer) => T } {
  return {
    serialize: (m) => Buffer.from(type.encode(type.fromObject(m)).finish()),
    deserialize: (b) => type.toObject(type.decode(b), TO_OBJECT) as T,
  };
}

export const requestCodec = codec<CertificateRequest>(RequestType);
export const responseCodec = codec<CertificateResponse>(ResponseType);

export type CertificateServiceDefinition = ServiceDefinition<{ Certify: MethodDefinition<CertificateRequest, CertificateResponse> }>;

/** For `server.addService(CERTIFICATE_SERVICE, { Certify })`, and for a client's `makeBidiStreamRequest`. */
export const CERTIFICATE_SERVICE: CertificateServiceDefinition = {
  Certify: {
    path: CERTIFY_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: requestCodec.serialize,
    requestDeserialize: requestCodec.deserialize,
    responseSerialize: responseCodec.serialize,
    responseDeserialize: responseCodec.deserialize,
    originalName: 'certify',
  },
};

/** Trailing-metadata key carrying the Sluice error code of a refusal (TOKEN_EXPIRED, IDENTITY_MISMATCH...), so a client can switch on it. */
export const ERROR_CODE_METADATA = 'sluice-error-code';
