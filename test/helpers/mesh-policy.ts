// Security policies for a test's proxy config, written as JS objects: each becomes one
// item of the YAML `policies:` list (as JSON, which YAML reads as it is), so a test states
// its rules without minding YAML indentation.

import { POLICY_API_VERSION } from '../../proxy/config/policies.ts';

type Spec = Record<string, unknown>;

const listeners = (names: readonly string[]) => names.map((name) => ({ kind: 'Listener', name }));

/** An AuthorizationPolicy on `targets` (listener names); `spec` is everything but targetRefs. */
export function authorizationPolicy(name: string, targets: readonly string[], spec: Spec): string {
  return item('AuthorizationPolicy', name, { targetRefs: listeners(targets), ...spec });
}

/** A RequestAuthentication on `targets` (listener names) with these jwtRules. */
export function requestAuthentication(name: string, targets: readonly string[], jwtRules: readonly Spec[]): string {
  return item('RequestAuthentication', name, { targetRefs: listeners(targets), jwtRules });
}

/** The `policies:` section holding `items`. */
export function policies(...items: string[]): string {
  return `policies:\n${items.join('\n')}\n`;
}

function item(kind: string, name: string, spec: Spec): string {
  return `  - ${JSON.stringify({ apiVersion: POLICY_API_VERSION, kind, metadata: { name }, spec })}`;
}

/**
 * The app's proxy: identity from the folder `api`, one HTTP listener per entry of
 * `listeners` (name -> extra fields, such as tls), all routed to the app, and `policyItems`.
 */
export function appProxyConfig(appPort: number, listeners: Record<string, object>, policyItems: readonly string[]): string {
  const list = Object.entries(listeners).map(([name, extra]) => `  - ${JSON.stringify({ name, address: '127.0.0.1', port: 0, protocol: 'http', ...extra })}`);
  return `
identity: { dir: api }
listeners:
${list.join('\n')}
routes: [{ name: all, rules: [{ backendRefs: [{ name: app }] }] }]
backends: [{ name: app, endpoints: [{ address: 127.0.0.1, port: ${appPort} }] }]
${policies(...policyItems)}`;
}
