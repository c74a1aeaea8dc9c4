import { type CryptoKey, exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIssuerKeys } from '../../gateway/auth.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

function b64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

async function sign(
  claims: Record<string, unknown>,
  opts: { key?: CryptoKey; alg?: string } = {},
): Promise<string> {
  const keys = await loadIssuerKeys(gw.config.dataDir);
  const key = opts.key ?? ((await importJWK(keys.privateJwk, 'EdDSA')) as CryptoKey);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: 'sluice-demo', aud: 'sluice', iat: now, exp: now + 600, ...claims })
    .setProtectedHeader({ alg: opts.alg ?? 'EdDSA' })
    .sign(key);
}

async function status(token: string | null): Promise<{ code: number; error?: string }> {
  const res = await gw.app.inject({
    method: 'POST',
    url: '/v1/query',
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
    payload: { sql: 'SELECT count(*) FROM airports' },
  });
  return { code: res.statusCode, error: res.json().error?.code };
}

describe('bearer tokens', () => {
  it('accepts a demo token', async () => {
    expect(await status(await gw.token('bob'))).toEqual({ code: 200, error: undefined });
  });

  it('refuses a missing or malformed header', async () => {
    expect(await status(null)).toEqual({ code: 401, error: 'UNAUTHENTICATED' });
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: { authorization: 'Basic Ym9iOmJvYg==' },
      payload: { sql: 'SELECT 1' },
    });
    expect(res.json().error.code).toBe('UNAUTHENTICATED');
  });

  it('refuses alg none', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({
      sub: 'bob',
      iss: 'sluice-demo',
      aud: 'sluice',
      iat: now,
      exp: now + 600,
    })}.`;
    expect(await status(token)).toEqual({ code: 401, error: 'UNAUTHENTICATED' });
  });

  it('refuses a token signed with another key', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    expect(await status(await sign({ sub: 'bob' }, { key: privateKey }))).toEqual({
      code: 401,
      error: 'UNAUTHENTICATED',
    });
  });

  it('refuses an HMAC token keyed with the public key (algorithm confusion)', async () => {
    const keys = await loadIssuerKeys(gw.config.dataDir);
    const secret = new TextEncoder().encode(JSON.stringify(keys.publicJwk));
    const token = await new SignJWT({ sub: 'bob', iss: 'sluice-demo', aud: 'sluice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(secret);
    expect(await status(token)).toEqual({ code: 401, error: 'UNAUTHENTICATED' });
  });

  it('refuses an altered claim', async () => {
    const token = await gw.token('bob');
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const forged = `${header}.${b64url({ ...claims, sub: 'alice' })}.${signature}`;
    expect(await status(forged)).toEqual({ code: 401, error: 'UNAUTHENTICATED' });
  });

  it.each([
    ['expired', { sub: 'bob', exp: Math.floor(Date.now() / 1000) - 3600 }],
    ['wrong issuer', { sub: 'bob', iss: 'someone-else' }],
    ['wrong audience', { sub: 'bob', aud: 'another-service' }],
    ['no subject', { sub: undefined }],
    ['no iat', { sub: 'bob', iat: undefined }],
  ])('refuses a token with %s', async (_desc, claims) => {
    expect(await status(await sign(claims))).toEqual({ code: 401, error: 'UNAUTHENTICATED' });
  });

  it('refuses a valid token for a subject Sluice does not know', async () => {
    expect(await status(await sign({ sub: 'mallory' }))).toEqual({ code: 403, error: 'FORBIDDEN' });
  });

  it('keeps the issuer key private to the data directory', async () => {
    const keys = await loadIssuerKeys(gw.config.dataDir);
    expect(keys.publicJwk).not.toHaveProperty('d');
    expect(await exportJWK((await importJWK(keys.publicJwk, 'EdDSA')) as CryptoKey)).toMatchObject({
      kty: 'OKP',
      crv: 'Ed25519',
    });
  });
});
