#!/usr/bin/env node
// `npm run test:reliability [-- --long] [jest args]`: the reliability suite, short profile by default.
const { spawnSync } = require('node:child_process');

const args = process.argv.slice(2);
const long = args.includes('--long');
const rest = args.filter((a) => a !== '--long');
const env = { ...process.env, RELIABILITY_PROFILE: long ? 'long' : 'short' };
const jest = require.resolve('jest/bin/jest');
// the long profile's storms take far longer than the short one's; one file at a time keeps the kills apart
// --selectProjects takes every word after it as a project name: it goes last
const run = (extraEnv, jestArgs) => spawnSync(process.execPath, [jest, ...jestArgs, ...rest, ...(long ? ['--runInBand'] : []), '--selectProjects', 'reliability'], {
  stdio: 'inherit',
  env: { ...env, ...extraEnv },
});
let status = run({}, []).status ?? 1;
// the DST golden table holds under any process time zone: run it again under Berlin's
if (status === 0) status = run({ TZ: 'Europe/Berlin' }, ['test/reliability/dst-golden']).status ?? 1;
process.exit(status);
