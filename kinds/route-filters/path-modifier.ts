// Gateway API HTTPPathModifier, which RequestRedirect and URLRewrite share: the new path,
// whole (ReplaceFullPath) or in place of the prefix the rule matched (ReplacePrefixMatch).

import Type, { type Static } from 'typebox';
import { closed, describeValue, Opt } from '../schema-kit.ts';
import { isRecord, type RuleContext } from '../route-check.ts';

export const PATH_MODIFIER_TYPES = ['ReplaceFullPath', 'ReplacePrefixMatch'] as const;

export const PathModifierSchema = Type.Object(
  { type: Type.Enum(PATH_MODIFIER_TYPES), replaceFullPath: Opt(Type.String({ maxLength: 1024 })), replacePrefixMatch: Opt(Type.String({ maxLength: 1024 })) },
  closed,
);
export type PathModifierSpec = Static<typeof PathModifierSchema>;

/** The `path` of a redirect or a rewrite at `path`: the value beside `type` is the one its type names, and a path a request can carry. */
export function checkPathModifier(owner: Record<string, unknown>, path: string, ctx: RuleContext): void {
  const p = owner.path;
  const at = `${path}.path`;
  if (!isRecord(p) || !ctx.sound(`${at}.type`) || (p.type !== 'ReplaceFullPath' && p.type !== 'ReplacePrefixMatch')) return;
  const [field, other] = p.type === 'ReplaceFullPath' ? (['replaceFullPath', 'replacePrefixMatch'] as const) : (['replacePrefixMatch', 'replaceFullPath'] as const);
  if (p[other] !== undefined) ctx.add(`${at}.${other}`, `does not go with type ${p.type}; use type: ${other === 'replaceFullPath' ? 'ReplaceFullPath' : 'ReplacePrefixMatch'} to set it`);
  const value = p[field];
  if (value === undefined) return ctx.add(`${at}.${field}`, `is required when type is ${p.type}`);
  if (typeof value !== 'string' || !ctx.sound(`${at}.${field}`)) return;
  // An empty replacePrefixMatch is Gateway API's way to strip the prefix.
  if (!value.startsWith('/') && !(field === 'replacePrefixMatch' && value === '')) ctx.add(`${at}.${field}`, `must start with '/': it becomes the request's path; got ${describeValue(value)}`);
  else if (/[?#]/.test(value)) ctx.add(`${at}.${field}`, `must not contain '?' or '#': it replaces the path alone; got ${describeValue(value)}`);
}
