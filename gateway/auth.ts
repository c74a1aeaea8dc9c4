import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  type CryptoKey,
  createRemoteJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTVerifyGetKey,
  jwtVerify,
  SignJWT,
} from 'jose';
import type { Config } from './config.ts';
import { SluiceError } from './errors.ts';

/** The verified claims Sluice relies on. */
export interface VerifiedToken {
  readonly subject: string;
  readonly issuer: string;
  readonly expiresAt: number;
}

export interface Authenticator {
  /** Throws UNAUTHENTICATED for a missing, malformed, expired, forged or misaddressed token. */
  verify(authorization: string | undefined): Promise<VerifiedToken>;
}

/** The demo issuer signs with Ed25519; the algorithm is pinned. */
const LOCAL_ALG = 'EdDSA';
const CLOCK_TOLERANCE_S = 30;
const VERIFIED_CACHE_SIZE = 10_000;
const VERIFIED_CACHE_MS = 60_000;

interface KeyFile {
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

function keyPath(dataDir: string): string {
  return path.join(dataDir, 'keys', 'issuer.jwk.json');
}

/** Loads the demo issuer's key pair from the data directory, creating it on first use. */
export async function loadIssuerKeys(dataDir: string): Promise<KeyFile> {
  const file = keyPath(dataDir);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as KeyFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { privateKey, publicKey } = await generateKeyPair(LOCAL_ALG, {
    crv: 'Ed25519',
    extractable: true,
  });
  const keys: KeyFile = {
    privateJwk: { ...(await exportJWK(privateKey)), alg: LOCAL_ALG },
    publicJwk: { ...(await exportJWK(publicKey)), alg: LOCAL_ALG },
  };
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(keys), { mode: 0o600 });
  await rename(tmp, file);
  return keys;
}

/** Signs a demo token (`./sluice token <user>`). */
export async function signDemoToken(
  config: Pick<Config, 'dataDir' | 'issuer' | 'audience'>,
  subject: string,
  ttlSeconds = 12 * 3600,
): Promise<string> {
  const keys = await loadIssuerKeys(config.dataDir);
  const key = await importJWK(keys.privateJwk, LOCAL_ALG);
  return new SignJWT({})
    .setProtectedHeader({ alg: LOCAL_ALG, typ: 'JWT' })
    .setSubject(subject)
    .setIssuer(config.issuer)
    .setAudience(config.audience)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(key);
}

/**
 * Verifies bearer tokens against the demo issuer's key, or against an external identity
 * provider's JWKS when SLUICE_JWKS_URL is set. `exp`, `iat` and `sub` are required; issuer
 * and audience must match.
 */
export async function createAuthenticator(
  config: Pick<Config, 'dataDir' | 'issuer' | 'audience' | 'jwksUrl' | 'jwtAlgorithms'>,
): Promise<Authenticator> {
  let key: JWTVerifyGetKey | CryptoKey | Uint8Array;
  let algorithms: string[];
  if (config.jwksUrl) {
    key = createRemoteJWKSet(new URL(config.jwksUrl));
    algorithms = config.jwtAlgorithms ?? ['RS256'];
  } else {
    const keys = await loadIssuerKeys(config.dataDir);
    key = (await importJWK(keys.publicJwk, LOCAL_ALG)) as CryptoKey;
    algorithms = config.jwtAlgorithms ?? [LOCAL_ALG];
  }
  const options = {
    algorithms,
    issuer: config.issuer,
    audience: config.audience,
    requiredClaims: ['exp', 'iat', 'sub'],
    clockTolerance: CLOCK_TOLERANCE_S,
  };
  // Verified tokens, by their exact text, for a short while: a signature check per request
  // costs more than the rest of authentication. An entry never outlives the token's `exp`.
  const verified = new Map<string, { token: VerifiedToken; until: number }>();
  return {
    async verify(authorization) {
      const match = /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(authorization ?? '');
      if (!match) {
        throw new SluiceError('UNAUTHENTICATED', 'a bearer token is required');
      }
      const text = match[1]!;
      const now = Date.now();
      const hit = verified.get(text);
      if (hit && hit.until > now) return hit.token;
      if (hit) verified.delete(text);
      try {
        const { payload } = await jwtVerify(text, key as CryptoKey, options);
        if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
          throw new SluiceError('UNAUTHENTICATED', 'the token has no subject');
        }
        const token = {
          subject: payload.sub,
          issuer: payload.iss ?? '',
          expiresAt: payload.exp ?? 0,
        };
        if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value!);
        verified.set(text, {
          token,
          until: Math.min(now + VERIFIED_CACHE_MS, (payload.exp ?? 0) * 1000),
        });
        return token;
      } catch (err) {
        if (err instanceof SluiceError) throw err;
        const code = (err as { code?: string }).code ?? '';
        throw new SluiceError('UNAUTHENTICATED', tokenProblem(code));
      }
    },
  };
}

/** A short reason per jose error code, without echoing the token. */
function tokenProblem(code: string): string {
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'the token has expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return 'the token claims are not valid for this gateway';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'the token signature is not valid';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'the token algorithm is not allowed';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no key matches the token';
    default:
      return 'the token is not valid';
  }
}
