import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestHost } from '../sdk/test-host.js';
import { scheduler } from './plugin.js';

test('starts at most max-starts, best first', () => {
  const candidates = ['a', 'b', 'c'].map((id) => ({ job: { id, rootId: id, priority: 0 }, rank: 0n, waitedMs: 0n }));
  const slots = [{ index: 0, running: 0, free: 4, recentStarted: 0, recentFailed: 0, recentRateLimited: 0 }];
  const input = { candidates, slots, capacity: 4, roots: [], queuedTotal: 3, nowMs: 0n };
  const chosen = new TestHost({ config: { 'max-starts': '2' } }).run(() => scheduler.select(input));
  assert.deepEqual(chosen.map((a) => a.jobId), ['a', 'b']);
});
