/**
 * Decoding: malformed UTF-8 must become U+FFFD exactly as Python's
 * `bytes.decode('utf-8', errors='replace')` does (python3 is the oracle),
 * and byte input is encoded losslessly (ids decode back to the same bytes,
 * valid UTF-8 or not).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { Rng } from '../src/util/rng.ts';
import { fixturePath } from '../src/util/shared-data.ts';

const vocabPath = fixturePath('cs336', 'fixtures', 'text', 'gpt2_vocab.json');
const mergesPath = fixturePath('cs336', 'fixtures', 'text', 'gpt2_merges.txt');
const hasPython = spawnSync('python3', ['-c', 'print(1)']).status === 0;
if (!hasPython && process.env.CI === 'true') throw new Error('python3 is needed as the decode oracle');

/** Python's decode of each byte string (errors='replace'), via JSON. */
function pythonDecode(samples: Uint8Array[]): string[] {
  const script = 'import sys, json\n'
    + 'xs = json.load(sys.stdin)\n'
    + 'json.dump([bytes.fromhex(x).decode("utf-8", errors="replace") for x in xs], sys.stdout)\n';
  const r = spawnSync('python3', ['-c', script], {
    input: JSON.stringify(samples.map((s) => Buffer.from(s).toString('hex'))),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

/** Tricky sequences: truncations, overlongs, surrogates, out-of-range, stray continuations. */
const TRICKY: number[][] = [
  [0xc0, 0x80], [0xc1, 0xbf], [0xc2], [0xc2, 0x41], [0xdf, 0xbf], [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xe0, 0xa0],
  [0xe0, 0xa0, 0x41], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xed, 0x9f, 0xbf], [0xef, 0xbf, 0xbd], [0xef, 0xbf],
  [0xf0, 0x80, 0x80, 0x80], [0xf0, 0x8f, 0xbf, 0xbf], [0xf0, 0x90, 0x80], [0xf0, 0x90, 0x80, 0x41], [0xf4, 0x8f, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80],
  [0xfe], [0xff], [0x80], [0xbf], [0x80, 0x80, 0x80], [0xf0, 0x9f, 0x99], [0xf0, 0x9f, 0x99, 0x83], [0xe2, 0x82], [0xe2, 0x82, 0xac],
  [0xef, 0xbb, 0xbf, 0x41], [0x41, 0xf0, 0x9f, 0xe2, 0x82, 0xac, 0x80, 0x42],
];

describe('decode and byte-level roundtrip', () => {
  const tok = Tokenizer.fromFiles(vocabPath, mergesPath, ['<|endoftext|>']);

  it('malformed UTF-8 decodes like Python errors="replace" (tricky and random byte strings)', { skip: hasPython ? false : 'python3 not found' }, () => {
    const rng = new Rng(7);
    const samples: Uint8Array[] = TRICKY.map((t) => Uint8Array.from(t));
    for (let k = 0; k < 3000; k++) {
      const n = 1 + rng.intBelow(24);
      const s = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const r = rng.uniform();
        // Mostly bytes near the UTF-8 structure boundaries, some ASCII, some anything.
        s[i] = r < 0.3 ? 0x80 + rng.intBelow(0x40) : r < 0.55 ? 0xc0 + rng.intBelow(0x40) : r < 0.8 ? rng.intBelow(0x80) : rng.intBelow(256);
      }
      samples.push(s);
    }
    const expected = pythonDecode(samples);
    for (let k = 0; k < samples.length; k++) {
      const ids = tok.encodeToIds(samples[k]);
      assert.deepEqual(tok.decodeBytes(ids), samples[k], `bytes roundtrip ${Buffer.from(samples[k]).toString('hex')}`);
      assert.equal(tok.decode(ids), expected[k], `decode of ${Buffer.from(samples[k]).toString('hex')}`);
    }
  });

  it('decode(encode(x)) === x for valid text, and per-token bytes concatenate to the input', () => {
    const rng = new Rng(11);
    const alphabet = ['a', 'é', '中', '🙃', ' ', '\n', '7', "'", '<|endoftext|>', '\u3000', '\u0301'];
    for (let k = 0; k < 500; k++) {
      let s = '';
      for (let i = rng.intBelow(60); i > 0; i--) s += alphabet[rng.intBelow(alphabet.length)];
      const ids = tok.encode(s);
      assert.equal(tok.decode(ids), s);
      const joined = Buffer.concat(ids.map((id) => tok.tokenBytes(id)));
      assert.deepEqual(new Uint8Array(joined), new Uint8Array(Buffer.from(s)));
    }
  });

  it('lone surrogates in strings are encoded as U+FFFD (as UTF-8 encoding does)', () => {
    assert.deepEqual(tok.encode('a\ud83db'), tok.encode('a\ufffdb'));
    assert.equal(tok.decode(tok.encode('x\udc00')), 'x\ufffd');
  });
});
