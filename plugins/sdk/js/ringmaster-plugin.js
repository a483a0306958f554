// Helpers for ringmaster plugins written in JavaScript (built with
// componentize-js), as the Rust SDK offers them:
//
// * `config.int("max-per-root")`, `config.number`, `config.string`,
//   `config.list("events", ["JobSubmit"])`: typed configuration, the default
//   (or `undefined`) when unset, a `ConfigError` naming the key when a value
//   does not parse;
// * `log.debug(message, { key: value })` and `info`, `warn`, `error`;
// * `FreeSlots`: room on the token slots, handed out one job at a time;
// * `response.pass()`, `allow`, `deny`, `ask`: hook responses.
//
// The contract's types are plain objects with camelCase fields; 64-bit
// integers (`u64`, `s64`) are BigInts. An exception thrown by a plugin
// function traps the call; the host reports it and falls back to its
// built-in behaviour. Tests run natively with `node --import
// ./sdk/register-test-host.js --test` (see `test-host.js`).

import { configAll, configGet, log as hostLog, nowMs as hostNowMs } from 'ringmaster:plugin/host@0.1.0';

export class ConfigError extends Error {}

function parsed(key, fallback, expected, parse) {
  const value = configGet(key);
  if (value === undefined) return fallback;
  const result = parse(value.trim());
  if (result === undefined) {
    throw new ConfigError(`config key \`${key}\`: ${JSON.stringify(value)} is not a valid ${expected}`);
  }
  return result;
}

export const config = {
  string(key, fallback = undefined) {
    return parsed(key, fallback, 'string', (value) => value);
  },
  int(key, fallback = undefined) {
    return parsed(key, fallback, 'integer', (value) => (/^[+-]?\d+$/.test(value) ? Number.parseInt(value, 10) : undefined));
  },
  number(key, fallback = undefined) {
    return parsed(key, fallback, 'number', (value) => (value !== '' && Number.isFinite(Number(value)) ? Number(value) : undefined));
  },
  // Comma-separated items or one per line (trimmed, blanks dropped).
  list(key, fallback = []) {
    const value = configGet(key);
    if (value === undefined) return [...fallback];
    return value.split(/[,\n]/).map((item) => item.trim()).filter((item) => item !== '');
  },
  // Every key and value, sorted by key.
  all() {
    return configAll();
  },
};

// Wall-clock time, milliseconds since the Unix epoch (a Number).
export function nowMs() {
  return Number(hostNowMs());
}

function logAt(level) {
  return (message, fields = {}) => hostLog(level, message, Object.entries(fields).map(([k, v]) => [k, String(v)]));
}

export const log = { debug: logAt('debug'), info: logAt('info'), warn: logAt('warn'), error: logAt('error') };

// The room left on the slots that may take a job now (free, not cooling down).
export class FreeSlots {
  constructor(slots) {
    this.room = slots.filter((s) => s.free > 0 && s.coolingUntilMs === undefined).map((s) => [s.index, s.free]);
  }

  // Room for one job on the slot with the most (the lowest index on a tie), or undefined.
  take() {
    let best;
    for (const entry of this.room) {
      if (entry[1] > 0 && (best === undefined || entry[1] > best[1] || (entry[1] === best[1] && entry[0] < best[0]))) {
        best = entry;
      }
    }
    if (best === undefined) return undefined;
    best[1] -= 1;
    return best[0];
  }

  // Jobs that may still start on these slots.
  total() {
    return this.room.reduce((sum, [, room]) => sum + room, 0);
  }
}

function respond(permission, reason) {
  return { permission, reason, updatedInputJson: undefined, additionalContext: undefined };
}

export const response = {
  // No opinion: the event goes on as if the plugin were not there.
  pass: () => respond('none', undefined),
  allow: (reason = undefined) => respond('allow', reason),
  deny: (reason) => respond('deny', reason),
  ask: (reason) => respond('ask', reason),
};
