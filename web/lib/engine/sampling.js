// @ts-check
// Choosing the next token from the model's logits: greedy, temperature and
// top-p (nucleus) sampling, with a seedable random source.
//
// Runs once per generated token on a 49152-wide Float32Array, so the Sampler
// keeps its scratch buffers between calls instead of allocating per token.

/**
 * mulberry32: a tiny, fast 32-bit PRNG. Used because Math.random cannot be
 * seeded, and a seed is what makes a sampled answer reproducible (tests, and
 * a retried request that must continue the same way).
 * @param {number} seed any integer
 * @returns {() => number} uniform floats in [0, 1)
 */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** @returns {number} a fresh 32-bit seed from the platform's CSPRNG */
export function randomSeed() {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/**
 * Index of the largest value; ties go to the lowest index, as numpy's argmax
 * (which the Python reference uses).
 * @param {Float32Array} logits
 * @returns {number}
 */
export function argmax(logits) {
  let best = 0;
  let bestValue = logits[0];
  for (let i = 1; i < logits.length; i++) {
    if (logits[i] > bestValue) {
      bestValue = logits[i];
      best = i;
    }
  }
  return best;
}

export class Sampler {
  /** @param {number} vocabSize */
  constructor(vocabSize) {
    this.weights = new Float64Array(vocabSize);
    this.candidates = new Int32Array(vocabSize);
  }

  /**
   * Pick a token id.
   * temperature <= 0 is greedy. Otherwise the softmax of logits/temperature,
   * cut to the smallest set of most likely tokens whose mass reaches topP.
   * @param {Float32Array} logits one position's logits
   * @param {{temperature?: number, topP?: number, random: () => number}} options
   * @returns {number}
   */
  sample(logits, { temperature = 0, topP = 1, random }) {
    if (!(temperature > 0)) return argmax(logits);
    const n = logits.length;
    const w = this.weights;
    const max = logits[argmax(logits)];
    let total = 0;
    for (let i = 0; i < n; i++) {
      const x = Math.exp((logits[i] - max) / temperature);
      w[i] = x;
      total += x;
    }
    if (topP >= 1) return drawFrom(w, n, total, random);
    return this.drawNucleus(n, total, Math.max(topP, 0) * total, random);
  }

  /**
   * Nucleus sampling without sorting the whole vocabulary: take the tokens
   * above a weight threshold; if they already hold the target mass the
   * nucleus is among them (it is made of the heaviest tokens), so only they
   * are sorted. Otherwise lower the threshold and try again. With peaked
   * distributions the first round keeps a few dozen tokens.
   */
  drawNucleus(n, total, target, random) {
    const w = this.weights;
    const ids = this.candidates;
    let threshold = 1e-2; // relative to the top token, whose weight is exactly 1
    for (;;) {
      let count = 0;
      let mass = 0;
      for (let i = 0; i < n; i++) {
        if (w[i] >= threshold) {
          ids[count++] = i;
          mass += w[i];
        }
      }
      if (mass >= target || threshold === 0) {
        const sorted = ids.subarray(0, count).sort((a, b) => w[b] - w[a] || a - b);
        let kept = 0;
        let keptMass = 0;
        while (kept < count && (kept === 0 || keptMass < target)) keptMass += w[sorted[kept++]];
        let r = random() * keptMass;
        for (let k = 0; k < kept; k++) {
          r -= w[sorted[k]];
          if (r < 0) return sorted[k];
        }
        return sorted[kept - 1];
      }
      threshold = threshold > 1e-12 ? threshold * 1e-3 : 0;
    }
  }
}

function drawFrom(w, n, total, random) {
  let r = random() * total;
  let last = 0;
  for (let i = 0; i < n; i++) {
    if (w[i] > 0) {
      r -= w[i];
      last = i;
      if (r < 0) return i;
    }
  }
  return last; // rounding left r a hair above zero
}
