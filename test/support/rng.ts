// The tests' seeded pseudo-random generator (mulberry32): a failing run is replayed from its
// seed. (The simulator has its own, `packages/twopc/src/sim/rng.ts`: part of the product.)

/** Returns a function giving floats in [0, 1), the same sequence for the same seed. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
