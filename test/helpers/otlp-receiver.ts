// A real OTLP trace receiver for tests: OTLP/HTTP (protobuf bodies POSTed to /v1/traces)
// and OTLP/gRPC (opentelemetry.proto.collector.trace.v1.TraceService/Export), both decoding
// the standard protos kept in test/fixtures/otlp/ (copied from opentelemetry-proto).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import protobuf from 'protobufjs';

const PROTO_DIR = fileURLToPath(new URL('../fixtures/otlp/', import.meta.url));
const SERVICE_PROTO = 'opentelemetry/proto/collector/trace/v1/trace_service.proto';

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
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => `${PROTO_DIR}${target}`;
  r.loadSync(SERVICE_PROTO, { keepCase: false });
  r.resolveAll();
  return (root = r);
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
  // gRPC: @grpc/proto-loader over the same protos, as a collector built on grpc-js would.
  const def = loadSync(SERVICE_PROTO, { includeDirs: [PROTO_DIR], keepCase: false, longs: String, enums: String, defaults: false, bytes: Buffer });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { opentelemetry: { proto: { collector: { trace: { v1: { TraceService: grpc.ServiceClientConstructor } } } } } };
  const server = new grpc.Server();
  server.addService(pkg.opentelemetry.proto.collector.trace.v1.TraceService.service, {
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
