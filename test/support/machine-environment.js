// Jest's node environment, plus turns on the machine for suites that measure
// time or load it (see jest.config.js: two workers run two files at a time).
//
// Most suites measure time (a start within 50 ms of its time, a rate limit's
// windows, a progress throttle) or load the machine (three worker processes,
// an npm install, a browser). Two of them side by side on a 2-core machine
// make each other's figures wrong, so each holds this lock from before its
// first hook to after its last (the environment's setup and teardown), and
// the two workers take turns. A file whose first docblock says
// `@shares-machine` skips the lock and runs beside whatever holds it: a suite
// that mostly waits on the real clock, uses little CPU and allows hundreds
// of ms. The wait for the lock counts against no test's timeout.
const { join } = require('node:path');
const { TestEnvironment } = require('jest-environment-node');
const { acquireLock } = require('./dir-lock');

const LOCK = join(__dirname, '..', '..', '.tmp', 'machine.lock');
const HOUR = 3_600_000;

class MachineEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.shares = context.docblockPragmas['shares-machine'] !== undefined;
  }

  async setup() {
    await super.setup();
    if (!this.shares) this.release = await acquireLock(LOCK, { timeoutMs: HOUR, staleMs: HOUR });
  }

  async teardown() {
    try {
      await super.teardown();
    } finally {
      this.release?.();
    }
  }
}

module.exports = MachineEnvironment;
