// The field types of Gateway API's route rules (HTTPRoute, GRPCRoute), with its limits, as
// both the API's kinds and the proxy's static file write them.

import Type from 'typebox';
import { API_GROUP_PATTERN, DNS_SUBDOMAIN_PATTERN, HEADER_NAME_PATTERN, HEADER_VALUE_PATTERN, KIND_PATTERN } from './schema-kit.ts';

export const Group = Type.String({ pattern: API_GROUP_PATTERN, maxLength: 253 });
export const Kind = Type.String({ pattern: KIND_PATTERN, minLength: 1, maxLength: 63 });
export const ObjectName = Type.String({ minLength: 1, maxLength: 253 });
export const PortNumber = Type.Integer({ minimum: 1, maximum: 65535 });
/** Gateway API SectionName: rule names, and a parent's section (for a Service, a port name). */
export const SectionName = Type.String({ pattern: DNS_SUBDOMAIN_PATTERN, minLength: 1, maxLength: 253 });
export const HeaderName = Type.String({ pattern: HEADER_NAME_PATTERN, minLength: 1, maxLength: 256 });
/** No CR, LF or NUL: a value is written into a header line (a modifier) or compared with one (a match). */
export const HeaderValue = Type.String({ pattern: HEADER_VALUE_PATTERN, minLength: 1, maxLength: 4096 });
export const MatchType = Type.Enum(['Exact', 'RegularExpression']);
/** Gateway API PreciseHostname: no wildcard, since it is written into the request. */
export const PreciseHostname = Type.String({ pattern: DNS_SUBDOMAIN_PATTERN, minLength: 1, maxLength: 253 });
/** A rule's or a backendRef's weight: its share of the rule's requests. */
export const Weight = Type.Integer({ minimum: 0, maximum: 1_000_000 });
