import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commands } from './plugin.js';

test('explain submits a tagged job and needs a target', () => {
  const outcome = commands.run('explain', 'src/main.rs');
  assert.equal(outcome.tag, 'submit');
  assert.ok(outcome.val.prompt.startsWith('Explain src/main.rs'));
  assert.deepEqual(outcome.val.options.tags, ['explain']);
  assert.throws(() => commands.run('explain', ' '));
});
