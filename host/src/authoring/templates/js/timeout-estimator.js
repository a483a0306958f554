// {{name}}: a ringmaster timeout estimator. It decides how long the next
// attempt of a job may run, and how long it may stay silent.

import { config } from '../sdk/ringmaster-plugin.js';

export const timeoutEstimator = {
  // Twice (`factor`) the slowest typical run of the most similar jobs, once
  // there are `min-samples` of them; the host's answer before that.
  // Milliseconds are BigInts (u64).
  estimate(job, similar, requestedMs, fallback) {
    if (requestedMs !== undefined) return fallback;
    const factor = config.number('factor', 2.0);
    const minSamples = config.int('min-samples', 5);
    const groups = [...similar.byTag.map(([, history]) => history), similar.byModel, similar.byAgent,
      similar.byPromptSize, similar.overall];
    const history = groups.find((group) => group.count >= minSamples);
    if (history === undefined) return fallback;
    const hardMs = BigInt(Math.floor(Number(history.p95Ms) * factor));
    return { hardMs, idleMs: fallback.idleMs < hardMs ? fallback.idleMs : hardMs };
  },
};
