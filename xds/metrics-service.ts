// Envoy's metrics service (`envoy.service.metrics.v3.MetricsService/StreamMetrics`): a
// client stream on which a proxy sends its metrics, as Prometheus MetricFamily messages,
// every few seconds. A Sluice proxy sends its golden metrics this way to the control plane
// it already dials (the :15012 TLS port, its SVID as the client certificate), so the
// control plane can aggregate a mesh spread over sites whose proxies it cannot scrape
// (sluicectl stat/top). An Envoy with a metrics_service stats sink speaks the same wire.
//
// The messages are defined here in code (as xds/ca-service.ts does): the subset of
// Envoy's StreamMetricsMessage and of the Prometheus client data model that these streams
// use, with the field numbers of both projects' public wire contracts. Fields left out are
// skipped by any decoder, ours included.

import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';

export const METRICS_SERVICE_NAME = 'envoy.service.metrics.v3.MetricsService';
export const STREAM_METRICS_PATH = `/${METRICS_SERVICE_NAME}/StreamMetrics`;

export type LabelPair = { name: string; value: string };
/** io.prometheus.client.MetricType: COUNTER 0, GAUGE 1, HISTOGRAM 4 (the kinds a Sluice registry has). */
export type MetricType = 'COUNTER' | 'GAUGE' | 'HISTOGRAM';
export type Bucket = { cumulative_count: number; upper_bound: number };
export type Metric = {
  label: LabelPair[];
  gauge?: { value: number };
  counter?: { value: number };
  histogram?: { sample_count: number; sample_sum: number; bucket: Bucket[] };
  timestamp_ms?: number;
};
export type MetricFamily = { name: string; help: string; type: MetricType; metric: Metric[] };

export type StreamMetricsMessage = {
  /** Sent on the first message of a stream only: who the metrics are of. */
  identifier?: { node: { id: string; cluster?: string } };
  envoy_metrics: MetricFamily[];
};

const root = protobuf.Root.fromJSON({
  nested: {
    io: {
      nested: {
        prometheus: {
          nested: {
            client: {
              nested: {
                LabelPair: { fields: { name: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
                MetricType: { values: { COUNTER: 0, GAUGE: 1, SUMMARY: 2, UNTYPED: 3, HISTOGRAM: 4, GAUGE_HISTOGRAM: 5 } },
                Gauge: { fields: { value: { type: 'double', id: 1 } } },
                Counter: { fields: { value: { type: 'double', id: 1 } } },
                Bucket: { fields: { cumulative_count: { type: 'uint64', id: 1 }, upper_bound: { type: 'double', id: 2 } } },
                Histogram: { fields: { sample_count: { type: 'uint64', id: 1 }, sample_sum: { type: 'double', id: 2 }, bucket: { rule: 'repeated', type: 'Bucket', id: 3 } } },
                Metric: {
                  fields: {
                    label: { rule: 'repeated', type: 'LabelPair', id: 1 },
                    gauge: { type: 'Gauge', id: 2 },
                    counter: { type: 'Counter', id: 3 },
                    timestamp_ms: { type: 'int64', id: 6 },
                    histogram: { type: 'Histogram', id: 7 },
                  },
                },
                MetricFamily: { fields: { name: { type: 'string', id: 1 }, help: { type: 'string', id: 2 }, type: { type: 'MetricType', id: 3 }, metric: { rule: 'repeated', type: 'Metric', id: 4 } } },
              },
            },
          },
        },
      },
    },
    envoy: {
      nested: {
        service: {
          nested: {
            metrics: {
              nested: {
                v3: {
                  nested: {
                    // envoy.config.core.v3.Node's id and cluster only.
                    Node: { fields: { id: { type: 'string', id: 1 }, cluster: { type: 'string', id: 2 } } },
                    Identifier: { fields: { node: { type: 'Node', id: 1 } } },
                    StreamMetricsMessage: { fields: { identifier: { type: 'Identifier', id: 1 }, envoy_metrics: { rule: 'repeated', type: 'io.prometheus.client.MetricFamily', id: 2 } } },
                    StreamMetricsResponse: { fields: {} },
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

const messageType = root.lookupType('envoy.service.metrics.v3.StreamMetricsMessage');
const responseType = root.lookupType('envoy.service.metrics.v3.StreamMetricsResponse');

function serializeMessage(m: StreamMetricsMessage): Buffer {
  return Buffer.from(messageType.encode(messageType.fromObject(m)).finish());
}

function deserializeMessage(b: Buffer): StreamMetricsMessage {
  // uint64 and int64 as numbers: counts stay far below 2^53.
  return messageType.toObject(messageType.decode(b), { enums: String, longs: Number, arrays: true, defaults: false }) as StreamMetricsMessage;
}

export type MetricsServiceDefinition = ServiceDefinition<{ StreamMetrics: MethodDefinition<StreamMetricsMessage, Record<string, never>> }>;

export const METRICS_SERVICE: MetricsServiceDefinition = {
  StreamMetrics: {
    path: STREAM_METRICS_PATH,
    requestStream: true,
    responseStream: false,
    requestSerialize: serializeMessage,
    requestDeserialize: deserializeMessage,
    responseSerialize: () => Buffer.from(responseType.encode({}).finish()),
    responseDeserialize: () => ({}),
    originalName: 'streamMetrics',
  },
};
