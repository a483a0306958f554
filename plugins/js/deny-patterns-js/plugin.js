// Hook handler, in JavaScript: denies jobs and tool calls whose input
// contains one of the configured patterns (case-insensitive substrings),
// e.g. destructive shell commands or production hostnames. The same
// decisions as `plugins/deny-patterns` (a test holds them to it).
//
// Config: `patterns` (one per line), `events` (comma-separated; default
// `JobSubmit,PreToolUse`).

import { config, log, response } from '../../sdk/js/ringmaster-plugin.js';

export const hookHandler = {
  events() {
    return config.list('events', ['JobSubmit', 'PreToolUse']);
  },

  handle(event) {
    const payload = event.payloadJson.toLowerCase();
    // One per line: a pattern may contain commas.
    const patterns = config.string('patterns', '').split('\n').map((p) => p.trim()).filter((p) => p !== '');
    const hit = patterns.find((pattern) => payload.includes(pattern.toLowerCase()));
    if (hit === undefined) return response.pass();
    log.info('denied', { event: event.name, pattern: hit });
    return response.deny(`input matches the denied pattern ${JSON.stringify(hit)}`);
  },
};
