// Authorization for a listener: the AuthorizationPolicy model and its engine. The kind's
// schema, checks and resolution live with the other kinds, in config/authz-spec.ts.

export { type Authorizer, compileAuthorization } from './engine.ts';
export type { AuthorizationPolicy, AuthzAction, AuthzCondition, AuthzDecision, AuthzOperation, AuthzPathMatch, AuthzRequest, AuthzRule, AuthzSource } from './model.ts';
