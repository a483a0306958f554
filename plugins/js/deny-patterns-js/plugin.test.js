// The deny-patterns hook handler's decisions, run natively:
// `node --import ../../sdk/js/register-test-host.js --test`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestHost } from '../../sdk/js/test-host.js';
import { hookHandler } from './plugin.js';

const event = (payloadJson) => ({ name: 'PreToolUse', payloadJson });

test('a pattern in any case denies and says which', () => {
  const host = new TestHost({ config: { patterns: 'rm -rf /\nPROD.example.com, eu\n' } });
  const denied = host.run(() => hookHandler.handle(event('{"command":"ssh prod.EXAMPLE.com, eu"}')));
  assert.equal(denied.permission, 'deny');
  assert.equal(denied.reason, 'input matches the denied pattern "PROD.example.com, eu"');
  assert.equal(host.logs[0].fields.pattern, 'PROD.example.com, eu');
  assert.equal(host.run(() => hookHandler.handle(event('{"command":"ls"}'))).permission, 'none');
});

test('events default and configured', () => {
  assert.deepEqual(new TestHost().run(() => hookHandler.events()), ['JobSubmit', 'PreToolUse']);
  const host = new TestHost({ config: { events: 'Stop,\nJobSubmit' } });
  assert.deepEqual(host.run(() => hookHandler.events()), ['Stop', 'JobSubmit']);
});
