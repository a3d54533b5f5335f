// The zone<->global stream on the global's :15012 (issue 18): `sluice.zone.v1.ZoneSync/Sync`,
// one bidirectional stream per zone, opened by the zone (zones reach the global outbound
// only). Like the certificate service (xds/ca-service.ts) the messages are defined here in
// code, and the field numbers are the wire contract. Resources and summaries travel as
// JSON text: they are the API's JSON objects already, and the store reads them as such.
//
//   zone -> global  ZoneMessage: the first names the zone and proves it (a client
//                   certificate, its intermediate; or on first contact a zone token and a
//                   CSR); every one may carry the zone's summary (a heartbeat too).
//   global -> zone  GlobalMessage: on first contact the zone's intermediate; then the full
//                   mesh-wide state at a revision, and every zone's record, on each change.

import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';

export const ZONE_SERVICE_NAME = 'sluice.zone.v1.ZoneSync';
export const SYNC_PATH = `/${ZONE_SERVICE_NAME}/Sync`;

export type ZoneMessage = {
  zone: string;
  /** The zone's sluice-cp version. */
  version: string;
  /** `sluice-zt.<id>.<secret>`: on the first message of a first contact only. */
  token: string;
  /** PEM CSR for the zone's intermediate, with the token. */
  csr: string;
  /** JSON ZoneSummary; '' when unchanged since the last message. */
  summary_json: string;
  /** Proxies connected to the zone's control plane now. */
  proxies: number;
};

export type GlobalMessage = {
  /** PEM: the zone's intermediate, answering a first contact; '' otherwise. */
  intermediate: string;
  /** PEM: the roots of the mesh (the global's bundle). */
  trust_bundle: string;
  /** The global store's revision the resources were read at; '' when this message carries none. */
  revision: string;
  /** JSON array: every mesh-wide resource (Mesh, routes, policies), as the global stores them. */
  resources_json: string;
  /** JSON array of ZoneRecord: every zone the global knows, the receiver included. */
  zones_json: string;
};

const root = protobuf.Root.fromJSON({
  nested: {
    sluice: {
      nested: {
        zone: {
          nested: {
            v1: {
              nested: {
                ZoneMessage: {
                  fields: {
                    zone: { type: 'string', id: 1 },
                    version: { type: 'string', id: 2 },
                    token: { type: 'string', id: 3 },
                    csr: { type: 'string', id: 4 },
                    summary_json: { type: 'string', id: 5 },
                    proxies: { type: 'uint32', id: 6 },
                  },
                },
                GlobalMessage: {
                  fields: {
                    intermediate: { type: 'string', id: 1 },
                    trust_bundle: { type: 'string', id: 2 },
                    revision: { type: 'string', id: 3 },
                    resources_json: { type: 'string', id: 4 },
                    zones_json: { type: 'string', id: 5 },
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

function codec<T extends object>(type: protobuf.Type): { serialize: (m: Partial<T>) => Buffer; deserialize: (b: Buffer) => T } {
  return {
    serialize: (m) => Buffer.from(type.encode(type.fromObject(m)).finish()),
    deserialize: (b) => type.toObject(type.decode(b), { defaults: true }) as T,
  };
}

const zoneCodec = codec<ZoneMessage>(root.lookupType('sluice.zone.v1.ZoneMessage'));
const globalCodec = codec<GlobalMessage>(root.lookupType('sluice.zone.v1.GlobalMessage'));

export type ZoneServiceDefinition = ServiceDefinition<{ Sync: MethodDefinition<ZoneMessage, GlobalMessage> }>;

export const ZONE_SERVICE: ZoneServiceDefinition = {
  Sync: {
    path: SYNC_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: zoneCodec.serialize,
    requestDeserialize: zoneCodec.deserialize,
    responseSerialize: globalCodec.serialize,
    responseDeserialize: globalCodec.deserialize,
    originalName: 'sync',
  },
};
