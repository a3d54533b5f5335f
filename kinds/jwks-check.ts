// The checks of an inline JWKS, apart from jwt-spec.ts (which re-exports them) so that a
// proxy's xDS translator runs them without loading the schema library (typebox).

type Add = (path: string, message: string) => void;

/** JWK members that only a private (signing) key has. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'priv'];

/** The checks of an inline JWKS (a JSON string): public signing keys only. */
export function checkInlineJwks(text: string, path: string, add: Add): void {
  let jwks: unknown;
  try {
    jwks = JSON.parse(text);
  } catch (err) {
    return add(path, `is not valid JSON (${(err as Error).message}); write the key set as a JSON string: '{"keys":[...]}'`);
  }
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (typeof jwks !== 'object' || jwks === null || Array.isArray(jwks) || !Array.isArray(keys)) return add(path, 'must be a JSON Web Key Set: an object with a "keys" list');
  if (keys.length === 0) return add(path, 'has no keys; a token could never be valid');
  let signing = 0;
  let broken = 0;
  const refuse = (message: string) => (broken++, add(path, message));
  keys.forEach((key: unknown, k) => {
    if (typeof key !== 'object' || key === null || Array.isArray(key)) return refuse(`keys[${k}] must be a JSON object (a JWK)`);
    const jwk = key as Record<string, unknown>;
    const which = `keys[${k}]${typeof jwk.kid === 'string' ? ` (kid '${jwk.kid}')` : ''}`;
    if (typeof jwk.kty !== 'string') return refuse(`${which} has no 'kty' (key type: RSA, EC or OKP)`);
    if (jwk.kty === 'oct') {
      return refuse(`${which} is a symmetric ('oct') key: whoever can verify with it can also mint tokens; give the issuer's public keys (RSA, EC or OKP)`);
    }
    const secret = PRIVATE_MEMBERS.filter((m) => m in jwk);
    if (secret.length > 0) {
      return refuse(`${which} carries private key material (${secret.map((m) => `'${m}'`).join(', ')}); give only the public key: the private one signs tokens and must stay with the issuer`);
    }
    if (jwk.use === undefined || jwk.use === 'sig') signing++;
  });
  if (signing === 0 && broken === 0) add(path, "has no signing key (every key has a 'use' other than 'sig')");
}
