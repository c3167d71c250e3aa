/** The README's examples run as written and print what their comments say. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDirs } from './support/fixtures.js';
import { startCluster } from './support/cluster.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);
const dir = tempDirs('readme');

function example(marker: string): string {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes(marker));
  assert.ok(block, `README has a js example with ${marker}`);
  return block;
}

/** Runs code as a module inside the package, so `import ... from 'axis-kv'` resolves to this build. */
async function runModule(code: string): Promise<string> {
  const script = path.join(root, 'dist', `readme-example-${process.pid}-${Date.now()}.mjs`);
  fs.writeFileSync(script, code);
  try {
    return (await run(process.execPath, [script], { encoding: 'utf8', timeout: 30_000 })).stdout.trim();
  } finally {
    fs.rmSync(script, { force: true });
  }
}

test('the README embedded example runs', async () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'axis-readme-'));
  try {
    assert.equal(await runModule(example('await open(').replace('./data/example', path.join(d, 'store'))), 'true 5');
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('the README cluster example runs against a cluster', { timeout: 60_000 }, async () => {
  const c = await startCluster(3, dir);
  try {
    const code = example('await connect(').replace(/endpoints: \[[^\]]*\]/, `endpoints: ${JSON.stringify(c.endpoints.slice(0, 2))}`);
    assert.equal(await runModule(code), '1 true');
  } finally {
    await c.close();
  }
});

test('the README leases/watches/locks example runs against a cluster', { timeout: 60_000 }, async () => {
  const c = await startCluster(3, dir);
  try {
    const code = example('kv.lock(').replace(/endpoints: \[[^\]]*\]/, `endpoints: ${JSON.stringify(c.endpoints)}`);
    assert.equal(await runModule(code), 'put up busy\ntrue\nnode-1 1');
  } finally {
    await c.close();
  }
});
