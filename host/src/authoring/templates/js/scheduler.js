// {{name}}: a ringmaster scheduler. It decides which queued jobs start now,
// and on which token slot.

import { FreeSlots, config, log } from '../sdk/ringmaster-plugin.js';

export const scheduler = {
  // Orders the queue: by priority (the host breaks ties by submission time).
  rank(jobs) {
    return jobs.map((job) => BigInt(job.priority));
  },

  // The best-ranked candidates, at most `max-starts` per round.
  select(input) {
    const maxStarts = config.int('max-starts', input.candidates.length);
    const slots = new FreeSlots(input.slots);
    const chosen = [];
    for (const candidate of input.candidates.slice(0, maxStarts)) {
      const slot = slots.take();
      if (slot === undefined || chosen.length === input.capacity) break;
      chosen.push({ jobId: candidate.job.id, slot });
    }
    log.debug('selected', { started: chosen.length, queued: input.queuedTotal });
    return chosen;
  },
};
