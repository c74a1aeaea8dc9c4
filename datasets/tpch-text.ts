/**
 * The text pools TPC-H comments and addresses are cut from. Like dbgen, comments are substrings
 * of a pseudo-text built from the specification's grammar (TPC-H 4.2.2.14) and word lists
 * (4.2.2.13), so phrases such as "special ... requests" occur naturally; addresses are
 * substrings of random alphanumeric characters (4.2.2.7). Seeded, so always the same text.
 */

/** Splits a comma-separated word list (entries may contain spaces). */
export function commaList(text: string): string[] {
  return text
    .split(',')
    .map((w) => w.trim())
    .filter((w) => w.length > 0);
}

const NOUNS = commaList(`
  foxes, ideas, theodolites, pinto beans, instructions, dependencies, excuses, platelets,
  asymptotes, courts, dolphins, multipliers, sauternes, warthogs, frets, dinos, attainments,
  somas, Tiresias, patterns, forges, braids, hockey players, frays, warhorses, dugouts,
  notornis, epitaphs, pearls, tithes, waters, orbits, gifts, sheaves, depths, sentiments,
  decoys, realms, pains, grouches, escapades
`);
// The spec weights these far above the rest.
const COMMON_NOUNS = ['packages', 'requests', 'accounts', 'deposits'];
const VERBS = commaList(`
  sleep, wake, are, cajole, haggle, nag, use, boost, affix, detect, integrate, maintain, nod,
  was, lose, sublate, solve, thrash, promise, engage, hinder, print, x-ray, breach, eat,
  grow, impress, mold, poach, serve, run, dazzle, snooze, doze, unwind, kindle, play, hang,
  believe, doubt
`);
const ADJECTIVES = commaList(`
  furious, sly, careful, blithe, quick, fluffy, slow, quiet, ruthless, thin, close, dogged,
  daring, brave, stealthy, permanent, enticing, idle, busy, regular, final, ironic, even,
  bold, silent, special, pending, unusual, express
`);
const ADVERBS = commaList(`
  sometimes, always, never, furiously, slyly, carefully, blithely, quickly, fluffily, slowly,
  quietly, ruthlessly, thinly, closely, doggedly, daringly, bravely, stealthily, permanently,
  enticingly, idly, busily, regularly, finally, ironically, evenly, boldly, silently
`);
const PREPOSITIONS = commaList(`
  about, above, according to, across, after, against, along, alongside of, among, around, at,
  atop, before, behind, beneath, beside, besides, between, beyond, by, despite, during,
  except, for, from, in place of, inside, instead of, into, near, of, on, outside, over,
  past, since, through, throughout, to, toward, under, until, up, upon, without, with,
  within
`);
const AUXILIARIES = commaList(`
  do, may, might, shall, will, would, can, could, should, ought to, must, will have to,
  shall have to, could have to, should have to, must have to, need to, try to
`);
const TERMINATORS = ['.', ';', ':', '?', '!', '--'];

const ALPHANUMERIC = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,. ';

/** mulberry32: small, fast, and identical on every platform. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function textGrammar(next: () => number): () => string {
  const pick = (words: readonly string[]) => words[Math.floor(next() * words.length)]!;
  const noun = () => (next() < 0.4 ? pick(COMMON_NOUNS) : pick(NOUNS));
  const nounPhrase = () => {
    const r = next();
    if (r < 0.25) return noun();
    if (r < 0.5) return `${pick(ADJECTIVES)} ${noun()}`;
    if (r < 0.75) return `${pick(ADJECTIVES)}, ${pick(ADJECTIVES)} ${noun()}`;
    return `${pick(ADVERBS)} ${pick(ADJECTIVES)} ${noun()}`;
  };
  const verbPhrase = () => {
    const r = next();
    if (r < 0.25) return pick(VERBS);
    if (r < 0.5) return `${pick(AUXILIARIES)} ${pick(VERBS)}`;
    if (r < 0.75) return `${pick(VERBS)} ${pick(ADVERBS)}`;
    return `${pick(AUXILIARIES)} ${pick(VERBS)} ${pick(ADVERBS)}`;
  };
  const prepPhrase = () => `${pick(PREPOSITIONS)} the ${nounPhrase()}`;
  return () => {
    const r = next();
    let body: string;
    if (r < 0.2) body = `${nounPhrase()} ${verbPhrase()}`;
    else if (r < 0.4) body = `${nounPhrase()} ${verbPhrase()} ${prepPhrase()}`;
    else if (r < 0.6) body = `${nounPhrase()} ${verbPhrase()} ${nounPhrase()}`;
    else if (r < 0.8) body = `${nounPhrase()} ${prepPhrase()} ${verbPhrase()} ${nounPhrase()}`;
    else body = `${nounPhrase()} ${prepPhrase()} ${verbPhrase()} ${prepPhrase()}`;
    return `${body}${pick(TERMINATORS)}`;
  };
}

/**
 * `count` segments of exactly `length` characters, consecutive slices of one long grammar text
 * (so a segment may start or end mid-word, as dbgen's comments do).
 */
export function grammarTextSegments(count: number, length: number, seed = 19920101): string[] {
  const sentence = textGrammar(prng(seed));
  const segments: string[] = [];
  let buffer = '';
  while (segments.length < count) {
    while (buffer.length < length) buffer += `${sentence()} `;
    segments.push(buffer.slice(0, length));
    buffer = buffer.slice(length);
  }
  return segments;
}

/** `count` segments of `length` random alphanumeric characters (dbgen's v-string alphabet). */
export function alphanumericSegments(count: number, length: number, seed = 19980802): string[] {
  const next = prng(seed);
  const segments: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = '';
    for (let k = 0; k < length; k++) s += ALPHANUMERIC[Math.floor(next() * ALPHANUMERIC.length)];
    segments.push(s);
  }
  return segments;
}
