// The host functions for plugin tests run natively with Node: imported in
// place of `ringmaster:plugin/host@0.1.0` (see `register-test-host.js`).
//
//   const test = new TestHost({ config: { 'max-per-root': '2' } });
//   const chosen = test.run(() => scheduler.select(input));
//   assert.equal(test.logs[0].fields.started, '1');

let current;

export class TestHost {
  constructor({ config = {}, nowMs = 1_700_000_000_000n } = {}) {
    this.config = { ...config };
    this.nowMs = BigInt(nowMs);
    this.logs = [];
  }

  // Runs `fn` with this host answering the host functions.
  run(fn) {
    const previous = current;
    current = this;
    try {
      return fn();
    } finally {
      current = previous;
    }
  }
}

function host() {
  if (current === undefined) throw new Error('a host function was called outside TestHost.run');
  return current;
}

export function configGet(key) {
  return Object.hasOwn(host().config, key) ? host().config[key] : undefined;
}

export function configAll() {
  return Object.entries(host().config).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function nowMs() {
  return host().nowMs;
}

export function log(level, message, fields) {
  host().logs.push({ level, message, fields: Object.fromEntries(fields) });
}

// Module resolution hook (registered by `register-test-host.js`): the
// contract's host interface resolves to this file.
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('ringmaster:plugin/host@')) {
    return { url: import.meta.url, shortCircuit: true };
  }
  return next(specifier, context);
}
