/**
 * RFC 6962 / RFC 9162 §2.1 Merkle tree hashing and proofs, with SHA-256.
 *
 *   leaf hash  = SHA-256(0x00 || entry)
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH({})    = SHA-256("")
 *   MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n
 *
 * Everything here is pure except `MerkleTree`, which only holds hashes in memory. Sizes and
 * indices are plain numbers: exact up to 2^53, which no log of ours reaches.
 */
import { hash } from 'node:crypto';
import { SluiceError } from '../errors.ts';

export const HASH_SIZE = 32;

/** A 32-byte SHA-256 digest. */
export type Hash = Uint8Array;

/** What went wrong in a proof check; `root-mismatch` is the only one a valid-looking proof gets. */
export type MerkleProblem = 'root-mismatch' | 'proof-size' | 'bad-index' | 'bad-hash';

/**
 * A proof or root did not check out. The code is BAD_REQUEST because the only way such a
 * proof reaches us from outside is as a client's input; internal callers treat it as tampering.
 */
export class MerkleError extends SluiceError {
  readonly problem: MerkleProblem;
  readonly got: string | undefined;
  readonly want: string | undefined;

  constructor(problem: MerkleProblem, message: string, got?: string, want?: string) {
    super('BAD_REQUEST', got === undefined ? message : `${message}: got ${got}, want ${want}`);
    this.name = 'MerkleError';
    this.problem = problem;
    this.got = got;
    this.want = want;
  }
}

const LEAF_PREFIX = new Uint8Array([0]);

export const EMPTY_ROOT: Hash = sha256(new Uint8Array(0));

export function sha256(data: Uint8Array): Hash {
  return hash('sha256', data, 'buffer');
}

/** SHA-256(0x00 || entry): the hash of one log entry's canonical bytes. */
export function leafHash(entry: Uint8Array): Hash {
  const buf = new Uint8Array(1 + entry.length);
  buf.set(LEAF_PREFIX, 0);
  buf.set(entry, 1);
  return sha256(buf);
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Hash, right: Hash): Hash {
  const buf = new Uint8Array(1 + 2 * HASH_SIZE);
  buf[0] = 1;
  buf.set(left, 1);
  buf.set(right, 1 + HASH_SIZE);
  return sha256(buf);
}

export function toHex(h: Uint8Array): string {
  return Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString('hex');
}

/** Parses a lowercase or uppercase hex string; throws MerkleError('bad-hash') otherwise. */
export function fromHex(s: string): Uint8Array {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new MerkleError('bad-hash', 'hash is not a hex string');
  }
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function hashEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

// ---- 53-bit-safe bit helpers (JS bitwise operators are 32-bit) ----

const TWO32 = 2 ** 32;

function popcount32(x: number): number {
  let v = x >>> 0;
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Number of bits needed to represent x (0 for 0). */
function bitLen(x: number): number {
  const hi = Math.floor(x / TWO32);
  return hi > 0 ? 64 - Math.clz32(hi) : 32 - Math.clz32(x >>> 0);
}

function onesCount(x: number): number {
  return popcount32(Math.floor(x / TWO32)) + popcount32(x >>> 0);
}

function xor(a: number, b: number): number {
  const hi = (Math.floor(a / TWO32) ^ Math.floor(b / TWO32)) >>> 0;
  return hi * TWO32 + ((a ^ b) >>> 0);
}

function trailingZeros(x: number): number {
  let n = 0;
  let v = x;
  while (v > 0 && v % 2 === 0) {
    v /= 2;
    n++;
  }
  return n;
}

function shr(x: number, k: number): number {
  return Math.floor(x / 2 ** k);
}

function bitAt(x: number, i: number): number {
  return shr(x, i) % 2;
}

/** The largest power of two strictly less than n; requires n >= 2. */
function splitPoint(n: number): number {
  return 2 ** (bitLen(n - 1) - 1);
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && 2 ** (bitLen(n) - 1) === n;
}

function checkSize(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new MerkleError('bad-index', `${name} must be a non-negative integer`);
  }
}

function checkHash(name: string, h: Uint8Array): void {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    throw new MerkleError(
      'bad-hash',
      `${name} has the wrong size`,
      String(h?.length ?? 0),
      String(HASH_SIZE),
    );
  }
}

function checkProof(proof: readonly Hash[]): void {
  proof.forEach((p, i) => {
    checkHash(`proof[${i}]`, p);
  });
}

// ---- the tree ----

/**
 * An append-only Merkle tree over leaf hashes. Every complete subtree's hash is kept, level by
 * level, in flat byte arrays: an append costs O(1) amortised (O(log n) worst case) hashes, the
 * root of any earlier size costs O(log n) and a proof O(log² n) at most. Memory is about
 * 64 bytes per leaf.
 */
export class MerkleTree {
  #size = 0;
  /** levels[l] holds the hashes of the complete subtrees of 2^l leaves, left to right. */
  readonly #levels: Uint8Array[] = [];
  #rootCache: Hash | undefined;

  static fromLeafHashes(leaves: Iterable<Hash>): MerkleTree {
    const t = new MerkleTree();
    for (const l of leaves) t.append(l);
    return t;
  }

  get size(): number {
    return this.#size;
  }

  /** Appends a leaf hash (not the entry: hash it with leafHash first). */
  append(leaf: Hash): void {
    checkHash('leaf hash', leaf);
    let index = this.#size;
    this.#put(0, index, leaf);
    let level = 0;
    let node = leaf;
    while (index % 2 === 1) {
      node = nodeHash(this.#node(level, index - 1), node);
      index = (index - 1) / 2;
      level++;
      this.#put(level, index, node);
    }
    this.#size++;
    this.#rootCache = undefined;
  }

  /** The leaf hash at `index`. */
  leaf(index: number): Hash {
    this.#checkIndex(index, this.#size);
    return this.#node(0, index).slice();
  }

  /** MTH of the first `size` leaves (default: all); the empty tree's root is SHA-256(""). */
  root(size: number = this.#size): Hash {
    this.#checkSize(size);
    if (size === 0) return EMPTY_ROOT.slice();
    if (size === this.#size) {
      this.#rootCache ??= this.#mth(0, size);
      return this.#rootCache.slice();
    }
    return this.#mth(0, size);
  }

  /** RFC 9162 §2.1.3.1 PATH(index, D[0:size]): sibling hashes from the leaf upwards. */
  inclusionProof(index: number, size: number = this.#size): Hash[] {
    this.#checkSize(size);
    this.#checkIndex(index, size);
    const siblings: Hash[] = [];
    let lo = 0;
    let hi = size;
    while (hi - lo > 1) {
      const k = splitPoint(hi - lo);
      if (index < lo + k) {
        siblings.push(this.#mth(lo + k, hi));
        hi = lo + k;
      } else {
        siblings.push(this.#mth(lo, lo + k));
        lo += k;
      }
    }
    return siblings.reverse();
  }

  /**
   * RFC 9162 §2.1.4.1 PROOF(size1, D[0:size2]). Empty when size1 is 0 or equal to size2:
   * the empty tree is consistent with every tree, and a tree with itself.
   */
  consistencyProof(size1: number, size2: number = this.#size): Hash[] {
    this.#checkSize(size2);
    checkSize('size1', size1);
    if (size1 > size2) {
      throw new MerkleError(
        'bad-index',
        'size1 is larger than size2',
        String(size1),
        `<= ${size2}`,
      );
    }
    if (size1 === 0 || size1 === size2) return [];
    const out: Hash[] = [];
    let lo = 0;
    let hi = size2;
    let m = size1;
    let complete = true;
    for (;;) {
      if (m === hi - lo) {
        if (!complete) out.push(this.#mth(lo, hi));
        break;
      }
      const k = splitPoint(hi - lo);
      if (m <= k) {
        out.push(this.#mth(lo + k, hi));
        hi = lo + k;
      } else {
        out.push(this.#mth(lo, lo + k));
        lo += k;
        m -= k;
        complete = false;
      }
    }
    return out.reverse();
  }

  /** MTH(D[lo:hi]); requires lo < hi <= size. Stored complete subtrees make this O(log n). */
  #mth(lo: number, hi: number): Hash {
    const n = hi - lo;
    if (isPowerOfTwo(n) && lo % n === 0) return this.#node(bitLen(n) - 1, lo / n);
    const k = splitPoint(n);
    return nodeHash(this.#mth(lo, lo + k), this.#mth(lo + k, hi));
  }

  #node(level: number, index: number): Hash {
    const off = index * HASH_SIZE;
    return this.#levels[level]!.subarray(off, off + HASH_SIZE);
  }

  #put(level: number, index: number, h: Hash): void {
    let buf = this.#levels[level];
    const need = (index + 1) * HASH_SIZE;
    if (buf === undefined || buf.length < need) {
      const grown = new Uint8Array(Math.max(need, (buf?.length ?? 0) * 2, 64 * HASH_SIZE));
      if (buf !== undefined) grown.set(buf);
      this.#levels[level] = grown;
      buf = grown;
    }
    buf.set(h, index * HASH_SIZE);
  }

  #checkSize(size: number): void {
    checkSize('size', size);
    if (size > this.#size) {
      throw new MerkleError(
        'bad-index',
        'size is beyond the tree',
        String(size),
        `<= ${this.#size}`,
      );
    }
  }

  #checkIndex(index: number, size: number): void {
    checkSize('index', index);
    if (index >= size) {
      throw new MerkleError('bad-index', 'index is beyond size', String(index), `< ${size}`);
    }
  }
}

// ---- pure functions over a list of leaf hashes ----

/** MTH of the given leaf hashes. */
export function rootOf(leaves: readonly Hash[]): Hash {
  return MerkleTree.fromLeafHashes(leaves).root();
}

export function inclusionProofOf(index: number, leaves: readonly Hash[]): Hash[] {
  return MerkleTree.fromLeafHashes(leaves).inclusionProof(index);
}

export function consistencyProofOf(size1: number, leaves: readonly Hash[]): Hash[] {
  return MerkleTree.fromLeafHashes(leaves).consistencyProof(size1);
}

// ---- verification (after transparency-dev/merkle proof/verify.go) ----

function verifyMatch(calculated: Hash, expected: Hash): void {
  if (!hashEqual(calculated, expected)) {
    throw new MerkleError(
      'root-mismatch',
      'calculated root does not match the expected root',
      toHex(calculated),
      toHex(expected),
    );
  }
}

/** Splits an inclusion proof into the part below and above where index's and size-1's paths meet. */
function decompInclProof(index: number, size: number): { inner: number; border: number } {
  const inner = bitLen(xor(index, size - 1));
  return { inner, border: onesCount(shr(index, inner)) };
}

function chainInner(seed: Hash, proof: readonly Hash[], index: number): Hash {
  let h = seed;
  proof.forEach((p, i) => {
    h = bitAt(index, i) === 0 ? nodeHash(h, p) : nodeHash(p, h);
  });
  return h;
}

function chainInnerRight(seed: Hash, proof: readonly Hash[], index: number): Hash {
  let h = seed;
  proof.forEach((p, i) => {
    if (bitAt(index, i) === 1) h = nodeHash(p, h);
  });
  return h;
}

function chainBorderRight(seed: Hash, proof: readonly Hash[]): Hash {
  let h = seed;
  for (const p of proof) h = nodeHash(p, h);
  return h;
}

/** The root implied by an inclusion proof. Throws MerkleError on a malformed proof. */
export function rootFromInclusionProof(
  index: number,
  size: number,
  leaf: Hash,
  proof: readonly Hash[],
): Hash {
  checkSize('index', index);
  checkSize('size', size);
  if (index >= size) {
    throw new MerkleError('bad-index', 'index is beyond size', String(index), `< ${size}`);
  }
  checkHash('leaf hash', leaf);
  checkProof(proof);
  const { inner, border } = decompInclProof(index, size);
  if (proof.length !== inner + border) {
    throw new MerkleError(
      'proof-size',
      'wrong inclusion proof size',
      String(proof.length),
      String(inner + border),
    );
  }
  const h = chainInner(leaf, proof.slice(0, inner), index);
  return chainBorderRight(h, proof.slice(inner));
}

/** Checks that `leaf` is at `index` in the tree of `size` leaves with `root`. Throws MerkleError. */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Hash,
  proof: readonly Hash[],
  root: Hash,
): void {
  checkHash('root', root);
  verifyMatch(rootFromInclusionProof(index, size, leaf, proof), root);
}

/**
 * The size2 root implied by a consistency proof from (size1, root1), after checking that the
 * proof reproduces root1. Throws MerkleError. size1 = 0 needs an empty proof and cannot imply
 * a root, so it is handled by verifyConsistency alone.
 */
export function rootFromConsistencyProof(
  size1: number,
  size2: number,
  proof: readonly Hash[],
  root1: Hash,
): Hash {
  checkSize('size1', size1);
  checkSize('size2', size2);
  checkHash('root1', root1);
  checkProof(proof);
  if (size2 < size1) {
    throw new MerkleError('bad-index', 'size2 is smaller than size1', String(size2), `>= ${size1}`);
  }
  if (size1 === size2) {
    if (proof.length > 0) {
      throw new MerkleError(
        'proof-size',
        'size1 = size2 needs an empty proof',
        String(proof.length),
        '0',
      );
    }
    return root1;
  }
  if (size1 === 0) {
    throw new MerkleError('bad-index', 'a consistency proof from the empty tree implies no root');
  }
  if (proof.length === 0) {
    throw new MerkleError('proof-size', 'empty consistency proof', '0', '> 0');
  }
  let { inner, border } = decompInclProof(size1 - 1, size2);
  const shift = trailingZeros(size1);
  inner -= shift;
  // The proof starts with the hash of the size-2^shift subtree, unless size1 is that subtree.
  let seed = proof[0]!;
  let start = 1;
  if (size1 === 2 ** shift) {
    seed = root1;
    start = 0;
  }
  if (proof.length !== start + inner + border) {
    throw new MerkleError(
      'proof-size',
      'wrong consistency proof size',
      String(proof.length),
      String(start + inner + border),
    );
  }
  const rest = proof.slice(start);
  const mask = shr(size1 - 1, shift);
  const hash1 = chainBorderRight(
    chainInnerRight(seed, rest.slice(0, inner), mask),
    rest.slice(inner),
  );
  verifyMatch(hash1, root1);
  return chainBorderRight(chainInner(seed, rest.slice(0, inner), mask), rest.slice(inner));
}

/** Checks that the tree (size2, root2) extends the tree (size1, root1). Throws MerkleError. */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Hash[],
  root1: Hash,
  root2: Hash,
): void {
  checkHash('root2', root2);
  if (size1 === 0 && size2 >= 0) {
    checkSize('size2', size2);
    checkHash('root1', root1);
    if (proof.length > 0) {
      throw new MerkleError(
        'proof-size',
        'a proof from the empty tree must be empty',
        String(proof.length),
        '0',
      );
    }
    if (size2 === 0) verifyMatch(root1, root2);
    return;
  }
  verifyMatch(rootFromConsistencyProof(size1, size2, proof, root1), root2);
}
