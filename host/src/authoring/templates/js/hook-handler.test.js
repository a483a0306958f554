import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestHost } from '../sdk/test-host.js';
import { hookHandler } from './plugin.js';

test('denies long prompts only', () => {
  const event = (promptBytes) => ({ name: 'JobSubmit', payloadJson: '{}', job: { id: 'j', promptBytes } });
  const host = new TestHost({ config: { 'max-prompt-bytes': '10' } });
  assert.equal(host.run(() => hookHandler.handle(event(11))).permission, 'deny');
  assert.equal(host.run(() => hookHandler.handle(event(10))).permission, 'none');
});
