// Nest 12 ships as ESM; Jest's CommonJS runtime cannot require it, so those
// packages are compiled to CommonJS by swc like our own TypeScript.
const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
    keepClassNames: true,
  },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};

const base = {
  // two files at a time, but only one that measures time or loads the machine (see the environment)
  testEnvironment: '<rootDir>/test/support/machine-environment.js',
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest', swc] },
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs)/)'],
  moduleNameMapper: {
    '^nestjs-queue-scheduler$': '<rootDir>/libs/queue-scheduler/src',
    '^nestjs-queue-scheduler/(.*)$': '<rootDir>/libs/queue-scheduler/src/$1',
  },
  modulePathIgnorePatterns: ['<rootDir>/libs/queue-scheduler/dist', '<rootDir>/dist'],
};

module.exports = {
  // Jest's default on 2 cores is one worker; the second runs the @shares-machine suites beside the others
  maxWorkers: 2,
  // A worker keeps what every test file it ran leaves behind (Nest apps, drivers, transforms: 765 MB of heap after 60
  // unit files in one process): Jest starts a fresh worker between files once one holds more than this. (A file's
  // reported time includes its wait for the machine lock, see test/support/machine-environment.js: a unit file of
  // 0.7 s read 103 s in a CI run, and the 843 s once blamed on a long-lived worker was such a wait.)
  workerIdleMemoryLimit: '1GB',
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/libs/**/src/**/*.spec.ts'] },
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/test/**/*.spec.ts'], testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/reliability/'] },
    { ...base, displayName: 'reliability', testMatch: ['<rootDir>/test/reliability/**/*.spec.ts'] },
    { ...base, displayName: 'demo', testMatch: ['<rootDir>/apps/**/*.spec.ts'] },
  ],
};
