import { DemoSeedService } from '../src/seed/demo-seed.service';
import { messageOf, useDemoApp, waitFor } from './support/demo-app';

jest.setTimeout(30_000);

const demo = useDemoApp();

interface Ids {
  taskId: string;
  children: Ids[];
}

const part = (n: number, extra: Record<string, unknown> = {}) => ({ url: `https://www.bilibili.com/audio/au${n}`, savePath: `data/music/part-${n}.m4a`, simulateMs: 30, ...extra });

async function pushPipeline(body: object): Promise<Ids> {
  return (await demo.http().post('/api/pipelines').send(body).expect(202)).body as Ids;
}

const task = async (id: string) => (await demo.http().get(`/api/tasks/${id}`).expect(200)).body;

async function settled(taskId: string) {
  const res = await waitFor(
    () => demo.http().get(`/api/tasks/${taskId}`),
    (r) => r.status === 200 && ['succeeded', 'dead', 'cancelled'].includes(r.body.status),
    `task ${taskId} to finish`,
  );
  return res.body;
}

describe('POST /api/pipelines: download → convert as one flow', () => {
  it('runs the convert once, after every download succeeded, on the files they saved', async () => {
    const ids = await pushPipeline({ file: 'data/music/episode.m4a', format: 'ogg', simulateMs: 10, downloads: [part(1), part(2, { failAttempts: 1 })] });
    expect(ids.children).toHaveLength(2);
    const convert = await settled(ids.taskId);
    const downloads = await Promise.all(ids.children.map((c) => task(c.taskId)));

    expect(convert).toMatchObject({ type: 'convert_format', status: 'succeeded', attempts: 1, result: { output: 'data/music/episode.ogg' } });
    expect([...convert.result.parts].sort()).toEqual(['data/music/part-1.m4a', 'data/music/part-2.m4a']);
    expect(downloads.map((d) => ({ type: d.type, status: d.status, parentId: d.parentId, attempts: d.attempts }))).toEqual([
      { type: 'download_audio', status: 'succeeded', parentId: ids.taskId, attempts: 1 },
      { type: 'download_audio', status: 'succeeded', parentId: ids.taskId, attempts: 2 },
    ]);
    // the convert started only after the later download ended (its retry included)
    const lastDownload = Math.max(...downloads.map((d) => new Date(d.completedAt).getTime()));
    expect(new Date(convert.startedAt).getTime()).toBeGreaterThanOrEqual(lastDownload);
  });

  it('lists the convert under GET /api/tasks?status=waiting while its downloads run', async () => {
    const ids = await pushPipeline({ file: 'data/music/slow.m4a', simulateMs: 10, downloads: [part(5, { simulateMs: 1500 }), part(6, { simulateMs: 1500 })] });
    const waiting = (await demo.http().get('/api/tasks?status=waiting').expect(200)).body as { items: Array<{ taskId: string; status: string }> };
    expect(waiting.items).toContainEqual(expect.objectContaining({ taskId: ids.taskId, status: 'waiting' }));
    expect((await settled(ids.taskId)).status).toBe('succeeded');
  });

  it("shows the tree in the dashboard's task detail", async () => {
    const ids = await pushPipeline({ file: 'data/music/tree.m4a', simulateMs: 10, downloads: [part(3), part(4)] });
    await settled(ids.taskId);
    const detail = (await demo.http().get(`/queues/api/tasks/${ids.taskId}`).expect(200)).body;
    expect(detail.flow).toMatchObject({
      taskId: ids.taskId,
      status: 'succeeded',
      children: ids.children.map((c) => ({ taskId: c.taskId, type: 'download_audio', status: 'succeeded', children: [] })),
    });
  });

  it('makes the convert dead, naming the download, when a download runs out of tries', async () => {
    // download_audio has 3 attempts: failing 3 ends it dead
    const ids = await pushPipeline({ file: 'data/music/broken.m4a', simulateMs: 10, downloads: [part(5), part(6, { failAttempts: 3, simulateMs: 0 })] });
    const convert = await settled(ids.taskId);
    const broken = ids.children[1].taskId;
    expect(convert).toMatchObject({ status: 'dead', attempts: 0 });
    expect(convert.error).toContain(`child task ${broken} (download_audio) is dead`);
    expect((await task(broken)).status).toBe('dead');
  });

  it('refuses a bad pipeline with a 400 naming the field, and pushes nothing', async () => {
    const bad = [
      [{ file: 'x.m4a', downloads: [] }, 'downloads must contain at least 1 elements'],
      [{ file: 'x.m4a', downloads: [{ url: 'u' }] }, 'downloads.0.savePath'],
      [{ file: 'x.m4a', format: 'wma', downloads: [part(7)] }, 'format'],
      [{ downloads: [part(7)] }, 'file'],
      [{ file: 'x.m4a', downloads: [{ ...part(7), extra: 1 }] }, 'downloads.0.property extra should not exist'],
    ] as const;
    for (const [body, field] of bad) {
      const res = await demo.http().post('/api/pipelines').send(body).expect(400);
      expect(messageOf(res.body)).toContain(field);
    }
    // every bad body names x.m4a or part-7: no task of either was stored (the schedules may push others meanwhile)
    const stored = (await demo.http().get('/api/tasks').query({ limit: 500 }).expect(200)).body.items as Array<{ params?: { file?: string; savePath?: string } }>;
    expect(stored.some((t) => t.params?.file === 'data/music/intro.m4a')).toBe(true); // the listing does carry params
    expect(stored.filter((t) => t.params?.file === 'x.m4a' || t.params?.savePath === 'data/music/part-7.m4a')).toEqual([]);
  });
});

describe('the pipeline the app pushes at boot', () => {
  it('is a convert over two downloads, and ends succeeded', async () => {
    const ids = demo.app.get(DemoSeedService).bootPipeline!;
    expect(ids.children).toHaveLength(2);
    const convert = await settled(ids.taskId);
    expect(convert).toMatchObject({ type: 'convert_format', status: 'succeeded', result: { output: 'data/music/intro.flac' } });
    expect([...convert.result.parts].sort()).toEqual(['data/music/intro-1.m4a', 'data/music/intro-2.m4a']);
  });
});
