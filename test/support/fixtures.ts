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
