// `node --import ./sdk/register-test-host.js --test`: plugin tests import the
// contract's host interface from `test-host.js`.
import { register } from 'node:module';

register('./test-host.js', import.meta.url);
