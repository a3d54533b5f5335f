// The dashboard's files (index.html, app.js, style.css in this folder), served by sluice-cp
// on its API port under /dashboard/. They hold no data of the mesh, so they are served
// without the token; the page asks the API for everything with the token, as sluicectl
// does. A strict Content-Security-Policy: the page loads only its own files and talks only
// to this origin.

import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { KINDS } from '../api/descriptors.ts';
import { collectionPath } from '../apiserver/paths.ts';

export const DASHBOARD_PATH = '/dashboard/';

const FILES: Readonly<Record<string, string>> = { '': 'index.html', 'index.html': 'index.html', 'app.js': 'app.js', 'style.css': 'style.css' };
const TYPES: Readonly<Record<string, string>> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', json: 'application/json' };
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const cache = new Map<string, Buffer>();

function asset(file: string): Buffer {
  let body = cache.get(file);
  if (body === undefined) {
    body = file === 'kinds.json' ? Buffer.from(JSON.stringify(KINDS.map((k) => ({ kind: k.kind, path: collectionPath(k) })))) : readFileSync(new URL(file, import.meta.url));
    cache.set(file, body);
  }
  return body;
}

/** Answers a request under /dashboard (true), or leaves it to the API (false). */
export function serveDashboard(pathname: string, method: string, res: ServerResponse): boolean {
  if (pathname === '/dashboard') {
    res.writeHead(308, { location: DASHBOARD_PATH }).end();
    return true;
  }
  if (!pathname.startsWith(DASHBOARD_PATH)) return false;
  const name = pathname.slice(DASHBOARD_PATH.length);
  const file = name === 'kinds.json' ? name : FILES[name];
  if (file === undefined) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`no such dashboard file: ${name}\n`);
    return true;
  }
  if (method !== 'GET' && method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('the dashboard is read with GET\n');
    return true;
  }
  const body = asset(file);
  res.writeHead(200, { 'content-type': TYPES[file.slice(file.lastIndexOf('.') + 1)], 'content-length': body.length, 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache' });
  res.end(method === 'HEAD' ? undefined : body);
  return true;
}
