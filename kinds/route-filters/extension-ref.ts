// ExtensionRef (Gateway API LocalObjectReference to an implementation's own filter): in
// the schema so that a route written for another mesh is refused with a reason, not as an
// unknown type.

import Type from 'typebox';
import { closed } from '../schema-kit.ts';
import { Group, Kind, ObjectName } from '../route-fields.ts';
import { defineFilter } from './filter.ts';

export const extensionRef = defineFilter({
  type: 'ExtensionRef',
  field: 'extensionRef',
  schema: Type.Object({ group: Group, kind: Kind, name: ObjectName }, closed),
  unsupported: 'Sluice has no extension filters',
});
