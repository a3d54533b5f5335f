// RFC 6902 JSON Patch, applied as the API server applies a webhook's patch: each operation
// in order on a copy, and any failure (a missing parent, a failed `test`, an index out of
// range) fails the whole patch. No package for it is installed, and a test must not trust
// the code under test to apply its own output.

import { isDeepStrictEqual } from 'node:util';

export type PatchOp = { op: string; path: string; value?: unknown; from?: string };

export function applyJsonPatch<T>(doc: T, ops: readonly PatchOp[]): T {
  let root: unknown = structuredClone(doc);
  for (const [i, op] of ops.entries()) {
    const fail = (why: string): never => {
      throw new Error(`patch[${i}] ${op.op} ${op.path}: ${why}`);
    };
    switch (op.op) {
      case 'add':
        root = put(root, parse(op.path), structuredClone(op.value), 'add', fail);
        break;
      case 'replace':
        root = put(root, parse(op.path), structuredClone(op.value), 'replace', fail);
        break;
      case 'remove':
        root = remove(root, parse(op.path), fail).root;
        break;
      case 'test':
        if (!isDeepStrictEqual(get(root, parse(op.path), fail), op.value)) fail(`value is not ${JSON.stringify(op.value)}`);
        break;
      case 'move': {
        const taken = remove(root, parse(op.from ?? fail('no from')), fail);
        root = put(taken.root, parse(op.path), taken.value, 'add', fail);
        break;
      }
      case 'copy':
        root = put(root, parse(op.path), structuredClone(get(root, parse(op.from ?? fail('no from')), fail)), 'add', fail);
        break;
      default:
        fail('unknown op');
    }
  }
  return root as T;
}

/** RFC 6901 JSON Pointer. */
function parse(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`'${pointer}' is not a JSON Pointer`);
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Fail = (why: string) => never;

function get(root: unknown, path: string[], fail: Fail): unknown {
  let node = root;
  for (const key of path) {
    if (Array.isArray(node)) node = node[index(key, node.length - 1, fail)];
    else if (isObject(node) && Object.hasOwn(node, key)) node = node[key];
    else fail(`no member '${key}'`);
  }
  return node;
}

function put(root: unknown, path: string[], value: unknown, mode: 'add' | 'replace', fail: Fail): unknown {
  if (path.length === 0) return value;
  const parent = get(root, path.slice(0, -1), fail);
  const key = path[path.length - 1];
  if (Array.isArray(parent)) {
    if (mode === 'add') parent.splice(key === '-' ? parent.length : index(key, parent.length, fail), 0, value);
    else parent[index(key, parent.length - 1, fail)] = value;
  } else if (isObject(parent)) {
    if (mode === 'replace' && !Object.hasOwn(parent, key)) fail(`no member '${key}' to replace`);
    parent[key] = value;
  } else fail('the parent is not an object or array');
  return root;
}

function remove(root: unknown, path: string[], fail: Fail): { root: unknown; value: unknown } {
  if (path.length === 0) fail('cannot remove the root');
  const parent = get(root, path.slice(0, -1), fail);
  const key = path[path.length - 1];
  if (Array.isArray(parent)) return { root, value: parent.splice(index(key, parent.length - 1, fail), 1)[0] };
  if (!isObject(parent) || !Object.hasOwn(parent, key)) fail(`no member '${key}'`);
  const p = parent as Record<string, unknown>;
  const value = p[key];
  delete p[key];
  return { root, value };
}

function index(key: string, max: number, fail: Fail): number {
  if (!/^(0|[1-9]\d*)$/.test(key) || Number(key) > max) fail(`'${key}' is not an index within 0..${max}`);
  return Number(key);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
