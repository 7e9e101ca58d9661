/**
 * The addon's reader of vocab.json + merges.txt (`native/src/tokenizer/tok_files.cc`,
 * `nativeGpt2Tables`) against the TypeScript reader it speeds up
 * (`gpt2TablesTs`, the reference): equal tables on real tokenizers (GPT-2,
 * the CS336 reference, one trained here) and on the same files written
 * every other valid way (escapes, spacing, key order, CRLF, blank lines, no
 * #version); and on files that need the reference's judgement (ids as
 * 1.0 or 1e0, duplicate keys, missing byte tokens, unknown merge tokens,
 * malformed lines, a BOM, invalid UTF-8, a trailing no-break space) the
 * addon declines and `gpt2Tables` gives exactly the reference's result or
 * error. Skips (with the reason) only when the addon is not built; with
 * CI=true that fails instead.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { trainBpePipeline } from '../pipelines/train-bpe.ts';
import { loadNative } from '../src/backends/native/addon.ts';
import { nativeGpt2Tables, nativeTokenizerAvailable } from '../src/tokenizer/native-tokenizer.ts';
import { gpt2Tables, gpt2TablesTs, type TokenizerTables } from '../src/tokenizer/tokenizer-files.ts';
import { fixturePath } from '../src/util/shared-data.ts';
import { Rng } from '../src/util/rng.ts';
import { runInProcess } from './helpers/in-process.ts';
import { sotuText } from './helpers/sotu.ts';
import { skipWithoutNative } from './helpers/native-skip.ts';

const skip = skipWithoutNative('test/tokenizer-files-native.test.ts', 'native tokenizer', () => {
  const a = nativeTokenizerAvailable();
  return a.ok ? null : a.reason;
});

const tmp = mkdtempSync(join(tmpdir(), 'lmpipe-files-native-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const GPT2_VOCAB = fixturePath('cs336', 'fixtures', 'text', 'gpt2_vocab.json');
const GPT2_MERGES = fixturePath('cs336', 'fixtures', 'text', 'gpt2_merges.txt');

function sameTables(a: TokenizerTables, b: TokenizerTables, what: string): void {
  assert.deepEqual(Buffer.from(a.pool), Buffer.from(b.pool), `${what}: pool`);
  assert.deepEqual(Array.from(a.offsets), Array.from(b.offsets), `${what}: offsets`);
  assert.deepEqual(Array.from(a.merges), Array.from(b.merges), `${what}: merges`);
}

/** The reference's tables for the pair, or its error message. */
function reference(vocab: Buffer, merges: Buffer): TokenizerTables | string {
  try {
    return gpt2TablesTs(vocab, 'vocab.json', merges, 'merges.txt', {});
  } catch (e) {
    return (e as Error).message;
  }
}

/** The files read fast and equal to the reference. */
function readsEqual(vocab: Buffer, merges: Buffer, what: string): void {
  const fast = nativeGpt2Tables(vocab, merges);
  assert.ok(fast !== null, `${what}: the addon declined well-formed files`);
  const ref = reference(vocab, merges);
  assert.ok(typeof ref !== 'string', `${what}: the reference rejected them: ${String(ref)}`);
  sameTables(fast, ref, what);
}

/** The addon declines, and gpt2Tables gives the reference's result or error. */
function declinesLikeReference(vocab: Buffer, merges: Buffer, what: string): void {
  assert.equal(nativeGpt2Tables(vocab, merges), null, `${what}: the addon should leave these files to the reference`);
  const ref = reference(vocab, merges);
  let got: TokenizerTables | string;
  try {
    got = gpt2Tables(vocab, 'vocab.json', merges, 'merges.txt', {});
  } catch (e) {
    got = (e as Error).message;
  }
  if (typeof ref === 'string') assert.equal(got, ref, what);
  else {
    assert.ok(typeof got !== 'string', `${what}: ${String(got)}`);
    sameTables(got, ref, what);
  }
}

/** vocab.json entries in file order. */
function vocabEntries(vocab: Buffer): Array<[string, number]> {
  return Object.entries(JSON.parse(vocab.toString('utf8')) as Record<string, number>);
}

/** A vocab.json written with every non-ASCII character (and optionally every character) as a \u escape. */
function escapedJson(entries: ReadonlyArray<[string, number]>, all: boolean): string {
  const esc = (s: string): string => Array.from(s, (ch) => {
    const c = ch.charCodeAt(0);
    if (all || c > 0x7e) return `\\u${c.toString(16).padStart(4, '0')}`;
    return ch === '"' ? '\\"' : ch === '\\' ? '\\\\' : ch === '/' ? '\\/' : ch;
  }).join('');
  return `{${entries.map(([t, id]) => `"${esc(t)}": ${id}`).join(', ')}}`;
}

describe('reading vocab.json + merges.txt in the addon', { skip }, () => {
  if (skip) return;
  const gpt2Vocab = readFileSync(GPT2_VOCAB);
  const gpt2Merges = readFileSync(GPT2_MERGES);

  it('gives the reference tables for GPT-2, the CS336 reference tokenizer and one trained here', async () => {
    readsEqual(gpt2Vocab, gpt2Merges, 'GPT-2');
    readsEqual(
      readFileSync(fixturePath('cs336', 'fixtures', 'text', 'train-bpe-reference-vocab.json')),
      readFileSync(fixturePath('cs336', 'fixtures', 'text', 'train-bpe-reference-merges.txt')),
      'CS336 reference',
    );
    const corpus = join(tmp, 'sotu.txt');
    writeFileSync(corpus, sotuText().slice(0, 400_000));
    const out = join(tmp, 'tok');
    await runInProcess(trainBpePipeline, ['-i', corpus, '--vocab-size', '1200', '--special-token', '<|endoftext|>', '-o', out, '--quiet']);
    readsEqual(readFileSync(join(out, 'vocab.json')), readFileSync(join(out, 'merges.txt')), 'trained here');
  });

  it('reads the same files written every other valid way', () => {
    const entries = vocabEntries(gpt2Vocab);
    const shuffled = [...entries];
    const rng = new Rng(7);
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = rng.intBelow(i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    const vocabs: Array<[string, string]> = [
      ['JSON.stringify', JSON.stringify(Object.fromEntries(entries))],
      ['indented', JSON.stringify(Object.fromEntries(entries), null, 2)],
      ['tabs and CRLF', `{\r\n\t${entries.map(([t, id]) => `${JSON.stringify(t)}\t:\t${id}`).join(',\r\n\t')}\r\n}\r\n`],
      ['non-ASCII as \\u escapes', escapedJson(entries, false)],
      ['every character as a \\u escape', escapedJson(entries, true)],
      ['shuffled keys', JSON.stringify(Object.fromEntries(shuffled))],
    ];
    const lines = gpt2Merges.toString('utf8').split('\n');
    const body = lines.slice(1).filter((l) => l !== '');
    const mergesVariants: Array<[string, string]> = [
      ['as shipped', gpt2Merges.toString('utf8')],
      ['CRLF', lines.join('\r\n')],
      ['no #version line, no final newline', body.join('\n')],
      ['blank lines and trailing spaces and tabs', body.map((l, i) => (i % 7 === 0 ? `${l} \t\n` : `${l}\n`)).join('\n')],
    ];
    for (const [vw, v] of vocabs) readsEqual(Buffer.from(v), gpt2Merges, `vocab ${vw}`);
    for (const [mw, m] of mergesVariants) readsEqual(gpt2Vocab, Buffer.from(m), `merges ${mw}`);
  });

  it('leaves files that need the reference to it, with the reference result or error', () => {
    const entries = vocabEntries(gpt2Vocab);
    const text = gpt2Vocab.toString('utf8');
    const merges = gpt2Merges.toString('utf8');
    const first = merges.split('\n')[1];
    const cases: Array<[string, string, string]> = [
      ['an id written 1.0', text.replace(/: 1,/, ': 1.0,'), merges],
      ['an id written 2e0', text.replace(/: 2,/, ': 2e0,'), merges],
      ['an id written -0', text.replace(/: 0,/, ': -0,'), merges],
      ['an id as a string', text.replace(/: 3,/, ': "3",'), merges],
      ['an id out of range', text.replace(/: 4,/, ': 99999999,'), merges],
      ['a duplicate key', text.replace(/^\{/, `{${JSON.stringify(entries[10][0])}: ${entries[10][1]}, `), merges],
      ['a token outside the byte table', text.replace(/^\{/, '{"a b": 50257, '), merges],
      ['no token for byte "!"', JSON.stringify(Object.fromEntries(entries.filter(([t]) => t !== '!').map(([t], i) => [t, i]))), ''],
      ['not JSON', text.slice(0, -3), merges],
      ['a byte-order mark', `\uFEFF${text}`, merges],
      ['trailing text', `${text} x`, merges],
      ['a merge token not in the vocabulary', text, merges.replace(first, 'Ġt Ġzzzzqq')],
      ['a merge line with two spaces', text, merges.replace(first, `${first} e`)],
      ['a merge line with a leading space', text, merges.replace(first, ` ${first}`)],
      ['a merge line ending in a no-break space', text, merges.replace(first, `${first}\u00a0`)],
    ];
    for (const [what, v, m] of cases) declinesLikeReference(Buffer.from(v), Buffer.from(m), what);
    const invalid = Buffer.concat([Buffer.from(merges.slice(0, 200)), Buffer.from([0xff, 0x0a]), Buffer.from(merges.slice(200))]);
    declinesLikeReference(gpt2Vocab, invalid, 'merges with invalid UTF-8');
  });

  it('refuses arguments of the wrong type with a TypeError', () => {
    const addon = loadNative();
    assert.throws(() => addon.tokReadGpt2Files('{}' as unknown as Uint8Array, new Uint8Array(0)), /tokReadGpt2Files: argument 0 must be a Uint8Array/);
    assert.throws(() => addon.tokReadGpt2Files(new Uint8Array(0), new Int32Array(1) as unknown as Uint8Array), /argument 1 must be a Uint8Array/);
    assert.equal(addon.tokReadGpt2Files(new Uint8Array(0), new Uint8Array(0)), null);
  });
});
