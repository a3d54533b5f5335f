// A source's conditions on the verified JWT -> requestPrincipals / notRequestPrincipals
// (translate-rbac-rule.ts reads the rest of a source): `metadata` principals on jwt_authn's
// payload, read only in the forms xds/jwt-form.ts writes; anything else is a problem with
// its path.

import { HAS_JWT, readRequestPrincipals, sameForm } from '../../xds/jwt-form.ts';
import type { AuthzAction } from '../authz/model.ts';
import type { Pb, Sink } from './shape.ts';

/** requestPrincipals and notRequestPrincipals, in the forms of xds/jwt-form.ts (the not* one guarded in ALLOW, as peers are). */
export function requestPrincipals(id: Pb, action: AuthzAction, sink: Sink): { key: 'requestPrincipals' | 'notRequestPrincipals'; values: string[] } | undefined {
  const read = (set: Pb, key: 'requestPrincipals' | 'notRequestPrincipals', at: string) => {
    const values = readRequestPrincipals(set);
    if (values === null) sink.add(at, "a Sluice proxy reads request principals as or_ids of, for each '<iss>/<sub>', and_ids [iss exact, sub exact] for every split at a '/', or the iss present_match ('*'), on jwt_authn's payload metadata (xds/SUBSET.md)");
    return values === null ? undefined : { key, values };
  };
  if (id.or_ids !== undefined) return read(id, 'requestPrincipals', '');
  if (id.not_id !== undefined) {
    if (action === 'DENY') return read(id.not_id, 'notRequestPrincipals', 'not_id');
    sink.add('not_id', 'alone, it admits a request without a JWT, which an ALLOW policy never does through notRequestPrincipals; guard it: and_ids [{ metadata: iss present_match }, { not_id }]');
    return undefined;
  }
  const pair: Pb[] | undefined = id.and_ids?.ids;
  if (pair !== undefined && pair.length === 2 && sameForm(pair[0], HAS_JWT) && pair[1].not_id !== undefined) {
    if (action === 'ALLOW') return read(pair[1].not_id, 'notRequestPrincipals', 'and_ids.ids[1].not_id');
    sink.add('and_ids.ids[0]', 'a guard on notRequestPrincipals: a DENY policy here denies a request without a JWT, which the guard would let through; write the not_id alone');
    return undefined;
  }
  sink.add('', 'a Sluice proxy reads a condition on the JWT as or_ids of request principals, not_id of that (DENY), or and_ids [iss present, not_id] (ALLOW)');
  return undefined;
}
