/**
 * Test child: a pipeline (so the real signal handling of define.ts applies)
 * that writes directory --out atomically and stops in the middle of filling
 * it: it writes --bytes into data.bin, prints `filling TMPDIR` on stderr and
 * waits, for a test to signal or kill it there.
 *
 *   node --import tsx test/helpers/slow-fill.ts --out DIR [--bytes N]
 */
import { join } from 'node:path';
import { definePipeline, runIfMain } from '../../src/pipeline/define.ts';
import { writeDirAtomic, writeFileDurable } from '../../src/util/atomic.ts';

export const slowFill = definePipeline({
  name: 'slow-fill',
  description: 'write a directory atomically, pausing mid-fill (test helper)',
  stages: [{ name: 'fill', description: 'write data.bin, then wait' }],
  options: {
    out: { type: 'string', required: true, placeholder: 'DIR', description: 'directory to write' },
    bytes: { type: 'int', default: 1000, min: 0, description: 'size of data.bin' },
    waitMs: { type: 'int', default: 60_000, min: 0, description: 'pause inside the fill' },
  },
  async run(o) {
    await writeDirAtomic(o.out, async (tmp) => {
      writeFileDurable(join(tmp, 'data.bin'), Buffer.alloc(o.bytes, 7));
      process.stderr.write(`filling ${tmp}\n`);
      await new Promise<void>((resolve) => { setTimeout(resolve, o.waitMs); });
    });
    return { out: o.out };
  },
});

await runIfMain(slowFill, import.meta.url);
