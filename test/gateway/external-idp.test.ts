import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/** SLUICE_JWKS_URL: tokens from an external identity provider, keys fetched from its JWKS. */
let gw: TestGateway;
let idp: Server;
let privateKey: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  privateKey = pair.privateKey;
  const jwks = {
    keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' }],
  };
  idp = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  const { port } = idp.address() as AddressInfo;
  gw = await startTestGateway({
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    issuer: 'https://idp.example.gov',
    audience: 'sluice-prod',
  });
});
afterAll(async () => {
  await gw?.close();
  idp?.close();
});

async function tokenFor(sub: string, claims: Record<string, unknown> = {}, key = privateKey) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
    .setSubject(sub)
    .setIssuer('https://idp.example.gov')
    .setAudience('sluice-prod')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);
}

async function count(token: string) {
  return gw.app.inject({
    method: 'POST',
    url: '/v1/query',
    headers: { authorization: `Bearer ${token}` },
    payload: { sql: 'SELECT count(*) AS n FROM citizens' },
  });
}

describe('an external identity provider', () => {
  it('accepts its tokens and maps the subject to the platform user', async () => {
    const res = await count(await tokenFor('alice'));
    expect(res.statusCode).toBe(200);
    expect(res.json().rows[0][0]).toBeGreaterThan(0);
  });

  it('ignores role claims in the token: roles come from Sluice', async () => {
    const res = await count(
      await tokenFor('bob', { role: 'regulator', agreements: ['agr-alice-citizens'] }),
    );
    expect(res.json().error.code).toBe('NOT_LICENSED');
  });

  it('no longer accepts demo tokens or keys it does not publish', async () => {
    expect((await count(await gw.token('alice'))).statusCode).toBe(401);
    const other = await generateKeyPair('RS256');
    expect((await count(await tokenFor('alice', {}, other.privateKey))).statusCode).toBe(401);
  });
});
