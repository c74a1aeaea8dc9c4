/**
 * Signed checkpoints: a statement "the log called `origin` had `size` entries with Merkle root
 * `root` at `timestamp`", signed with Ed25519 as a JWS (compact serialisation) whose payload is
 * the canonical JSON (RFC 8785) of those four fields. Anyone who keeps a checkpoint and the
 * public key can later prove that the log still contains, unchanged, what it contained then.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import canonicalize from 'canonicalize';
import type { JWK } from 'jose';
import {
  CompactSign,
  calculateJwkThumbprint,
  compactVerify,
  exportJWK,
  generateKeyPair,
} from 'jose';
import { z } from 'zod';
import { SluiceError } from '../errors.ts';

export const CHECKPOINT_ALG = 'EdDSA';
export const CHECKPOINT_TYP = 'sluice-checkpoint+jws';
export const PRIVATE_KEY_FILE = 'checkpoint-key.jwk';
export const PUBLIC_KEY_FILE = 'checkpoint-key.pub.jwk';

export interface CheckpointBody {
  readonly origin: string;
  readonly size: number;
  /** Hex SHA-256 Merkle root of the first `size` entries. */
  readonly root: string;
  /** ISO 8601 UTC. */
  readonly timestamp: string;
}

export interface Checkpoint extends CheckpointBody {
  /** RFC 7638 thumbprint of the signing key. */
  readonly kid: string;
  /** JWS compact serialisation; its payload is canonical JSON of the body fields. */
  readonly jws: string;
}

export const checkpointSchema = z
  .object({
    origin: z.string().min(1),
    size: z.number().int().nonnegative(),
    root: z.string().regex(/^[0-9a-f]{64}$/),
    timestamp: z.string().min(1),
    kid: z.string().min(1),
    jws: z.string().min(1),
  })
  .strict();

/** Parses a checkpoint from untrusted JSON text or value; throws BAD_REQUEST. */
export function parseCheckpoint(input: unknown): Checkpoint {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      throw new SluiceError('BAD_REQUEST', 'checkpoint is not JSON');
    }
  }
  const parsed = checkpointSchema.safeParse(value);
  if (!parsed.success)
    throw new SluiceError('BAD_REQUEST', 'checkpoint does not have the expected fields');
  return parsed.data;
}

function bodyBytes(body: CheckpointBody): Uint8Array {
  const { origin, size, root, timestamp } = body;
  return new TextEncoder().encode(canonicalize({ origin, size, root, timestamp })!);
}

export interface CheckpointSigner {
  readonly kid: string;
  readonly publicJwk: JWK;
  sign(body: CheckpointBody): Promise<Checkpoint>;
}

function publicPart(jwk: JWK): JWK {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
    throw new SluiceError('BAD_REQUEST', 'checkpoint keys must be Ed25519 (OKP) JWKs');
  }
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
}

/** A signer over an Ed25519 private JWK (with `d`). */
export async function createSigner(privateJwk: JWK): Promise<CheckpointSigner> {
  const publicJwk = publicPart(privateJwk);
  if (typeof privateJwk.d !== 'string') {
    throw new SluiceError('BAD_REQUEST', 'the checkpoint signing key has no private part');
  }
  const kid = await calculateJwkThumbprint(publicJwk);
  const key = { ...privateJwk, alg: CHECKPOINT_ALG };
  return {
    kid,
    publicJwk: { ...publicJwk, kid, alg: CHECKPOINT_ALG, use: 'sig' },
    async sign(body) {
      const jws = await new CompactSign(bodyBytes(body))
        .setProtectedHeader({ alg: CHECKPOINT_ALG, kid, typ: CHECKPOINT_TYP })
        .sign(key);
      const { origin, size, root, timestamp } = body;
      return { origin, size, root, timestamp, kid, jws };
    },
  };
}

async function writeFileDurably(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

async function readJwk(path: string): Promise<JWK | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as JWK;
}

/**
 * The checkpoint signer for a ledger directory: `signingKey` when given, else the key kept in
 * `dir/checkpoint-key.jwk` (created, mode 0600, on first use). The public key is always
 * written to `dir/checkpoint-key.pub.jwk` for verifiers. A key kept beside the log protects
 * against accidents and naive edits only; a checkpoint held by someone else (a regulator)
 * protects against the operator, whichever key signed it.
 */
export async function loadSigner(dir: string, signingKey?: JWK): Promise<CheckpointSigner> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let jwk = signingKey;
  if (jwk === undefined) {
    const privatePath = join(dir, PRIVATE_KEY_FILE);
    jwk = await readJwk(privatePath);
    if (jwk === undefined) {
      const { privateKey } = await generateKeyPair('Ed25519', { extractable: true });
      jwk = await exportJWK(privateKey);
      await writeFileDurably(privatePath, `${JSON.stringify(jwk)}\n`, 0o600);
    }
  }
  const signer = await createSigner(jwk);
  const publicPath = join(dir, PUBLIC_KEY_FILE);
  const existing = await readJwk(publicPath).catch(() => undefined);
  if (existing?.x !== signer.publicJwk.x) {
    await writeFileDurably(publicPath, `${JSON.stringify(signer.publicJwk)}\n`, 0o644);
  }
  return signer;
}

/** Reads the public key a ledger directory publishes for verifiers. */
export async function readPublicKey(dir: string): Promise<JWK | undefined> {
  return readJwk(join(dir, PUBLIC_KEY_FILE));
}

export type SignatureCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly message: string };

/**
 * Checks a checkpoint's signature with `publicKey` and that the signed payload is exactly the
 * checkpoint's fields. Never throws.
 */
export async function verifyCheckpointSignature(
  checkpoint: Checkpoint,
  publicKey: JWK,
): Promise<SignatureCheck> {
  let payload: Uint8Array;
  try {
    const key = { ...publicPart(publicKey), alg: CHECKPOINT_ALG };
    const result = await compactVerify(checkpoint.jws, key, { algorithms: [CHECKPOINT_ALG] });
    if (result.protectedHeader.typ !== CHECKPOINT_TYP) {
      return { ok: false, message: 'the signature is not over a Sluice checkpoint' };
    }
    payload = result.payload;
  } catch {
    return { ok: false, message: 'the checkpoint signature does not verify with the given key' };
  }
  if (Buffer.compare(Buffer.from(payload), Buffer.from(bodyBytes(checkpoint))) !== 0) {
    return { ok: false, message: 'the checkpoint fields differ from what was signed' };
  }
  return { ok: true };
}
