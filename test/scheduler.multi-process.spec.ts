import { QUEUE_SCHEDULER_ENTITIES, QUEUE_SCHEDULER_MIGRATIONS, SchedulerTask } from 'nestjs-queue-scheduler';
import { randomUUID } from 'node:crypto';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { DATABASES, useTestDatabase } from './support/databases';
import { type Instance, startInstance, stopAll, waitReady } from './support/processes';

jest.setTimeout(120_000);

const SERVERS = DATABASES.filter((k) => k !== 'sqlite');
const SCHEDULES = 20;
const RUN_MS = 10_000;

describe.each(SERVERS)('three app instances on one %s database', (kind) => {
  const db = useTestDatabase(kind);
  let instances: Instance[] = [];
  db.beforeDrop(() => stopAll(instances, 'SIGKILL'));

  beforeAll(async () => {
    const ds = await new DataSource({ ...db.options, entities: QUEUE_SCHEDULER_ENTITIES, migrations: QUEUE_SCHEDULER_MIGRATIONS } as DataSourceOptions).initialize();
    await ds.runMigrations();
    const now = Date.now();
    // due from the next whole second, while the instances are still booting: they race from their first look
    const first = Math.ceil((now + 3000) / 1000) * 1000;
    const rows = Array.from({ length: SCHEDULES }, (_, i) =>
      ds.getRepository(SchedulerTask).create({
        taskId: randomUUID(), name: `every second ${i}`, scheduleKey: null, taskType: 'tick', params: { i },
        scheduleType: 'cron', cronExpression: '* * * * * *', timezone: 'UTC', intervalSeconds: null, executeAt: null,
        lastRunAt: null, nextRunAt: new Date(first), runCount: 0, maxRuns: 0, enabled: true, misfirePolicy: 'fire_once',
        priority: 0, description: null, version: 0, createdAt: new Date(now), updatedAt: new Date(now),
      }),
    );
    await ds.getRepository(SchedulerTask).insert(rows);
    await ds.destroy();
  });

  it(`fire each occurrence of ${SCHEDULES} every-second schedules once in total, none missed`, async () => {
    instances = [0, 1, 2].map(() => startInstance(db.options));
    await waitReady(instances);
    await new Promise((r) => setTimeout(r, RUN_MS));
    await stopAll(instances);
    for (const i of instances) expect(i.stderr.filter((l) => /error/i.test(l))).toEqual([]);

    const lines = instances.flatMap((i) => i.lines).map((l) => ({ event: l.event, s: l.s as string, at: l.scheduledAt as number, pid: l.pid as number }));
    // queued and not cancelled: an instance that stops cancels what it queued ahead of its time, and another may queue it again
    const perOccurrence = new Map<string, number>();
    for (const l of lines) if (l.event === 'queued' || l.event === 'cancelled') perOccurrence.set(`${l.s}@${l.at}`, (perOccurrence.get(`${l.s}@${l.at}`) ?? 0) + (l.event === 'queued' ? 1 : -1));
    const duplicates = [...perOccurrence].filter(([, n]) => n > 1);
    expect(duplicates).toEqual([]);
    const cancelledTwice = [...perOccurrence].filter(([, n]) => n < 0);
    expect(cancelledTwice).toEqual([]);
    const kept = new Set([...perOccurrence].filter(([, n]) => n === 1).map(([k]) => k));
    const pushes = lines.filter((l) => l.event === 'queued' && kept.delete(`${l.s}@${l.at}`));

    const bySchedule = new Map<string, number[]>();
    for (const p of pushes) bySchedule.set(p.s, [...(bySchedule.get(p.s) ?? []), p.at]);
    expect(bySchedule.size).toBe(SCHEDULES);
    for (const times of bySchedule.values()) {
      times.sort((a, b) => a - b);
      // every second from the first fire to the last, no gap
      expect(times.slice(1).map((t, i) => t - times[i])).toEqual(times.slice(1).map(() => 1000));
      expect(times.length).toBeGreaterThanOrEqual(RUN_MS / 1000 - 3);
    }
    // the work really was shared: more than one instance fired
    expect(new Set(pushes.map((p) => p.pid)).size).toBeGreaterThan(1);
  });
});
