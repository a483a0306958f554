import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestHost } from '../sdk/test-host.js';
import { timeoutEstimator } from './plugin.js';

test('enough history sets the limit', () => {
  const history = (count) => ({ count, p50Ms: 1_000n, p95Ms: 10_000n, timeoutRate: 0 });
  const similar = { byTag: [], byAgent: history(9), byModel: history(0), byPromptSize: history(0), overall: history(9) };
  const fallback = { hardMs: 600_000n, idleMs: 60_000n };
  const host = new TestHost({ config: { factor: '3' } });
  const estimate = host.run(() => timeoutEstimator.estimate({ id: 'j' }, similar, undefined, fallback));
  assert.deepEqual(estimate, { hardMs: 30_000n, idleMs: 30_000n });
});
