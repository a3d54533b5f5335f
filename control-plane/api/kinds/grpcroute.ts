// GRPCRoute: Gateway API's v1 gRPC routing resource (standard channel), attached to a
// Service as Sluice routes mesh traffic (GAMMA). It matches on the gRPC service and method
// and on headers; parents, backends, header filters and mirroring are HTTPRoute's
// (gateway-common.ts, kinds/route-rule.ts), so both kinds read and fail alike.

import Type, { type Static } from 'typebox';
import { closed, Opt } from '../../../kinds/schema-kit.ts';
import { checkGrpcRule, checkRuleList, grpcRuleSchema } from '../../../kinds/route-rule.ts';
import { defineKind } from '../kind.ts';
import { grpcRouteNames } from '../kind-names.ts';
import { apiRuleContext, BACKEND_OBJECT_FIELDS, BackendObjectReference, checkHostnames, checkParentRefs, COMMON_ROUTE_FIELDS } from './gateway-common.ts';

const Rule = grpcRuleSchema(BACKEND_OBJECT_FIELDS, BackendObjectReference);

const GRPCRouteSpec = Type.Object({ ...COMMON_ROUTE_FIELDS, rules: Opt(Type.Array(Rule, { maxItems: 16 })) }, closed);

export type GRPCRouteSpec = Static<typeof GRPCRouteSpec>;

export const grpcRouteKind = defineKind(grpcRouteNames, {
  spec: GRPCRouteSpec,
  check(spec, add) {
    checkParentRefs(spec.parentRefs, add);
    checkHostnames(spec.hostnames ?? [], add);
    const ctx = apiRuleContext(add);
    checkRuleList(spec.rules, 0, 'spec.rules', ctx);
    (spec.rules ?? []).forEach((rule, j) => checkGrpcRule(rule, `spec.rules[${j}]`, ctx));
  },
});
