/** Small things every test file needs: a seeded PRNG and temporary directories removed afterwards. */
import { after } from 'node:test';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export { mulberry32 } from './prng.js';

/** A function making fresh temporary directories, all removed when the test file ends. */
export function tempDirs(prefix: string): () => Promise<string> {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
  });
  return async () => {
    const d = await fs.mkdtemp(path.join(os.tmpdir(), `axis-${prefix}-`));
    dirs.push(d);
    return d;
  };
}

/**
 * Polls `f` every `everyMs` until it gives a value other than undefined, and returns it; throws
 * after `ms` naming `what` (and the last error `f` threw, if any).
 */
export async function until<T>(what: string, ms: number, f: () => Promise<T | undefined> | T | undefined, everyMs = 50): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (last: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
