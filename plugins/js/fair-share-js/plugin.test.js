// The fair-share scheduler's decisions, run natively:
// `node --import ../../sdk/js/register-test-host.js --test`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../sdk/js/ringmaster-plugin.js';
import { TestHost } from '../../sdk/js/test-host.js';
import { scheduler } from './plugin.js';

const job = (id, rootId, priority = 0) => ({ id, rootId, priority, tags: [], attempt: 1 });
const tree = (root, ids) => ids.map((id) => ({ job: job(id, root), rank: 0n, waitedMs: 0n }));
const slot = (index, free) => ({ index, running: 0, free, recentStarted: 0, recentFailed: 0, recentRateLimited: 0 });
const schedule = (candidates, slots, roots = []) => ({
  candidates, slots, roots, capacity: slots.reduce((n, s) => n + s.free, 0), queuedTotal: candidates.length, nowMs: 0n,
});
const started = (host, input) => host.run(() => scheduler.select(input)).map((a) => a.jobId);

test('a big tree shares the slots with a small one', () => {
  const input = schedule([...tree('big', ['b1', 'b2', 'b3']), ...tree('small', ['s1'])], [slot(0, 1), slot(1, 1)]);
  assert.deepEqual(started(new TestHost(), input), ['b1', 's1']);
});

test('priority comes before fairness', () => {
  const candidates = [...tree('big', ['b1', 'b2']), ...tree('small', ['s1'])];
  candidates[1].job.priority = 5;
  assert.deepEqual(started(new TestHost(), schedule(candidates, [slot(0, 1)])), ['b2']);
});

test('max-per-root caps a tree, counting what already runs', () => {
  const input = schedule(tree('big', ['b1', 'b2', 'b3']), [slot(0, 4)], [{ rootId: 'big', running: 1 }]);
  const host = new TestHost({ config: { 'max-per-root': '2' } });
  assert.deepEqual(started(host, input), ['b1']);
  assert.equal(host.logs[0].fields.started, '1');
});

test('a bad cap is an error naming the key', () => {
  const input = schedule(tree('big', ['b1']), [slot(0, 1)]);
  assert.throws(() => started(new TestHost({ config: { 'max-per-root': 'eight' } }), input), ConfigError);
  assert.throws(() => started(new TestHost({ config: { 'max-per-root': 'eight' } }), input), /config key `max-per-root`: "eight"/);
});
