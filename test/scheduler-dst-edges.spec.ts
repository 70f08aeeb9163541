/**
 * Issue 21 end to end: the DST edge cases through the real scheduler (SchedulerService, its claims and the
 * memory queue) with its rows on SQLite, MariaDB and PostgreSQL, driven by the testing module's virtual
 * clock so a DST night takes milliseconds. Compared are the occurrences the scheduler pushed (scheduledAt of
 * the runs), each run at its own virtual time. The maths is shared by every backend: these pin that the
 * claim loop applies it as the unit tests in scheduler/math/schedule-math.spec.ts state it.
 */
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QUEUE_SCHEDULER_ENTITIES, SchedulerService, TaskHandler } from 'nestjs-queue-scheduler';
import { QueueSchedulerTester, QueueSchedulerTestingModule } from 'nestjs-queue-scheduler/testing';
import { DATABASES, useTestDatabase } from './support/databases';

jest.setTimeout(60_000);

@Injectable()
class Noop {
  @TaskHandler('edge')
  run(): void {}
}

interface Edge {
  name: string;
  timezone: string;
  cron: string;
  /** where the virtual clock starts, and so when the schedule is created */
  from: string;
  to: string;
  expected: string[];
}

const EDGES: Edge[] = [
  // Chatham 2026-09-27 02:45 +12:45 -> 03:45 +13:45 (14:00Z on the 26th): the skipped 03:00-03:30 add nothing
  {
    name: 'Chatham */15 3: only 03:45 on the jump day, never 04:00-04:30',
    timezone: 'Pacific/Chatham', cron: '*/15 3 * * *', from: '2026-09-26T12:00:00Z', to: '2026-09-27T13:50:00Z',
    expected: ['2026-09-26T14:00:00.000Z', '2026-09-27T13:15:00.000Z', '2026-09-27T13:30:00.000Z', '2026-09-27T13:45:00.000Z'],
  },
  {
    name: 'Chatham */15 2-3: 02:00, 02:15, 02:30 CHAST, then 03:45 CHADT',
    timezone: 'Pacific/Chatham', cron: '*/15 2-3 * * *', from: '2026-09-26T12:00:00Z', to: '2026-09-26T15:00:00Z',
    expected: ['2026-09-26T13:15:00.000Z', '2026-09-26T13:30:00.000Z', '2026-09-26T13:45:00.000Z', '2026-09-26T14:00:00.000Z'],
  },
  // Lord Howe 2026-10-04 02:00 +10:30 -> 02:30 +11 (15:30Z on the 3rd): even 20-minute spacing, nothing at 02:30/02:50
  {
    name: 'Lord Howe */20 2-3: 02:40, 03:00, 03:20, 03:40 LHDT',
    timezone: 'Australia/Lord_Howe', cron: '*/20 2-3 * * *', from: '2026-10-03T12:00:00Z', to: '2026-10-03T18:00:00Z',
    expected: ['2026-10-03T15:40:00.000Z', '2026-10-03T16:00:00.000Z', '2026-10-03T16:20:00.000Z', '2026-10-03T16:40:00.000Z'],
  },
  // Berlin 2026-03-29 02:00 CET -> 03:00 CEST: a day whose only time is skipped runs once, at the jump
  {
    name: 'Berlin 30 2: 03:00 CEST on the jump day',
    timezone: 'Europe/Berlin', cron: '30 2 * * *', from: '2026-03-28T12:00:00Z', to: '2026-03-30T12:00:00Z',
    expected: ['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z'],
  },
  // New York 2025-11-02 02:00 EDT -> 01:00 EST (06:00Z): created at 01:30:45 EST, on the second pass
  {
    name: 'New York 0 15,45 1 * * SUN-TUE created at 01:30:45 EST: 01:45 EST that night, then Monday and Tuesday',
    timezone: 'America/New_York', cron: '0 15,45 1 * * SUN-TUE', from: '2025-11-02T06:30:45Z', to: '2025-11-05T12:00:00Z',
    expected: ['2025-11-02T06:45:00.000Z', '2025-11-03T06:15:00.000Z', '2025-11-03T06:45:00.000Z', '2025-11-04T06:15:00.000Z', '2025-11-04T06:45:00.000Z'],
  },
  // the same schedule, running since the day before: the repeated 01:15 and 01:45 run on their first pass only
  {
    name: 'New York 0 15,45 1 * * SUN-TUE running through the night: first pass only',
    timezone: 'America/New_York', cron: '0 15,45 1 * * SUN-TUE', from: '2025-11-01T12:00:00Z', to: '2025-11-03T12:00:00Z',
    expected: ['2025-11-02T05:15:00.000Z', '2025-11-02T05:45:00.000Z', '2025-11-03T06:15:00.000Z', '2025-11-03T06:45:00.000Z'],
  },
];

describe.each(DATABASES)('DST edges through the scheduler on %s', (kind) => {
  const db = useTestDatabase(kind);
  let moduleRef: TestingModule | undefined;

  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
  });

  it.each(EDGES)('$name', async ({ timezone, cron, from, to, expected }) => {
    moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...db.options, name: 'dst-edges', entities: QUEUE_SCHEDULER_ENTITIES, synchronize: true, dropSchema: true, logging: false }),
        QueueSchedulerTestingModule.forRoot({ startAt: new Date(from), dataSource: 'dst-edges' }),
      ],
      providers: [Noop],
    }).compile();
    await moduleRef.init();
    const scheduler = moduleRef.get(SchedulerService);
    const tester = moduleRef.get(QueueSchedulerTester);
    const row = await scheduler.addSchedule({ name: cron, taskType: 'edge', scheduleType: 'cron', cronExpression: cron, timezone });
    expect(row.nextRunAt?.toISOString()).toBe(expected[0]);
    await tester.advanceTo(new Date(to));
    const runs = tester.runs('edge');
    expect(runs.map((r) => r.scheduledAt!.toISOString())).toEqual(expected);
    for (const r of runs) expect(r.at.getTime()).toBe(r.scheduledAt!.getTime()); // on time, not at the end of the advance
    expect((await scheduler.getSchedule(row.taskId)).runCount).toBe(expected.length);
  });
});
