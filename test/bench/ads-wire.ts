// The ADS wire as the push bench's simulated proxies and baseline server use it: the real
// Envoy service definition, except that responses stay bytes. A simulated proxy reads only
// the few fields it needs with a cheap scan (so the load generator stays light beside the
// control plane on a 2-core machine), and the baseline server writes pre-encoded bytes.

import type * as grpc from '@grpc/grpc-js';
import { adsPackageDefinition } from '../../xds/index.ts';

export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/** A DiscoveryResponse, scanned: each resource is its Any's `value`, of the response's type. */
export type RawResponse = { readonly version: string; readonly typeUrl: string; readonly nonce: string; readonly resources: readonly Buffer[] };

type DiscoveryObject = Record<string, unknown>;

function method(): grpc.MethodDefinition<DiscoveryObject, DiscoveryObject> {
  const service = adsPackageDefinition()[ADS_SERVICE] as unknown as grpc.ServiceDefinition;
  return service.StreamAggregatedResources as grpc.MethodDefinition<DiscoveryObject, DiscoveryObject>;
}

/** StreamAggregatedResources with requests as proto-loader objects and responses as raw bytes both ways. */
export function rawAdsService(): grpc.ServiceDefinition {
  const m = method();
  return {
    StreamAggregatedResources: { ...m, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } as grpc.MethodDefinition<DiscoveryObject, Buffer>,
  } as grpc.ServiceDefinition;
}

/** Encodes a DiscoveryResponse exactly as sluice-cp's gRPC server does for each write (proto-loader). */
export function encodeResponse(r: DiscoveryObject): Buffer {
  return method().responseSerialize(r);
}

export function decodeResponseObject(b: Buffer): DiscoveryObject {
  return method().responseDeserialize(b);
}

/**
 * Calls `visit` for each top-level field of a protobuf message: for a varint, `a` is its
 * value; for bytes, [a, b) is the slice. Fixed-width fields are skipped.
 */
export function scanFields(buf: Uint8Array, visit: (field: number, wire: number, a: number, b: number) => void): void {
  let i = 0;
  const varint = () => {
    let v = 0;
    let mul = 1;
    for (let n = 0; n < 10; n++) {
      const byte = buf[i++];
      v += (byte & 0x7f) * mul;
      if ((byte & 0x80) === 0) return v;
      mul *= 128;
    }
    throw new Error('malformed varint');
  };
  while (i < buf.length) {
    const tag = varint();
    const wire = tag % 8;
    const field = Math.floor(tag / 8);
    if (wire === 0) visit(field, 0, varint(), 0);
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      visit(field, 2, i, i + len);
      i += len;
    } else throw new Error(`unsupported wire type ${wire} at byte ${i}`);
    if (i > buf.length) throw new Error('truncated message');
  }
}

/** version_info = 1, resources = 2 (Any: type_url = 1, value = 2), type_url = 4, nonce = 5. */
export function scanResponse(buf: Buffer): RawResponse {
  let version = '';
  let typeUrl = '';
  let nonce = '';
  const resources: Buffer[] = [];
  scanFields(buf, (field, wire, a, b) => {
    if (wire !== 2) return;
    if (field === 1) version = buf.toString('utf8', a, b);
    else if (field === 4) typeUrl = buf.toString('utf8', a, b);
    else if (field === 5) nonce = buf.toString('utf8', a, b);
    else if (field === 2) {
      const any = buf.subarray(a, b);
      scanFields(any, (f, w, x, y) => {
        if (f === 2 && w === 2) resources.push(any.subarray(x, y));
      });
    }
  });
  return { version, typeUrl, nonce, resources };
}

/** A Cluster's name (field 1) and whether its discovery type (field 2) is EDS (3). */
export function clusterNameAndEds(value: Buffer): { name: string; eds: boolean } {
  let name = '';
  let eds = false;
  scanFields(value, (field, wire, a, b) => {
    if (field === 1 && wire === 2) name = value.toString('utf8', a, b);
    else if (field === 2 && wire === 0) eds = a === 3;
  });
  return { name, eds };
}
