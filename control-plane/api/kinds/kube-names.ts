// The Kubernetes naming rules (apimachinery's validation package) that Service, Workload
// and the route kinds share: label selectors, IANA service names, qualified names, IPs and
// CIDRs, and uniqueness within a list. Each returns the problem as a sentence, or
// undefined, so the caller picks the path.

import { isIP } from 'node:net';
import { describeValue } from '../../../kinds/schema-kit.ts';
import type { Add } from '../kind.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** The name part of a label key or qualified name: up to 63 characters. */
const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

export function isDnsLabel(name: string): boolean {
  return name.length <= 63 && DNS_LABEL.test(name);
}

export function isDnsSubdomain(name: string): boolean {
  return name.length <= 253 && DNS_SUBDOMAIN.test(name);
}

/** A host name (RFC 1123, any case); an all-digit last label is taken for a mistyped IPv4 address. */
export function isDnsName(name: string): boolean {
  const labels = name.split('.');
  return name.length <= 253 && labels.every((l) => /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/i.test(l)) && !/^[0-9]+$/.test(labels[labels.length - 1]);
}

/**
 * IANA_SVC_NAME (RFC 6335 section 5.1), what a container port name must be and so what a
 * Service's targetPort may name: at most 15 lower-case letters, digits and '-', with a letter.
 */
export function ianaServiceNameProblem(name: string): string | undefined {
  const rule = "a port name has at most 15 lower-case letters, digits and '-', at least one letter, and no '-' at either end or twice in a row";
  if (name.length > 15) return `'${name}' is too long for a port name (${name.length} characters): ${rule}`;
  if (!/^[-a-z0-9]+$/.test(name) || !/[a-z]/.test(name) || name.startsWith('-') || name.endsWith('-') || name.includes('--')) return `'${name}' is not a valid port name: ${rule}`;
  return undefined;
}

/** Label keys, annotation keys and appProtocol: an optional DNS-subdomain prefix and '/', then a name of up to 63 characters. */
export function qualifiedNameProblem(key: string, what: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = key.slice(slash + 1);
  if (prefix !== undefined && !isDnsSubdomain(prefix)) return `'${key}' is not a valid ${what}: the prefix before '/' must be a DNS subdomain (like example.com)`;
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) return `'${key}' is not a valid ${what}: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, after an optional 'prefix/'`;
  return undefined;
}

export function labelValueProblem(value: string, what = 'label value'): string | undefined {
  return value.length <= 63 && LABEL_VALUE.test(value) ? undefined : `'${value}' is not a valid ${what}: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
}

/** A `key: value` label selector (Service.spec.selector), each key and value checked as a label's. */
export function checkSelector(selector: Readonly<Record<string, string>>, path: string, add: Add): void {
  for (const [key, value] of Object.entries(selector)) {
    const keyProblem = qualifiedNameProblem(key, 'label key');
    const valueProblem = keyProblem === undefined ? labelValueProblem(value) : undefined;
    if (keyProblem !== undefined || valueProblem !== undefined) add(keyPath(path, key), (keyProblem ?? valueProblem)!);
  }
}

/** `spec.selector.app`, or `spec.selector["app.kubernetes.io/name"]` for a key a dot path would garble (as schema-kit writes paths). */
export function keyPath(path: string, key: string): string {
  return /^[\w-]+$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** 4 or 6 for an IP address, 0 for anything else. */
export function ipFamilyOf(text: string): 0 | 4 | 6 {
  return isIP(text) as 0 | 4 | 6;
}

/** An IP address, or the message saying it is not one. */
export function ipProblem(text: string): string | undefined {
  return isIP(text) === 0 ? `must be an IP address, such as 10.0.0.1 or fd00::1; got ${describeValue(text)}` : undefined;
}

/** A CIDR block such as 10.0.0.0/8 or fd00::/8. */
export function cidrProblem(text: string): string | undefined {
  const [address, bits, extra] = text.split('/');
  const family = ipFamilyOf(address ?? '');
  const max = family === 4 ? 32 : 128;
  if (extra !== undefined || family === 0 || bits === undefined || !/^\d{1,3}$/.test(bits) || Number(bits) > max) {
    return `must be a CIDR block such as 10.0.0.0/8 or fd00::/8; got ${describeValue(text)}`;
  }
  return undefined;
}

/** Records `key` at index `i` of a list whose keys must be unique; returns the index it was first seen at, if it was. */
export function firstSeen<K>(seen: Map<K, number>, key: K, i: number): number | undefined {
  const first = seen.get(key);
  if (first === undefined) seen.set(key, i);
  return first;
}
