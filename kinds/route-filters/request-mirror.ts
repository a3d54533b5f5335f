// RequestMirror (Gateway API HTTPRequestMirrorFilter): a copy of a share of the requests
// to another backend, whose answers are dropped. Its backendRef is what the side calls a
// backend (a Service port, or a static file's `backends` entry), so the filter is made for it.

import Type, { type TSchema } from 'typebox';
import { closed, Opt } from '../schema-kit.ts';
import { isRecord, type RuleContext } from '../route-check.ts';
import { defineFilter } from './filter.ts';

export function requestMirror<R extends TSchema>(backendRef: R) {
  const schema = Type.Object(
    {
      backendRef,
      /** Share of requests to mirror, 0-100; or `fraction`. Default: all of them. */
      percent: Opt(Type.Integer({ minimum: 0, maximum: 100 })),
      fraction: Opt(Type.Object({ numerator: Type.Integer({ minimum: 0 }), denominator: Opt(Type.Integer({ minimum: 1 })) }, closed)),
    },
    closed,
  );
  return defineFilter({ type: 'RequestMirror', field: 'requestMirror', schema, check: checkMirror, repeatable: true });
}

/** What checkMirror reads; the backendRef's shape is the side's (RuleContext.backendRef checks it). */
type MirrorSpec = { readonly backendRef?: unknown; readonly percent?: number; readonly fraction?: { readonly numerator: number; readonly denominator?: number } };

function checkMirror(m: MirrorSpec, path: string, ctx: RuleContext): void {
  if (isRecord(m.backendRef) && ctx.sound(`${path}.backendRef`)) ctx.backendRef(m.backendRef as never, `${path}.backendRef`);
  if (m.percent !== undefined && m.fraction !== undefined) ctx.add(`${path}.fraction`, 'does not go with percent: give the share of requests to mirror as percent or as fraction, not both');
  if (!isRecord(m.fraction) || !ctx.sound(`${path}.fraction`)) return;
  const denominator = m.fraction.denominator ?? 100;
  if (m.fraction.numerator > denominator) ctx.add(`${path}.fraction.numerator`, `must not be greater than the denominator (${denominator}): at most every request can be mirrored`);
}

/** The share of requests a mirror copies, in percent (the proxy's model holds one number). */
export function mirrorPercent(m: { readonly percent?: number; readonly fraction?: { readonly numerator: number; readonly denominator?: number } }): number {
  if (m.fraction !== undefined) return (m.fraction.numerator / (m.fraction.denominator ?? 100)) * 100;
  return m.percent ?? 100;
}
