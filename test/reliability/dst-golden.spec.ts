/**
 * Scenario 5, the DST golden table, end to end: schedules added through
 * SchedulerService, time driven by the testing module's virtual clock, and
 * compared are the occurrences the scheduler actually pushed (scheduledAt
 * of the tasks that ran). Expected instants are written out in UTC. `npm test`
 * runs this file under the process zone of the machine and again under
 * TZ=Europe/Berlin: the process zone must change nothing.
 *
 * Transitions: Europe/Berlin 2026-03-29 02:00 CET → 03:00 CEST (01:00Z) and
 * 2026-10-25 03:00 CEST → 02:00 CET (01:00Z); America/New_York 2026-03-08
 * 02:00 EST → 03:00 EDT (07:00Z) and 2026-11-01 02:00 EDT → 01:00 EST (06:00Z).
 */
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { SchedulerService, TaskHandler } from 'nestjs-queue-scheduler';
import { QueueSchedulerTester, QueueSchedulerTestingModule } from 'nestjs-queue-scheduler/testing';

@Injectable()
class Noop {
  @TaskHandler('dst')
  run(): void {}
}

interface Golden {
  name: string;
  timezone: string;
  from: string;
  to: string;
  /** schedule → its occurrences in (from, to], as UTC instants */
  expected: Record<string, string[]>;
}

/** Fixed-hour jobs over three days around each transition. */
const DAILY: Golden[] = [
  {
    name: 'Berlin spring-forward', timezone: 'Europe/Berlin', from: '2026-03-27T13:00:00Z', to: '2026-03-30T13:00:00Z',
    expected: {
      // 02:30 does not exist on 03-29 and is the day's only time: it runs at the jump, 03:00 CEST, the first valid time
      '30 2 * * *': ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z'],
      '30 1 * * *': ['2026-03-28T00:30:00.000Z', '2026-03-29T00:30:00.000Z', '2026-03-29T23:30:00.000Z'],
    },
  },
  {
    name: 'Berlin fall-back', timezone: 'Europe/Berlin', from: '2026-10-23T13:00:00Z', to: '2026-10-26T13:00:00Z',
    expected: {
      // 02:30 happens twice on 10-25 (00:30Z CEST, 01:30Z CET): it runs on the first pass only
      '30 2 * * *': ['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z'],
      '30 1 * * *': ['2026-10-23T23:30:00.000Z', '2026-10-24T23:30:00.000Z', '2026-10-26T00:30:00.000Z'],
    },
  },
  {
    name: 'New York spring-forward', timezone: 'America/New_York', from: '2026-03-06T19:00:00Z', to: '2026-03-09T19:00:00Z',
    expected: {
      // 02:30 does not exist on 03-08: at the jump, 03:00 EDT
      '30 2 * * *': ['2026-03-07T07:30:00.000Z', '2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z'],
      '30 1 * * *': ['2026-03-07T06:30:00.000Z', '2026-03-08T06:30:00.000Z', '2026-03-09T05:30:00.000Z'],
    },
  },
  {
    name: 'New York fall-back', timezone: 'America/New_York', from: '2026-10-30T18:00:00Z', to: '2026-11-02T18:00:00Z',
    expected: {
      '30 2 * * *': ['2026-10-31T06:30:00.000Z', '2026-11-01T07:30:00.000Z', '2026-11-02T07:30:00.000Z'],
      // 01:30 happens twice on 11-01 (05:30Z EDT, 06:30Z EST): first pass only
      '30 1 * * *': ['2026-10-31T05:30:00.000Z', '2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z'],
    },
  },
];

/** Wildcard-hour jobs and a 30-minute interval from 61 min before each transition to 60 min after: once per real slot. */
const SUB_DAILY: Golden[] = [
  {
    name: 'Berlin spring-forward', timezone: 'Europe/Berlin', from: '2026-03-28T23:59:00Z', to: '2026-03-29T02:00:00Z',
    expected: {
      '0 * * * *': ['2026-03-29T00:00:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-29T02:00:00.000Z'],
      '*/15 * * * *': [
        '2026-03-29T00:00:00.000Z', '2026-03-29T00:15:00.000Z', '2026-03-29T00:30:00.000Z', '2026-03-29T00:45:00.000Z',
        '2026-03-29T01:00:00.000Z', '2026-03-29T01:15:00.000Z', '2026-03-29T01:30:00.000Z', '2026-03-29T01:45:00.000Z',
        '2026-03-29T02:00:00.000Z',
      ],
      'interval 1800': ['2026-03-29T00:29:00.000Z', '2026-03-29T00:59:00.000Z', '2026-03-29T01:29:00.000Z', '2026-03-29T01:59:00.000Z'],
    },
  },
  {
    name: 'Berlin fall-back', timezone: 'Europe/Berlin', from: '2026-10-24T23:59:00Z', to: '2026-10-25T02:00:00Z',
    expected: {
      // 00:00Z is 02:00 CEST and 01:00Z is 02:00 CET: the repeated wall hour runs in both real hours
      '0 * * * *': ['2026-10-25T00:00:00.000Z', '2026-10-25T01:00:00.000Z', '2026-10-25T02:00:00.000Z'],
      '*/15 * * * *': [
        '2026-10-25T00:00:00.000Z', '2026-10-25T00:15:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-25T00:45:00.000Z',
        '2026-10-25T01:00:00.000Z', '2026-10-25T01:15:00.000Z', '2026-10-25T01:30:00.000Z', '2026-10-25T01:45:00.000Z',
        '2026-10-25T02:00:00.000Z',
      ],
      'interval 1800': ['2026-10-25T00:29:00.000Z', '2026-10-25T00:59:00.000Z', '2026-10-25T01:29:00.000Z', '2026-10-25T01:59:00.000Z'],
    },
  },
  {
    name: 'New York spring-forward', timezone: 'America/New_York', from: '2026-03-08T05:59:00Z', to: '2026-03-08T08:00:00Z',
    expected: {
      '0 * * * *': ['2026-03-08T06:00:00.000Z', '2026-03-08T07:00:00.000Z', '2026-03-08T08:00:00.000Z'],
      '*/15 * * * *': [
        '2026-03-08T06:00:00.000Z', '2026-03-08T06:15:00.000Z', '2026-03-08T06:30:00.000Z', '2026-03-08T06:45:00.000Z',
        '2026-03-08T07:00:00.000Z', '2026-03-08T07:15:00.000Z', '2026-03-08T07:30:00.000Z', '2026-03-08T07:45:00.000Z',
        '2026-03-08T08:00:00.000Z',
      ],
      'interval 1800': ['2026-03-08T06:29:00.000Z', '2026-03-08T06:59:00.000Z', '2026-03-08T07:29:00.000Z', '2026-03-08T07:59:00.000Z'],
    },
  },
  {
    name: 'New York fall-back', timezone: 'America/New_York', from: '2026-11-01T04:59:00Z', to: '2026-11-01T07:00:00Z',
    expected: {
      '0 * * * *': ['2026-11-01T05:00:00.000Z', '2026-11-01T06:00:00.000Z', '2026-11-01T07:00:00.000Z'],
      '*/15 * * * *': [
        '2026-11-01T05:00:00.000Z', '2026-11-01T05:15:00.000Z', '2026-11-01T05:30:00.000Z', '2026-11-01T05:45:00.000Z',
        '2026-11-01T06:00:00.000Z', '2026-11-01T06:15:00.000Z', '2026-11-01T06:30:00.000Z', '2026-11-01T06:45:00.000Z',
        '2026-11-01T07:00:00.000Z',
      ],
      'interval 1800': ['2026-11-01T05:29:00.000Z', '2026-11-01T05:59:00.000Z', '2026-11-01T06:29:00.000Z', '2026-11-01T06:59:00.000Z'],
    },
  },
];

describe(`DST golden table, end to end (process TZ=${process.env.TZ ?? 'unset'})`, () => {
  let moduleRef: TestingModule | undefined;
  afterEach(() => moduleRef?.close());

  it.each([...DAILY.map((g) => ['fixed-hour', g] as const), ...SUB_DAILY.map((g) => ['wildcard and interval', g] as const)])(
    '%s jobs, %s',
    async (_kind, golden) => {
      moduleRef = await Test.createTestingModule({
        imports: [QueueSchedulerTestingModule.forRoot({ startAt: new Date(golden.from) })],
        providers: [Noop],
      }).compile();
      await moduleRef.init();
      const scheduler = moduleRef.get(SchedulerService);
      const tester = moduleRef.get(QueueSchedulerTester);
      const ids = new Map<string, string>();
      for (const key of Object.keys(golden.expected)) {
        const interval = /^interval (\d+)$/.exec(key);
        const row = await scheduler.addSchedulerTask(
          interval
            ? { name: key, taskType: 'dst', scheduleType: 'interval', intervalSeconds: Number(interval[1]) }
            : { name: key, taskType: 'dst', scheduleType: 'cron', cronExpression: key, timezone: golden.timezone },
        );
        ids.set(row.taskId, key);
      }
      await tester.advanceTo(new Date(golden.to));
      const actual: Record<string, string[]> = Object.fromEntries(Object.keys(golden.expected).map((k) => [k, []]));
      for (const run of tester.runs('dst')) {
        actual[ids.get(run.schedulerTaskId!)!].push(run.scheduledAt!.toISOString());
        // each occurrence ran at its own time, not late and not early
        expect(run.at.getTime()).toBe(run.scheduledAt!.getTime());
      }
      expect(actual).toEqual(golden.expected);
    },
  );
});
