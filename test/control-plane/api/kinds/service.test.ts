// Service as an API resource: a Service written for Kubernetes (or printed by kubectl) is
// accepted as it is, and what the Kubernetes API server would refuse is refused here, each
// mistake at its field path.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { findKind } from '../../../../control-plane/api/descriptors.ts';
import { accepted, assertViolations, type Expected } from './assert-kind.ts';

/** A Service named orders in shop, with `spec` given as YAML. */
function service(spec: string, extra: object = {}): object {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: 'orders', namespace: 'shop' }, spec: parse(spec), ...extra };
}

describe('Service', () => {
  test('accepts a Service as people write it for Kubernetes', () => {
    const r = accepted(service(`
      type: ClusterIP
      clusterIP: 10.96.12.34
      sessionAffinity: ClientIP
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }
      selector: { app.kubernetes.io/name: orders, tier: backend }
      ports:
        - { name: http, port: 80, targetPort: http-web, protocol: TCP, appProtocol: http }
        - { name: grpc, port: 9090, targetPort: 50051, appProtocol: kubernetes.io/h2c }`));
    assert.equal(r.metadata.namespace, 'shop');
  });

  test('accepts what `kubectl get service -o yaml` prints, status included and kept', () => {
    const r = accepted(service(`
      clusterIP: 10.96.0.10
      clusterIPs: [10.96.0.10]
      internalTrafficPolicy: Cluster
      ipFamilies: [IPv4]
      ipFamilyPolicy: SingleStack
      ports:
        - { name: dns, port: 53, protocol: UDP, targetPort: 53 }
        - { name: dns-tcp, port: 53, protocol: TCP, targetPort: 53 }
      selector: { k8s-app: kube-dns }
      sessionAffinity: None
      type: ClusterIP`, { status: { loadBalancer: {} } }));
    assert.deepEqual(r.status, { loadBalancer: {} });
  });

  test('accepts headless, ExternalName, LoadBalancer and dual-stack Services', () => {
    accepted(service('{ clusterIP: None, selector: { app: db } }'));
    accepted(service('{ type: ExternalName, externalName: db.example.com. }'));
    accepted(service(`
      type: LoadBalancer
      externalTrafficPolicy: Local
      healthCheckNodePort: 32000
      loadBalancerClass: example.com/internal
      loadBalancerSourceRanges: [10.0.0.0/8, 'fd00::/8']
      allocateLoadBalancerNodePorts: true
      trafficDistribution: PreferClose
      ports: [{ port: 443, nodePort: 30443 }]`));
    accepted(service(`
      ipFamilyPolicy: RequireDualStack
      ipFamilies: [IPv4, IPv6]
      clusterIPs: [10.96.1.1, 'fd00::1']
      clusterIP: 10.96.1.1
      ports: [{ port: 80 }]`));
  });

  test('is found as svc and lists type, cluster IP, ports and selector as kubectl does', () => {
    const kind = findKind('svc');
    assert.equal(kind?.kind, 'Service');
    const r = accepted(service(`
      type: NodePort
      selector: { app: orders, version: v1 }
      ports: [{ name: http, port: 80, nodePort: 30080 }, { name: metrics, port: 9090, protocol: TCP }]`));
    assert.deepEqual(
      kind!.columns.map((c) => [c.name, c.value(r)]),
      [['TYPE', 'NodePort'], ['CLUSTER-IP', '<none>'], ['PORTS', '80:30080/TCP,9090/TCP'], ['SELECTOR', 'app=orders,version=v1']],
    );
  });

  const BAD: readonly (readonly [string, object, Expected])[] = [
    // --- structure ---
    ['an unknown field, with the one meant', service('{ selectors: { app: orders }, ports: [{ port: 80 }] }'), [['spec.selectors', /unknown field 'selectors'; did you mean 'selector'\?/]]],
    ['a misspelt type', service('{ type: ClusterIp, ports: [{ port: 80 }] }'), [['spec.type', /must be one of ClusterIP, NodePort, LoadBalancer, ExternalName; got 'ClusterIp'; did you mean 'ClusterIP'\?/]]],
    ['a lower-case protocol', service('{ ports: [{ port: 80, protocol: tcp }] }'), [['spec.ports[0].protocol', /did you mean 'TCP'\?/]]],
    ['a quoted port', service(`{ ports: [{ port: '80' }] }`), [['spec.ports[0].port', /must be a whole number; got '80'/]]],
    ['a port out of range', service('{ ports: [{ port: 70000 }] }'), [['spec.ports[0].port', /between 1 and 65535; got 70000/]]],
    ['a port without its number', service('{ ports: [{ name: http, targetPort: 8080 }] }'), [['spec.ports[0].port', /is required/]]],
    ['a port name that is not a DNS label', service('{ ports: [{ name: HTTP, port: 80 }] }'), [['spec.ports[0].name', /'HTTP' is not a valid DNS label/]]],
    ['an affinity timeout of 0', service('{ sessionAffinity: ClientIP, sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } }, ports: [{ port: 80 }] }'), [['spec.sessionAffinityConfig.clientIP.timeoutSeconds', /between 1 and 86400/]]],
    ['an unknown top-level field', service('{ ports: [{ port: 80 }] }', { stats: {} }), [['stats', /did you mean 'status'\?/]]],
    // --- ports ---
    ['no ports on a ClusterIP Service', service('{ selector: { app: orders } }'), [['spec.ports', /is required: list at least one port \(only a headless Service/]]],
    ['an unnamed port among several', service('{ ports: [{ name: http, port: 80 }, { port: 9090 }] }'), [['spec.ports[1].name', /is required when a Service has more than one port/]]],
    ['a port name used twice', service('{ ports: [{ name: http, port: 80 }, { name: http, port: 8080 }] }'), [['spec.ports[1].name', /port name 'http' is already used by ports\[0\]/]]],
    ['a port and protocol declared twice', service('{ ports: [{ name: a, port: 80 }, { name: b, port: 80, protocol: TCP }] }'), [['spec.ports[1].port', /80\/TCP is already declared by ports\[0\]/]]],
    ['a targetPort name longer than 15 characters', service('{ ports: [{ port: 80, targetPort: http-web-frontend }] }'), [['spec.ports[0].targetPort', /too long for a port name \(17 characters\)/]]],
    ['a targetPort name with a double dash', service('{ ports: [{ port: 80, targetPort: http--web }] }'), [['spec.ports[0].targetPort', /'http--web' is not a valid port name: .*no '-' at either end or twice in a row/]]],
    ['a targetPort name without a letter', service('{ ports: [{ port: 80, targetPort: 80-80 }] }'), [['spec.ports[0].targetPort', /at least one letter/]]],
    ['a quoted targetPort number', service(`{ ports: [{ port: 80, targetPort: '8080' }] }`), [['spec.ports[0].targetPort', /'8080' is a quoted number, which Kubernetes reads as a port name: write targetPort: 8080 without quotes/]]],
    ['a targetPort of 0', service('{ ports: [{ port: 80, targetPort: 0 }] }'), [['spec.ports[0].targetPort', /must be a port number between 1 and 65535, or a port name; got 0/]]],
    ['a targetPort that is a list', service('{ ports: [{ port: 80, targetPort: [8080] }] }'), [['spec.ports[0].targetPort', /must be a port number \(1-65535\) or a port name; got a list/]]],
    ['an appProtocol with a space', service(`{ ports: [{ port: 80, appProtocol: 'http 2' }] }`), [['spec.ports[0].appProtocol', /'http 2' is not a valid appProtocol.*for example http, http2, grpc/]]],
    ['a nodePort on a ClusterIP Service', service('{ ports: [{ port: 80, nodePort: 30080 }] }'), [['spec.ports[0].nodePort', /applies only when type is NodePort or LoadBalancer; this Service is ClusterIP/]]],
    ['a nodePort used twice', service('{ type: NodePort, ports: [{ name: a, port: 80, nodePort: 30080 }, { name: b, port: 81, nodePort: 30080 }] }'), [['spec.ports[1].nodePort', /30080\/TCP is already the node port of ports\[0\]/]]],
    // --- selector ---
    ['a selector key with an empty name', service('{ selector: { example.com/: x }, ports: [{ port: 80 }] }'), [['spec.selector["example.com/"]', /is not a valid label key/]]],
    ['a selector value with a space', service(`{ selector: { app: 'my app' }, ports: [{ port: 80 }] }`), [['spec.selector.app', /'my app' is not a valid label value/]]],
    // --- ExternalName ---
    ['an ExternalName Service without its name', service('{ type: ExternalName }'), [['spec.externalName', /is required when type is ExternalName/]]],
    ['an ExternalName that is not a DNS name', service('{ type: ExternalName, externalName: db_host }'), [['spec.externalName', /'db_host' is not a DNS name/]]],
    ['an ExternalName Service with a cluster IP', service('{ type: ExternalName, externalName: db.example.com, clusterIP: 10.0.0.1 }'), [['spec.clusterIP', /must not be set for an ExternalName Service/]]],
    ['an ExternalName Service with IP settings', service('{ type: ExternalName, externalName: db.example.com, clusterIPs: [10.0.0.1], ipFamilies: [IPv4], ipFamilyPolicy: SingleStack }'), [
      ['spec.clusterIPs', /must not be set for an ExternalName Service: it is a DNS alias/],
      ['spec.ipFamilies', /must not be set for an ExternalName Service/],
      ['spec.ipFamilyPolicy', /must not be set for an ExternalName Service/],
    ]],
    ['an externalName on a ClusterIP Service', service('{ externalName: db.example.com, ports: [{ port: 80 }] }'), [['spec.externalName', /applies only when type is ExternalName; this Service is ClusterIP/]]],
    // --- cluster IPs and families ---
    ['a clusterIP that is not an IP', service('{ clusterIP: 10.0.0, ports: [{ port: 80 }] }'), [['spec.clusterIP', /must be an IP address, 'None' for a headless Service, or '' to have one allocated; got '10.0.0'/]]],
    ['a second cluster IP that is not an IP', service(`{ clusterIPs: [10.0.0.1, 'fd00::1::2'], ports: [{ port: 80 }] }`), [['spec.clusterIPs[1]', /must be an IP address, 'None' for a headless Service/]]],
    ['a headless Service with a second cluster IP', service(`{ clusterIPs: [None, 'fd00::1'], ports: [{ port: 80 }] }`), [['spec.clusterIPs', /must be just \['None'\] for a headless Service/]]],
    ['clusterIPs not starting with clusterIP', service('{ clusterIP: 10.0.0.1, clusterIPs: [10.0.0.2], ports: [{ port: 80 }] }'), [['spec.clusterIPs[0]', /must equal spec.clusterIP \('10.0.0.1'\)/]]],
    ['two cluster IPs of one family', service('{ clusterIPs: [10.0.0.1, 10.0.0.2], ipFamilyPolicy: PreferDualStack, ports: [{ port: 80 }] }'), [['spec.clusterIPs[1]', /must be of the other IP family/]]],
    ['a cluster IP of the wrong family', service(`{ clusterIPs: ['fd00::1'], ipFamilies: [IPv4], ports: [{ port: 80 }] }`), [['spec.clusterIPs[0]', /is an IPv6 address but ipFamilies\[0\] is IPv4/]]],
    ['an IP family listed twice', service('{ ipFamilies: [IPv4, IPv4], ports: [{ port: 80 }] }'), [['spec.ipFamilies[1]', /IPv4 is listed twice/]]],
    ['SingleStack with two families', service('{ ipFamilyPolicy: SingleStack, ipFamilies: [IPv4, IPv6], ports: [{ port: 80 }] }'), [['spec.ipFamilyPolicy', /SingleStack allows one IP family, but ipFamilies lists two/]]],
    ['a headless NodePort Service', service('{ type: NodePort, clusterIP: None, ports: [{ port: 80 }] }'), [['spec.clusterIP', /may be 'None' \(headless\) only when type is ClusterIP; this Service is NodePort/]]],
    ['an external IP that is not an IP', service('{ externalIPs: [example.com], ports: [{ port: 80 }] }'), [['spec.externalIPs[0]', /must be an IP address/]]],
    // --- fields for one type ---
    ['load balancer source ranges on a ClusterIP Service', service('{ loadBalancerSourceRanges: [10.0.0.0/8], ports: [{ port: 80 }] }'), [['spec.loadBalancerSourceRanges', /applies only when type is LoadBalancer; this Service is ClusterIP/]]],
    ['a source range that is not a CIDR', service('{ type: LoadBalancer, loadBalancerSourceRanges: [10.0.0.0/33], ports: [{ port: 80 }] }'), [['spec.loadBalancerSourceRanges[0]', /must be a CIDR block/]]],
    ['a load balancer class with a space', service(`{ type: LoadBalancer, loadBalancerClass: 'internal lb', ports: [{ port: 80 }] }`), [['spec.loadBalancerClass', /'internal lb' is not a valid load balancer class/]]],
    ['a loadBalancerIP that is not an IP', service('{ type: LoadBalancer, loadBalancerIP: lb.example.com, ports: [{ port: 80 }] }'), [['spec.loadBalancerIP', /must be an IP address/]]],
    ['externalTrafficPolicy on a ClusterIP Service', service('{ externalTrafficPolicy: Local, ports: [{ port: 80 }] }'), [['spec.externalTrafficPolicy', /applies only to a Service reachable from outside the cluster/]]],
    ['healthCheckNodePort without the Local policy', service('{ type: LoadBalancer, healthCheckNodePort: 32000, ports: [{ port: 80 }] }'), [['spec.healthCheckNodePort', /with externalTrafficPolicy: Local/]]],
    ['affinity settings without ClientIP affinity', service('{ sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, ports: [{ port: 80 }] }'), [['spec.sessionAffinityConfig', /applies only when sessionAffinity is ClientIP; sessionAffinity is None \(the default\)/]]],
    // --- several at once ---
    [
      'every mistake in one document, not just the first',
      service('{ ports: [{ name: web, port: 80, targetPort: Web }, { port: 81, nodePort: 30081 }], selector: { app: a b } }'),
      [
        ['spec.ports[0].targetPort', /'Web' is not a valid port name/],
        ['spec.ports[1].name', /is required when a Service has more than one port/],
        ['spec.ports[1].nodePort', /applies only when type is NodePort or LoadBalancer/],
        ['spec.selector.app', /not a valid label value/],
      ],
    ],
  ];

  for (const [title, doc, expected] of BAD) test(`refuses ${title}`, () => assertViolations(doc, expected));
});
