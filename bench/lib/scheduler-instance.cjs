/**
 * An idle scheduler instance for schedule-scale's CPU and RSS figures, run as
 * an app built for production runs: plain `node` on the library's compiled
 * dist (npm run build:lib), no TypeScript compiler loaded. Boots TypeORM on
 * QS_DB and QueueSchedulerModule with QS_OPTIONS (both JSON), prints
 * `ready` once started and closes on SIGTERM. QS_BASELINE=1 leaves the
 * module out: the same Nest + TypeORM app, for the difference.
 */
'use strict';
require('reflect-metadata');
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { TypeOrmModule } = require('@nestjs/typeorm');
const { QueueSchedulerModule } = require('nestjs-queue-scheduler');

const db = JSON.parse(process.env.QS_DB || '{}');
const options = JSON.parse(process.env.QS_OPTIONS || '{}');

class InstanceModule {}
Module({
  imports: [
    TypeOrmModule.forRoot({ ...db, autoLoadEntities: true, synchronize: false }),
    ...(process.env.QS_BASELINE ? [] : [QueueSchedulerModule.forRoot({ logLevel: 'error', ...options })]),
  ],
})(InstanceModule);

NestFactory.createApplicationContext(InstanceModule, { logger: ['error', 'fatal'] }).then(
  (app) => {
    app.enableShutdownHooks();
    process.stdout.write('ready\n');
  },
  (err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  },
);
