// Reading a request body: bounded in size (as Kubernetes, 3 MiB), JSON or YAML by its
// content type, one document. A body we cannot read is the client's mistake: 400/413/415.

import type { IncomingMessage } from 'node:http';
import { parseDocument } from 'yaml';
import { fail } from './status.ts';

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) fail('TOO_LARGE', `the request body is ${declared} bytes; the limit is ${limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) fail('TOO_LARGE', `the request body is over the limit of ${limit} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') fail('BAD_REQUEST', 'the request has no body; send the resource as JSON or YAML');
  const type = (req.headers['content-type'] ?? 'application/json').split(';')[0].trim().toLowerCase();
  if (type === 'application/json') {
    try {
      return JSON.parse(text);
    } catch (err) {
      return fail('BAD_REQUEST', `the body is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml') {
    const doc = parseDocument(text, { prettyErrors: false });
    if (doc.errors.length > 0) fail('BAD_REQUEST', `the body is not valid YAML: ${doc.errors[0].message}`);
    return doc.toJS();
  }
  return fail('UNSUPPORTED_MEDIA_TYPE', `content-type ${type} is not served; send application/json or application/yaml`);
}
