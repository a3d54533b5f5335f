// Authorization for a listener: the AuthorizationPolicy model and its engine. The kind's
// schema and checks are shared with the control plane (kinds/authz-spec.ts); turning them into this model is config/authz-spec.ts.

export { type Authorizer, compileAuthorization } from './engine.ts';
export type { AuthorizationPolicy, AuthzAction, AuthzCondition, AuthzDecision, AuthzOperation, AuthzPathMatch, AuthzRequest, AuthzRule, AuthzSource } from './model.ts';
