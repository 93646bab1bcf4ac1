// sampling.js: greedy ties, seeded reproducibility, temperature and top-p mass.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Sampler, argmax, mulberry32 } from '../../web/lib/engine/sampling.js';

const VOCAB = 49152;

function logitsFor(probabilities) {
  // log-probabilities are logits; the rest of the vocabulary is impossible
  const logits = new Float32Array(VOCAB).fill(-Infinity);
  for (const [id, p] of Object.entries(probabilities)) logits[id] = Math.log(p);
  return logits;
}

function histogram(sampler, logits, options, draws) {
  const counts = new Map();
  for (let i = 0; i < draws; i++) {
    const id = sampler.sample(logits, options);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

test('greedy is argmax, and ties go to the lowest id', () => {
  const logits = new Float32Array(VOCAB);
  logits[700] = 5;
  logits[300] = 5;
  logits[40000] = 4.9;
  assert.equal(argmax(logits), 300);
  const sampler = new Sampler(VOCAB);
  assert.equal(sampler.sample(logits, { temperature: 0, random: mulberry32(1) }), 300);
  assert.equal(argmax(new Float32Array(8)), 0);
});

test('the same seed gives the same draws; another seed does not', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const c = mulberry32(43);
  const seqA = Array.from({ length: 100 }, a);
  assert.deepEqual(seqA, Array.from({ length: 100 }, b));
  assert.notDeepEqual(seqA, Array.from({ length: 100 }, c));
  assert.ok(seqA.every((x) => x >= 0 && x < 1));

  const logits = new Float32Array(VOCAB).map((_, i) => Math.sin(i) * 3);
  const sampler = new Sampler(VOCAB);
  const run = (seed) => {
    const random = mulberry32(seed);
    return Array.from({ length: 20 }, () => sampler.sample(logits, { temperature: 0.8, topP: 0.9, random }));
  };
  assert.deepEqual(run(7), run(7));
  assert.notDeepEqual(run(7), run(8));
});

test('temperature 1 draws in proportion to the softmax', () => {
  const sampler = new Sampler(VOCAB);
  const counts = histogram(sampler, logitsFor({ 10: 0.5, 20: 0.3, 30: 0.2 }), { temperature: 1, random: mulberry32(3) }, 20000);
  assert.deepEqual([...counts.keys()].sort((x, y) => x - y), [10, 20, 30]);
  assert.ok(Math.abs(counts.get(10) / 20000 - 0.5) < 0.02);
  assert.ok(Math.abs(counts.get(20) / 20000 - 0.3) < 0.02);
});

test('top-p keeps the smallest set of likeliest tokens reaching the mass, renormalised', () => {
  const sampler = new Sampler(VOCAB);
  const logits = logitsFor({ 1: 0.5, 2: 0.25, 3: 0.15, 4: 0.1 });
  // 0.5 + 0.25 = 0.75 >= 0.7: tokens 1 and 2 only, at 2/3 and 1/3
  const counts = histogram(sampler, logits, { temperature: 1, topP: 0.7, random: mulberry32(5) }, 20000);
  assert.deepEqual([...counts.keys()].sort(), [1, 2]);
  assert.ok(Math.abs(counts.get(1) / 20000 - 2 / 3) < 0.02);
  // a tiny topP keeps just the top token
  assert.deepEqual([...histogram(sampler, logits, { temperature: 1, topP: 0.01, random: mulberry32(6) }, 500).keys()], [1]);
});

test('top-p over a flat tail widens its threshold until the mass is reached', () => {
  // one token at 10% and 49151 tokens sharing 90%: the nucleus at 0.5 needs ~22000 tail tokens
  const sampler = new Sampler(VOCAB);
  const logits = new Float32Array(VOCAB).fill(Math.log(0.9 / (VOCAB - 1)));
  logits[123] = Math.log(0.1);
  const counts = histogram(sampler, logits, { temperature: 1, topP: 0.5, random: mulberry32(9) }, 5000);
  assert.ok(counts.get(123) / 5000 > 0.17 && counts.get(123) / 5000 < 0.23, `top token share ${counts.get(123) / 5000}`);
  // equal-weight tail tokens are taken lowest id first
  const maxId = Math.max(...[...counts.keys()].filter((id) => id !== 123));
  assert.ok(maxId < 0.5 * VOCAB, `tail reached id ${maxId}`);
});

test('a low temperature sharpens towards greedy', () => {
  const sampler = new Sampler(VOCAB);
  const logits = logitsFor({ 1: 0.4, 2: 0.35, 3: 0.25 });
  const counts = histogram(sampler, logits, { temperature: 0.05, random: mulberry32(11) }, 2000);
  assert.ok(counts.get(1) / 2000 > 0.9);
});
