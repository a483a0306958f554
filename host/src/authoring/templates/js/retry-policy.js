// {{name}}: a ringmaster retry policy. It decides whether and when a failed
// attempt runs again.

import { config } from '../sdk/ringmaster-plugin.js';

export const retryPolicy = {
  // Waits `delay-ms` times the attempt number, resuming the agent's session;
  // gives up on failures listed in `give-up-on`. Milliseconds are BigInts.
  decide(job, attempt, maxRetries, failure) {
    if (attempt > maxRetries || config.list('give-up-on', ['could-not-start']).includes(failure.kind)) {
      return { tag: 'give-up', val: `${failure.kind}: ${failure.message}` };
    }
    const delayMs = BigInt(config.int('delay-ms', 5_000)) * BigInt(attempt);
    const resumeSession = failure.hasSession && failure.kind !== 'agent-error';
    return { tag: 'retry', val: { delayMs, resumeSession, priority: undefined, timeoutMs: undefined } };
  },
};
