// A stand-in for Keycloak's realm endpoints: keys shaped as Keycloak publishes them (a
// signing key with a self-signed x5c, plus an encryption key that verifiers must ignore),
// a JWKS server that counts its fetches and can rotate, fail or hang, and tokens with the
// claims Keycloak puts in an access token.

import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import forge from 'node-forge';

export const REALM_PATH = '/realms/demo/protocol/openid-connect/certs';

export type RealmKey = {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** As the JWKS lists it: kid, kty, alg, use, n, e, x5c, x5t, x5t#S256. */
  readonly jwk: JWK;
  readonly publicKeyPem: string;
};

/** An RSA key as Keycloak's realm keys look: `use` is 'sig' (RS256) or 'enc' (RSA-OAEP). */
export async function realmKey(use: 'sig' | 'enc' = 'sig'): Promise<RealmKey> {
  const alg = use === 'sig' ? 'RS256' : 'RSA-OAEP';
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const publicKeyPem = await exportSPKI(publicKey);
  const der = selfSignedDer(await exportPKCS8(privateKey), publicKeyPem);
  const jwk: JWK = {
    kid,
    kty: 'RSA',
    alg,
    use,
    n: publicJwk.n,
    e: publicJwk.e,
    x5c: [der.toString('base64')],
    x5t: createHash('sha1').update(der).digest('base64url'),
    'x5t#S256': createHash('sha256').update(der).digest('base64url'),
  };
  return { kid, privateKey, jwk, publicKeyPem };
}

/** Keycloak's x5c: a self-signed certificate for the realm key, CN = the realm name. */
function selfSignedDer(privateKeyPem: string, publicKeyPem: string): Buffer {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 86_400_000);
  const name = [{ name: 'commonName', value: 'demo' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.sign(forge.pki.privateKeyFromPem(privateKeyPem), forge.md.sha256.create());
  return Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
}

export type JwksServer = {
  readonly port: number;
  readonly uri: string;
  /** Requests for the JWKS so far. */
  readonly fetches: number;
  /** What the JWKS lists from now on (a rotation). */
  keys: JWK[];
  /** 200 serves `keys`; another status answers that with an error body; 'hang' never answers. */
  answer: number | 'hang';
  close(): Promise<void>;
};

export async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  let fetches = 0;
  const state = { keys, answer: 200 as number | 'hang' };
  const server = http.createServer((req, res) => {
    if (req.url !== REALM_PATH) return void res.writeHead(404).end();
    fetches++;
    if (state.answer === 'hang') return;
    if (state.answer !== 200) return void res.writeHead(state.answer, { 'content-type': 'text/plain' }).end('realm unavailable');
    const body = JSON.stringify({ keys: state.keys });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.defineProperties(state, {
    port: { value: port },
    uri: { value: `http://127.0.0.1:${port}${REALM_PATH}` },
    fetches: { get: () => fetches },
    close: {
      value: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    },
  }) as JwksServer;
}

export const ISSUER = 'https://sso.example.com/realms/demo';

/**
 * A Keycloak access token for user alice of realm demo, issued at `nowMs`, living 5 minutes.
 * `claims` overrides or adds claims; a claim set to undefined is left out.
 */
export async function accessToken(key: RealmKey, nowMs: number, claims: Record<string, unknown> = {}): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  const payload: JWTPayload = {
    exp: iat + 300,
    iat,
    jti: randomUUID(),
    iss: ISSUER,
    aud: 'api',
    sub: 'f4b6a5c2-6b1e-4c55-9f2a-3c1d2e0a9b77',
    typ: 'Bearer',
    azp: 'web',
    session_state: randomUUID(),
    realm_access: { roles: ['offline_access', 'uma_authorization', 'reader'] },
    scope: 'openid profile email',
    email_verified: true,
    preferred_username: 'alice',
  };
  for (const [k, v] of Object.entries(claims)) {
    if (v === undefined) delete payload[k];
    else payload[k] = v;
  }
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid }).sign(key.privateKey);
}
