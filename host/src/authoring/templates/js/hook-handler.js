// {{name}}: a ringmaster hook handler. It sees lifecycle events (which ones:
// `events` in the manifest's config) and may deny or rewrite them.

import { config, log, response } from '../sdk/ringmaster-plugin.js';

export const hookHandler = {
  events() {
    return config.list('events', ['JobSubmit']);
  },

  // Denies a job whose prompt is longer than `max-prompt-bytes`.
  handle(event) {
    const limit = config.int('max-prompt-bytes', 100_000);
    const job = event.job;
    if (job !== undefined && job.promptBytes > limit) {
      log.info('denied a long prompt', { job: job.id, bytes: job.promptBytes });
      return response.deny(`the prompt has ${job.promptBytes} bytes; this project allows ${limit}`);
    }
    return response.pass();
  },
};
