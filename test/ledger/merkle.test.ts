import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Hash } from '../../gateway/ledger/merkle.ts';
import {
  consistencyProofOf,
  EMPTY_ROOT,
  fromHex,
  inclusionProofOf,
  leafHash,
  MerkleError,
  MerkleTree,
  nodeHash,
  rootOf,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from '../../gateway/ledger/merkle.ts';

interface InclusionVector {
  desc?: string;
  index: number;
  size: number;
  leafHash: string;
  root: string;
  proof: string[];
}
interface ConsistencyVector {
  desc?: string;
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[];
}
const V = JSON.parse(readFileSync(new URL('./vectors/merkle.json', import.meta.url), 'utf8')) as {
  leaves: string[];
  leafHashes: string[];
  roots: { size: number; root: string }[];
  inclusion: InclusionVector[];
  consistency: ConsistencyVector[];
  inclusionTampered: InclusionVector[];
  consistencyTampered: ConsistencyVector[];
};

const h = (s: string) => fromHex(s);
const hs = (a: string[]) => a.map(h);
const sha = (...parts: Uint8Array[]) => {
  const x = createHash('sha256');
  for (const p of parts) x.update(p);
  return new Uint8Array(x.digest());
};

/**
 * Published by the Certificate Transparency reference implementation and transparency-dev/merkle
 * (proof/verify_test.go) for the same eight inputs: independent of this code.
 */
const REFERENCE_ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const REFERENCE_INCLUSION = [
  {
    index: 0,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    index: 2,
    size: 3,
    proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'],
  },
  {
    index: 1,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];
const REFERENCE_CONSISTENCY = [
  {
    size1: 1,
    size2: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    size1: 6,
    size2: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    size1: 2,
    size2: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    size1: 6,
    size2: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

const LEAVES = V.leaves.map((x) => leafHash(h(x)));

function merkleError(fn: () => void): MerkleError {
  try {
    fn();
  } catch (err) {
    if (err instanceof MerkleError) return err;
    throw err;
  }
  throw new Error('expected a MerkleError');
}

describe('RFC 6962 hashing, checked by hand', () => {
  it('the empty tree hash is SHA-256 of the empty string', () => {
    expect(toHex(EMPTY_ROOT)).toBe(toHex(sha(new Uint8Array())));
    expect(toHex(rootOf([]))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('leaf and node hashes use the 0x00 / 0x01 domain prefixes', () => {
    const a = h('00');
    const b = h('10');
    expect(toHex(leafHash(a))).toBe(toHex(sha(Uint8Array.of(0), a)));
    const la = leafHash(a);
    const lb = leafHash(b);
    expect(toHex(nodeHash(la, lb))).toBe(toHex(sha(Uint8Array.of(1), la, lb)));
  });

  it('roots of sizes 2 and 3 computed by hand match the vectors and the tree', () => {
    const [l0, l1, l2] = [0, 1, 2].map((i) => sha(Uint8Array.of(0), h(V.leaves[i]!)));
    const root2 = sha(Uint8Array.of(1), l0!, l1!);
    // Size 3 splits at k = 2: MTH(D[0:2]) and the lone third leaf.
    const root3 = sha(Uint8Array.of(1), root2, l2!);
    expect(toHex(root2)).toBe(V.roots[2]!.root);
    expect(toHex(root3)).toBe(V.roots[3]!.root);
    expect(toHex(rootOf(LEAVES.slice(0, 3)))).toBe(toHex(root3));
  });

  it('the vectors agree with the published reference roots and proofs', () => {
    expect(V.roots.map((r) => r.root)).toEqual(REFERENCE_ROOTS);
    for (const r of REFERENCE_INCLUSION) {
      const v = V.inclusion.find((x) => x.index === r.index && x.size === r.size)!;
      expect(v.proof).toEqual(r.proof);
    }
    for (const r of REFERENCE_CONSISTENCY) {
      const v = V.consistency.find((x) => x.size1 === r.size1 && x.size2 === r.size2)!;
      expect(v.proof).toEqual(r.proof);
    }
  });
});

describe('Merkle vectors', () => {
  it('leaf hashes and roots for sizes 0..8', () => {
    expect(LEAVES.map(toHex)).toEqual(V.leafHashes);
    const tree = MerkleTree.fromLeafHashes(LEAVES);
    for (const { size, root } of V.roots) {
      expect(toHex(rootOf(LEAVES.slice(0, size)))).toBe(root);
      expect(toHex(tree.root(size))).toBe(root);
    }
  });

  it.each(V.inclusion)('inclusion of $index in $size: generated and verified', (v) => {
    expect(inclusionProofOf(v.index, LEAVES.slice(0, v.size)).map(toHex)).toEqual(v.proof);
    verifyInclusion(v.index, v.size, h(v.leafHash), hs(v.proof), h(v.root));
  });

  it.each(V.consistency)('consistency $size1 -> $size2: generated and verified', (v) => {
    expect(consistencyProofOf(v.size1, LEAVES.slice(0, v.size2)).map(toHex)).toEqual(v.proof);
    verifyConsistency(v.size1, v.size2, hs(v.proof), h(v.root1), h(v.root2));
  });

  it.each(V.inclusionTampered)('tampered inclusion ($desc, $index in $size) fails', (v) => {
    const err = merkleError(() =>
      verifyInclusion(v.index, v.size, h(v.leafHash), hs(v.proof), h(v.root)),
    );
    expect(err.code).toBe('BAD_REQUEST');
    expect(['root-mismatch', 'proof-size', 'bad-index']).toContain(err.problem);
  });

  it.each(V.consistencyTampered)('tampered consistency ($desc, $size1 -> $size2) fails', (v) => {
    const err = merkleError(() =>
      verifyConsistency(v.size1, v.size2, hs(v.proof), h(v.root1), h(v.root2)),
    );
    expect(['root-mismatch', 'proof-size', 'bad-index']).toContain(err.problem);
  });
});

describe('MerkleTree', () => {
  const many = (n: number): Hash[] =>
    Array.from({ length: n }, (_, i) => leafHash(new TextEncoder().encode(`entry ${i}`)));

  it('every inclusion and consistency proof verifies in every tree up to 40 leaves', () => {
    const leaves = many(40);
    const tree = MerkleTree.fromLeafHashes(leaves);
    for (let n = 1; n <= 40; n++) {
      const root = tree.root(n);
      expect(toHex(root)).toBe(toHex(rootOf(leaves.slice(0, n))));
      for (let i = 0; i < n; i++) {
        verifyInclusion(i, n, leaves[i]!, tree.inclusionProof(i, n), root);
      }
      for (let m = 0; m <= n; m++) {
        verifyConsistency(m, n, tree.consistencyProof(m, n), tree.root(m), root);
      }
    }
  });

  it('mismatch errors carry got and want', () => {
    const tree = MerkleTree.fromLeafHashes(many(5));
    const wrong = new Uint8Array(32);
    const err = merkleError(() =>
      verifyInclusion(2, 5, tree.leaf(2), tree.inclusionProof(2), wrong),
    );
    expect(err.problem).toBe('root-mismatch');
    expect(err.want).toBe(toHex(wrong));
    expect(err.got).toBe(toHex(tree.root()));
    expect(err.message).toContain(`want ${toHex(wrong)}`);
  });

  it('rejects bad indices, sizes and hashes', () => {
    const tree = MerkleTree.fromLeafHashes(many(5));
    expect(merkleError(() => tree.inclusionProof(5)).problem).toBe('bad-index');
    expect(merkleError(() => tree.root(6)).problem).toBe('bad-index');
    expect(merkleError(() => tree.consistencyProof(4, 3)).problem).toBe('bad-index');
    expect(merkleError(() => tree.append(new Uint8Array(31))).problem).toBe('bad-hash');
    expect(merkleError(() => fromHex('xyz')).problem).toBe('bad-hash');
    expect(merkleError(() => verifyInclusion(0, 0, tree.leaf(0), [], tree.root())).problem).toBe(
      'bad-index',
    );
  });

  it('appends and proves 100,000 leaves quickly', () => {
    const n = 100_000;
    const t0 = performance.now();
    const tree = new MerkleTree();
    for (let i = 0; i < n; i++)
      tree.append(leafHash(new Uint8Array([i & 255, (i >> 8) & 255, i >> 16])));
    const root = tree.root();
    const t1 = performance.now();
    for (let k = 0; k < 1000; k++) {
      const i = (k * 7919) % n;
      verifyInclusion(i, n, tree.leaf(i), tree.inclusionProof(i), root);
      const m = 1 + ((k * 104_729) % (n - 1));
      verifyConsistency(m, n, tree.consistencyProof(m), tree.root(m), root);
    }
    const t2 = performance.now();
    expect(t1 - t0).toBeLessThan(10_000);
    // 1,000 inclusion + 1,000 consistency proofs, generated and verified.
    expect(t2 - t1).toBeLessThan(5000);
  });
});
