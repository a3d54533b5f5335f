// A real OTLP trace receiver for tests: OTLP/HTTP (protobuf bodies POSTed to /v1/traces)
// and OTLP/gRPC (opentelemetry.proto.collector.trace.v1.TraceService/Export), decoding the
// standard OTLP protobuf wire format. The messages are defined here in code, the part of
// the OTLP trace protocol a receiver reads (as xds/metrics-service.ts does for Envoy's):
// the field numbers are the protocol's public wire contract, and a field left out is
// skipped by the decoder, as by any collector of an older version.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** One span as received, ids in lower-case hex ('' for no parent). */
export type ReceivedSpan = {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP's SpanKind: 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', ... */
  readonly kind: string;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  readonly resource: Readonly<Record<string, string | number | boolean>>;
  readonly statusCode: string;
};

export type OtlpReceiver = {
  /** http://127.0.0.1:PORT/v1/traces (OTLP/HTTP) or http://127.0.0.1:PORT (OTLP/gRPC). */
  readonly endpoint: string;
  readonly spans: ReceivedSpan[];
  /** Headers (or gRPC metadata) of every export request, lower-case names. */
  readonly requestHeaders: Record<string, string>[];
  /** Resolves once `pred` holds for the spans received; rejects after `timeoutMs` (default 30 s) saying what did arrive. */
  waitFor(pred: (spans: readonly ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
};

let root: protobuf.Root | undefined;
function otlpRoot(): protobuf.Root {
  if (root !== undefined) return root;
  const repeated = (type: string, id: number) => ({ rule: 'repeated', type, id });
  root = protobuf.Root.fromJSON({
    nested: {
      opentelemetry: {
        nested: {
          proto: {
            nested: {
              common: {
                nested: {
                  v1: {
                    nested: {
                      AnyValue: {
                        oneofs: { value: { oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'] } },
                        fields: {
                          stringValue: { type: 'string', id: 1 },
                          boolValue: { type: 'bool', id: 2 },
                          intValue: { type: 'int64', id: 3 },
                          doubleValue: { type: 'double', id: 4 },
                          arrayValue: { type: 'ArrayValue', id: 5 },
                          kvlistValue: { type: 'KeyValueList', id: 6 },
                          bytesValue: { type: 'bytes', id: 7 },
                        },
                      },
                      ArrayValue: { fields: { values: repeated('AnyValue', 1) } },
                      KeyValueList: { fields: { values: repeated('KeyValue', 1) } },
                      KeyValue: { fields: { key: { type: 'string', id: 1 }, value: { type: 'AnyValue', id: 2 } } },
                      InstrumentationScope: { fields: { name: { type: 'string', id: 1 }, version: { type: 'string', id: 2 }, attributes: repeated('KeyValue', 3) } },
                    },
                  },
                },
              },
              resource: { nested: { v1: { nested: { Resource: { fields: { attributes: repeated('opentelemetry.proto.common.v1.KeyValue', 1) } } } } } },
              trace: {
                nested: {
                  v1: {
                    nested: {
                      ResourceSpans: { fields: { resource: { type: 'opentelemetry.proto.resource.v1.Resource', id: 1 }, scopeSpans: repeated('ScopeSpans', 2), schemaUrl: { type: 'string', id: 3 } } },
                      ScopeSpans: { fields: { scope: { type: 'opentelemetry.proto.common.v1.InstrumentationScope', id: 1 }, spans: repeated('Span', 2), schemaUrl: { type: 'string', id: 3 } } },
                      Span: {
                        fields: {
                          traceId: { type: 'bytes', id: 1 },
                          spanId: { type: 'bytes', id: 2 },
                          traceState: { type: 'string', id: 3 },
                          parentSpanId: { type: 'bytes', id: 4 },
                          name: { type: 'string', id: 5 },
                          kind: { type: 'SpanKind', id: 6 },
                          startTimeUnixNano: { type: 'fixed64', id: 7 },
                          endTimeUnixNano: { type: 'fixed64', id: 8 },
                          attributes: repeated('opentelemetry.proto.common.v1.KeyValue', 9),
                          status: { type: 'Status', id: 15 },
                          flags: { type: 'fixed32', id: 16 },
                        },
                        nested: {
                          SpanKind: { values: { SPAN_KIND_UNSPECIFIED: 0, SPAN_KIND_INTERNAL: 1, SPAN_KIND_SERVER: 2, SPAN_KIND_CLIENT: 3, SPAN_KIND_PRODUCER: 4, SPAN_KIND_CONSUMER: 5 } },
                        },
                      },
                      Status: {
                        fields: { message: { type: 'string', id: 2 }, code: { type: 'StatusCode', id: 3 } },
                        nested: { StatusCode: { values: { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 } } },
                      },
                    },
                  },
                },
              },
              collector: {
                nested: {
                  trace: {
                    nested: {
                      v1: {
                        nested: {
                          ExportTraceServiceRequest: { fields: { resourceSpans: repeated('opentelemetry.proto.trace.v1.ResourceSpans', 1) } },
                          ExportTraceServiceResponse: { fields: { partialSuccess: { type: 'ExportTracePartialSuccess', id: 1 } } },
                          ExportTracePartialSuccess: { fields: { rejectedSpans: { type: 'int64', id: 1 }, errorMessage: { type: 'string', id: 2 } } },
                        },
                      },
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
  return root;
}

type Decoded = { resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: RawSpan[] }[] }[] };
type KeyValue = { key: string; value?: Record<string, unknown> };
type RawSpan = { traceId: Buffer; spanId: Buffer; parentSpanId?: Buffer; name: string; kind?: number | string; attributes?: KeyValue[]; status?: { code?: number | string } };

function flatten(req: Decoded, kinds: protobuf.Enum, codes: protobuf.Enum): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of req.resourceSpans ?? []) {
    const resource = attributesOf(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: Buffer.from(s.traceId).toString('hex'),
          spanId: Buffer.from(s.spanId).toString('hex'),
          parentSpanId: s.parentSpanId === undefined ? '' : Buffer.from(s.parentSpanId).toString('hex'),
          name: s.name,
          kind: typeof s.kind === 'string' ? s.kind : (kinds.valuesById[s.kind ?? 0] ?? String(s.kind)),
          attributes: attributesOf(s.attributes),
          resource,
          statusCode: typeof s.status?.code === 'string' ? s.status.code : (codes.valuesById[s.status?.code ?? 0] ?? ''),
        });
      }
    }
  }
  return out;
}

function attributesOf(list: KeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list ?? []) {
    const v = kv.value ?? {};
    const x = v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue ?? v.string_value ?? v.int_value ?? v.bool_value ?? v.double_value;
    out[kv.key] = typeof x === 'object' && x !== null ? Number(String(x)) : typeof x === 'string' && (v.intValue !== undefined || v.int_value !== undefined) ? Number(x) : (x as string | number | boolean);
  }
  return out;
}

export async function startOtlpReceiver(protocol: 'grpc' | 'http/protobuf'): Promise<OtlpReceiver> {
  const r = otlpRoot();
  const Request = r.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
  const Response = r.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse');
  const kinds = r.lookupEnum('opentelemetry.proto.trace.v1.Span.SpanKind');
  const codes = r.lookupEnum('opentelemetry.proto.trace.v1.Status.StatusCode');
  const spans: ReceivedSpan[] = [];
  const requestHeaders: Record<string, string>[] = [];
  const waitFor = async (pred: (s: readonly ReceivedSpan[]) => boolean, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!pred(spans)) {
      if (Date.now() > deadline) throw new Error(`the spans awaited did not arrive in ${timeoutMs} ms; ${spans.length} received: ${spans.map((x) => `${x.traceId}/${x.kind}/${x.attributes['url.path']}`).join(', ')}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  };
  if (protocol === 'http/protobuf') {
    const server: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/v1/traces' || req.headers['content-type'] !== 'application/x-protobuf') {
          res.writeHead(404).end();
          return;
        }
        requestHeaders.push(Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])));
        const decoded = Request.toObject(Request.decode(Buffer.concat(chunks)), { enums: String, longs: String, defaults: false }) as Decoded;
        spans.push(...flatten(decoded, kinds, codes));
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(Response.encode(Response.create({})).finish()));
      });
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const port = (server.address() as AddressInfo).port;
    return { endpoint: `http://127.0.0.1:${port}/v1/traces`, spans, requestHeaders, waitFor, close: () => new Promise<void>((res) => server.close(() => res())) };
  }
  // gRPC: the same messages as a grpc-js service, as a collector built on grpc-js would serve them.
  const decode = (b: Buffer) => Request.toObject(Request.decode(b), { enums: String, longs: String, defaults: false }) as Decoded;
  const service: grpc.ServiceDefinition = {
    Export: { path: EXPORT_PATH, requestStream: false, responseStream: false, requestSerialize: (m: unknown) => Buffer.from(Request.encode(Request.fromObject(m as object)).finish()), requestDeserialize: decode, responseSerialize: () => Buffer.from(Response.encode(Response.create({})).finish()), responseDeserialize: (b: Buffer) => Response.decode(b) },
  };
  const server = new grpc.Server();
  server.addService(service, {
    Export: (call: grpc.ServerUnaryCall<Decoded, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const md = call.metadata.getMap();
      requestHeaders.push(Object.fromEntries(Object.entries(md).map(([k, v]) => [k, String(v)])));
      spans.push(...flatten(call.request, kinds, codes));
      callback(null, {});
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))));
  return { endpoint: `http://127.0.0.1:${port}`, spans, requestHeaders, waitFor, close: () => new Promise<void>((res) => server.tryShutdown(() => res())) };
}
