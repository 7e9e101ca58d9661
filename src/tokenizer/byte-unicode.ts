/**
 * GPT-2's reversible byte <-> printable-unicode table, used by `vocab.json`
 * and `merges.txt` files so that every byte string is a printable JSON string.
 * Printable bytes map to themselves; the rest map to U+0100 upward in order.
 */

function buildTable(): string[] {
  const keep: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const table = new Array<string>(256);
  const kept = new Set(keep);
  for (const b of keep) table[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!kept.has(b)) table[b] = String.fromCharCode(256 + n++);
  }
  return table;
}

/** byte value -> one printable character. */
export const BYTE_TO_UNICODE: readonly string[] = buildTable();

/** printable character code -> byte value (-1 where none). */
export const UNICODE_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(512).fill(-1);
  BYTE_TO_UNICODE.forEach((ch, b) => { t[ch.charCodeAt(0)] = b; });
  return t;
})();

/** byte value -> its character's code (BYTE_TO_UNICODE as numbers). */
const BYTE_TO_CODE: Uint16Array = Uint16Array.from(BYTE_TO_UNICODE, (ch) => ch.charCodeAt(0));

/**
 * Encodes raw bytes as a GPT-2 vocab string. Linear in time and memory for
 * any length: a long token is built through one UTF-16 buffer, since
 * appending character by character makes a rope of one heap object per
 * byte (a 16 MB token took 10 s and 600 MB that way).
 */
export function bytesToUnicode(bytes: Uint8Array): string {
  if (bytes.length <= 64) {
    let s = '';
    for (let i = 0; i < bytes.length; i++) s += BYTE_TO_UNICODE[bytes[i]];
    return s;
  }
  // A one-byte (latin-1) string while every character is below U+0100: half the memory.
  const narrow = Buffer.allocUnsafe(bytes.length);
  let i = 0;
  for (; i < bytes.length; i++) {
    const c = BYTE_TO_CODE[bytes[i]];
    if (c > 0xff) break;
    narrow[i] = c;
  }
  if (i === bytes.length) return narrow.toString('latin1');
  const codes = new Uint16Array(bytes.length);
  for (i = 0; i < bytes.length; i++) codes[i] = BYTE_TO_CODE[bytes[i]];
  return Buffer.from(codes.buffer, codes.byteOffset, codes.byteLength).toString('utf16le');
}

/** Decodes a GPT-2 vocab string to raw bytes; throws on a character outside the table. */
export function unicodeToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const b = c < 512 ? UNICODE_TO_BYTE[c] : -1;
    if (b < 0) throw new Error(`character U+${c.toString(16).padStart(4, '0')} at offset ${i} is not in the GPT-2 byte table`);
    out[i] = b;
  }
  return out;
}
