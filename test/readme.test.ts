/** The README's embedded example runs as written and prints what its comments say. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

test('the README example runs', () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = /```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, 'README has a js example');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'axis-readme-'));
  // Inside the package, so `import ... from 'axis-kv'` resolves to this build.
  const script = path.join(root, 'dist', `readme-example-${process.pid}.mjs`);
  fs.writeFileSync(script, block[1]!.replace('./data/example', path.join(dir, 'store')));
  try {
    const out = execFileSync(process.execPath, [script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(out.trim(), 'true 5');
  } finally {
    fs.rmSync(script, { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
