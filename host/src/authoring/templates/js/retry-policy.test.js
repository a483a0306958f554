import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestHost } from '../sdk/test-host.js';
import { retryPolicy } from './plugin.js';

const failure = (kind) => ({ kind, signal: 9, stderrTail: '', message: 'killed', hasSession: true });

test('retries later each time and gives up on what cannot be fixed', () => {
  const host = new TestHost({ config: { 'delay-ms': '100' } });
  const retry = host.run(() => retryPolicy.decide({ id: 'j' }, 2, 3, failure('crashed')));
  assert.deepEqual(retry, { tag: 'retry', val: { delayMs: 200n, resumeSession: true, priority: undefined, timeoutMs: undefined } });
  assert.equal(host.run(() => retryPolicy.decide({ id: 'j' }, 1, 3, failure('could-not-start'))).tag, 'give-up');
});
