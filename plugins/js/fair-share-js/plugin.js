// Fair-share scheduler, in JavaScript: honours priority, and within a
// priority shares the free capacity evenly between root jobs, so one big tree
// of sub-jobs cannot starve everyone else's work. The same decisions as
// `plugins/fair-share` (a test holds them to it).
//
// Config (manifest `config:`):
// * `max-per-root`: never run more than this many jobs of one tree at once
//   (default: no cap beyond the host's limits).

import { FreeSlots, config, log } from '../../sdk/js/ringmaster-plugin.js';

export const scheduler = {
  // By priority; the host breaks ties by submission time (first in, first out).
  rank(jobs) {
    return jobs.map((job) => BigInt(job.priority));
  },

  select(input) {
    const maxPerRoot = config.int('max-per-root');
    const running = new Map(input.roots.map((root) => [root.rootId, root.running]));
    const load = (job) => running.get(job.rootId) ?? 0;
    const slots = new FreeSlots(input.slots);
    // Candidates arrive best-ranked first; their position breaks ties.
    const pending = input.candidates.map((candidate, order) => ({ order, job: candidate.job }));
    // Highest priority first; within it, the tree running the fewest jobs;
    // then the host's order (rank, then submission time).
    const before = (a, b) =>
      b.job.priority - a.job.priority || load(a.job) - load(b.job) || a.order - b.order;
    const chosen = [];
    while (chosen.length < input.capacity && pending.length > 0) {
      const best = pending.reduce((best, next, i) => (before(next, pending[best]) < 0 ? i : best), 0);
      const { job } = pending.splice(best, 1)[0];
      if (maxPerRoot !== undefined && load(job) >= maxPerRoot) continue;
      const slot = slots.take();
      if (slot === undefined) break;
      running.set(job.rootId, load(job) + 1);
      chosen.push({ jobId: job.id, slot });
    }
    if (chosen.length > 0) {
      log.debug('fair-share selected jobs', { started: chosen.length, queued: input.queuedTotal });
    }
    return chosen;
  },
};
