import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { type AddSchedulerTaskInput, type FlowIds, SchedulerService, type SchedulerTask, TaskQueue } from 'nestjs-queue-scheduler';
import { COOKIE_KEY } from '../handlers/audio.handlers';
import { pipelineFlow } from '../pipelines/pipeline-flow';

/** The seed system's jobs, written as a user of the library would. */
function seedSchedules(now: number): AddSchedulerTaskInput[] {
  return [
    {
      name: 'download playlist every 15 s',
      taskType: 'download_audio',
      scheduleType: 'interval',
      intervalSeconds: 15,
      params: { url: 'https://www.bilibili.com/audio/au1234567', savePath: 'data/music/au1234567.m4a' },
      description: 'interval: fixed rate, anchored on the previous scheduled time',
    },
    {
      name: 'convert new downloads (cron, every 30 s)',
      taskType: 'convert_format',
      scheduleType: 'cron',
      cronExpression: '*/30 * * * * *',
      timezone: 'Asia/Shanghai',
      params: { file: 'data/music/au1234567.m4a', format: 'mp3' },
      description: 'cron with a seconds field, read in Asia/Shanghai',
    },
    {
      name: 'welcome download (once, 20 s after first start)',
      taskType: 'download_audio',
      scheduleType: 'once',
      executeAt: new Date(now + 20_000),
      params: { url: 'https://www.bilibili.com/audio/au7654321', savePath: 'data/music/welcome.m4a' },
      description: 'once: fires at executeAt, then disables itself',
    },
  ];
}

/**
 * Creates the demo's schedules at boot, each only if no schedule with its
 * name exists yet: they are rows in the database, so a restart must not add
 * them again. (Two instances booting at the same moment on one database
 * could still both create one; the library has no create-if-absent.)
 */
@Injectable()
export class DemoSeedService implements OnApplicationBootstrap {
  /** What was set up at boot, one line each, for main.ts's banner. */
  readonly report: string[] = [];
  /** The ids of the pipeline pushed at boot (the dashboard's detail of its root shows the tree). */
  bootPipeline?: FlowIds;

  constructor(
    private readonly scheduler: SchedulerService,
    private readonly queue: TaskQueue,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // The download handler reads this on every try; it is gone an hour after boot, and downloads fall back to guest quality.
    await this.queue.setPublic(COOKIE_KEY, 'SESSDATA=demo-session; bili_jct=demo', 3600);
    this.report.push(`public store: ${COOKIE_KEY} (expires in 3600 s)`);

    const existing = new Map((await this.scheduler.listSchedules()).map((s) => [s.name, s]));
    for (const input of seedSchedules(Date.now())) {
      const found = existing.get(input.name);
      const row = found ?? (await this.scheduler.addSchedule(input));
      this.report.push(`${found ? 'kept   ' : 'created'} schedule ${describe(row)}`);
    }

    // The seed's pipeline as a flow: the convert waits for both downloads and reads their files (see pipelineFlow).
    this.bootPipeline = await this.queue.pushFlow(
      pipelineFlow({
        file: 'data/music/intro.m4a',
        format: 'flac',
        downloads: [
          { url: 'https://www.bilibili.com/audio/au1000001', savePath: 'data/music/intro-1.m4a' },
          { url: 'https://www.bilibili.com/audio/au1000002', savePath: 'data/music/intro-2.m4a' },
        ],
      }),
    );
    const [a, b] = this.bootPipeline.children.map((c) => c.taskId);
    this.report.push(`pushed pipeline ${this.bootPipeline.taskId} (convert_format once downloads ${a} and ${b} succeed)`);
  }
}

function describe(row: SchedulerTask): string {
  const timing =
    row.scheduleType === 'interval'
      ? `every ${row.intervalSeconds} s`
      : row.scheduleType === 'cron'
        ? `cron '${row.cronExpression}' ${row.timezone ?? 'UTC'}`
        : `once at ${row.executeAt?.toISOString()}`;
  const next = row.nextRunAt ? `next ${row.nextRunAt.toISOString()}` : row.enabled ? 'no next run' : 'paused/finished';
  return `'${row.name}' ${row.taskId} → ${row.taskType}, ${timing}, ${next}, ${row.runCount} run(s)`;
}
