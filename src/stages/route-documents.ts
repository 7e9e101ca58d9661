/**
 * route-documents: the sink of split-corpus. Sends each non-empty document to
 * train.txt or valid.txt by a seeded draw, joined on each side by the
 * separator. By number (the default): `documentDraw(seed, n)` on the
 * document's number n (`Unit.docIndex` / `Unit.docs`: documents dropped
 * upstream keep theirs, so the split of the kept ones does not depend on
 * filtering); a document is routed at its first byte and streamed to its
 * side, so pieces of one (`continues` units) are never held. By content:
 * `contentDraw(seed, bytes)`, which needs each document whole (held, as the
 * document stages hold them) but no number, so a shard of the corpus draws
 * as the whole would. Outputs are guarded, written to temp files, and
 * renamed at the end.
 */
import { closeSync, openSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { Sink } from '../pipeline/stage.ts';
import { contentDraw, documentDraw, unitDocuments, wholeDocuments } from './documents.ts';
import type { InputFile } from './read-inputs.ts';
import { commitTemp, discardTemp, ensureDir, fsyncOrFail, settleWriteError, tempPathFor, writeAllSync } from '../util/atomic.ts';
import { guardOutputs } from '../util/output-guard.ts';
import type { Unit } from './items.ts';

export interface RouteDocumentsOptions {
  separator: string;
  outDir: string;
  valFraction: number;
  seed: number;
  /** The inputs, which the outputs must not overwrite. */
  inputs: readonly InputFile[];
  /** True when a document stage may drop documents (changes the "no document" warning). */
  dropping?: boolean;
  /** What the draw is on: the document's number (default) or its bytes (`contentDraw`). */
  drawBy?: 'number' | 'content';
  /** The two output files (default: outDir/train.txt and outDir/valid.txt). */
  targets?: { train: string; valid: string };
  /**
   * Every document followed by the separator, the last one too (a shard's
   * parts: concatenated in order, they give the whole split plus one final
   * separator, and no two documents run together).
   */
  trailingSeparator?: boolean;
  /** Warn about a side that got no document (default true; a shard's part is a small piece of the split, so its sides are not warned about). */
  warnEmptySide?: boolean;
}

export interface SplitSide {
  path: string;
  documents: number;
  bytes: number;
}

/** The summary fields of a split. */
export interface RouteDocumentsResult {
  documents: number;
  train: SplitSide;
  valid: SplitSide;
  large_documents: number;
}

/**
 * Warnings about a split of `documents` (> 0) documents: a side that got
 * none, or a --val-fraction that expects fewer than one document on a side.
 * A side emptied on purpose (--val-fraction 0 or 1) is not warned about.
 */
export function splitWarnings(documents: number, counts: { train: number; valid: number }, valFraction: number): string[] {
  const warnings: string[] = [];
  const sides = [
    { file: 'valid.txt', got: counts.valid, fraction: valFraction, fix: documents >= 3 ? `raise --val-fraction to at least ${(Math.ceil(150 / documents) / 100).toFixed(2)}` : null },
    { file: 'train.txt', got: counts.train, fraction: 1 - valFraction, fix: 'lower --val-fraction' },
  ];
  for (const side of sides) {
    if (side.fraction <= 0) continue;
    const expected = documents * side.fraction;
    if (expected < 1) {
      warnings.push(`--val-fraction ${valFraction} of ${documents} document${documents === 1 ? '' : 's'} expects only ${expected.toFixed(2)} in ${side.file}, which got ${side.got}; give more documents${side.fix ? ` or ${side.fix}` : ''}`);
    } else if (side.got === 0) {
      warnings.push(`${side.file} is empty: none of the ${documents} documents was drawn for it (${expected.toFixed(1)} expected); try another --seed${side.fix ? ` or ${side.fix}` : ''}`);
    }
  }
  return warnings;
}

/** Documents above this size are reported (kept whole all the same). */
export const LARGE_DOCUMENT_BYTES = 64 << 20;

/** The route-documents sink (named `route`). */
export function routeDocuments(o: RouteDocumentsOptions): Sink<Unit, RouteDocumentsResult> {
  const sep = Buffer.from(o.separator, 'utf8');
  return {
    name: 'route',
    description: 'send each document to train.txt or valid.txt by a seeded draw (temp files renamed at the end)',
    async consume(source, ctx) {
      const targets = o.targets ?? { train: join(o.outDir, 'train.txt'), valid: join(o.outDir, 'valid.txt') };
      guardOutputs([
        { path: targets.train, flag: '--out-dir', type: 'file', what: 'train split', label: `--out-dir ${o.outDir}: its ${relative(o.outDir, targets.train)}` },
        { path: targets.valid, flag: '--out-dir', type: 'file', what: 'validation split', label: `--out-dir ${o.outDir}: its ${relative(o.outDir, targets.valid)}` },
      ], o.inputs.map((f) => ({ path: f.path, what: '--input' })), { log: (m) => ctx.log(m) });
      ensureDir(dirname(targets.train));
      ensureDir(dirname(targets.valid));
      const tmp = { train: tempPathFor(targets.train), valid: tempPathFor(targets.valid) };
      const fds = { train: openSync(tmp.train, 'w'), valid: openSync(tmp.valid, 'w') };
      const counts = { train: 0, valid: 0 };
      const bytes = { train: 0, valid: 0 };
      let side: 'train' | 'valid' = 'train';
      let inDoc = false;
      let docBytes = 0;
      let next = 0; // number of the next document to start, when units do not say
      let doc = { file: '', offset: 0 };
      const large = { count: 0, bytes: 0, file: '', offset: 0 };
      const append = (data: Buffer): void => {
        writeAllSync(fds[side], data, targets[side], bytes[side]);
        bytes[side] += data.length;
      };
      const endDoc = (): void => {
        if (inDoc && docBytes > LARGE_DOCUMENT_BYTES) {
          large.count++;
          if (docBytes > large.bytes) Object.assign(large, { bytes: docBytes, ...doc });
        }
        inDoc = false;
      };
      // A document starts on `to`: counted, and the separator goes before it (or after every one, with trailingSeparator).
      const startDoc = (to: 'train' | 'valid', file: string, offset: number): void => {
        side = to;
        if (counts[side] > 0 && !o.trailingSeparator) append(sep);
        counts[side]++;
        inDoc = true;
        docBytes = 0;
        doc = { file, offset };
      };
      const finishDoc = (): void => {
        if (inDoc && o.trailingSeparator) append(sep);
        endDoc();
      };
      try {
        if (o.drawBy === 'content') {
          for await (const u of wholeDocuments(source, sep)) {
            if (ctx.signal.aborted) throw new Error('interrupted');
            const buf = Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength);
            for (const d of unitDocuments(u.data, sep)) {
              if (d.end <= d.start) continue;
              const body = buf.subarray(d.start, d.end);
              startDoc(contentDraw(o.seed, body) < o.valFraction ? 'valid' : 'train', u.file, u.offset + d.start);
              docBytes = body.length;
              append(body);
              finishDoc();
            }
          }
        } else for await (const u of source) {
          if (ctx.signal.aborted) throw new Error('interrupted');
          if (!u.docs && u.docIndex !== undefined) next = u.docIndex + (inDoc ? 1 : 0);
          let k = 0;
          const buf = Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength);
          let pos = 0;
          for (;;) {
            const i = buf.indexOf(sep, pos);
            const end = i < 0 ? buf.length : i;
            if (end > pos) {
              if (!inDoc) {
                const n = u.docs ? u.docs[k++] : next;
                next = n + 1;
                startDoc(documentDraw(o.seed, n) < o.valFraction ? 'valid' : 'train', u.file, u.offset + pos);
              }
              docBytes += end - pos;
              append(buf.subarray(pos, end));
            }
            if (i < 0) break;
            finishDoc();
            pos = i + sep.length;
          }
          if (!u.continues) finishDoc();
        }
        for (const k of ['train', 'valid'] as const) { fsyncOrFail(fds[k], targets[k], bytes[k]); closeSync(fds[k]); }
        commitTemp(tmp.train, targets.train);
        commitTemp(tmp.valid, targets.valid);
      } catch (e) {
        for (const k of ['train', 'valid'] as const) { try { closeSync(fds[k]); } catch { /* closed */ } discardTemp(tmp[k]); }
        throw settleWriteError(e);
      }
      const documents = counts.train + counts.valid;
      if (documents === 0) ctx.warn(o.dropping ? 'no document is left to split: the input holds none, or the document stages dropped them all' : 'the input holds no document');
      if (large.count > 0) {
        ctx.warn(`${large.count} document(s) over ${LARGE_DOCUMENT_BYTES >> 20} MB were kept whole, each streamed to one side (largest: ${(large.bytes / 2 ** 20).toFixed(1)} MB, ${large.file === '-' ? 'stdin' : large.file} from byte ${large.offset}); tools that take a document at a time may need the memory`);
      }
      else if (o.warnEmptySide !== false) for (const w of splitWarnings(documents, counts, o.valFraction)) ctx.warn(w);
      return {
        documents,
        train: { path: targets.train, documents: counts.train, bytes: bytes.train },
        valid: { path: targets.valid, documents: counts.valid, bytes: bytes.valid },
        large_documents: large.count,
      };
    },
  };
}
