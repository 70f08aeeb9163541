import { join } from 'node:path';
import { useTestDatabase } from './support/databases';
import { startInstance, stopAll, waitReady } from './support/processes';
import { REDIS } from './support/redis';

jest.setTimeout(60_000);

/** bullmq and ioredis are optional peers: only queue.backend 'redis' loads them. */
describe('redis backend packages', () => {
  const db = useTestDatabase('sqlite');
  const hide = (packages: string) => ({ NODE_OPTIONS: `--require ${join(__dirname, 'support', 'hide-packages.js')}`, QS_HIDE_PACKAGES: packages });

  beforeAll(async () => {
    // the instance script expects the library's tables
    const { DataSource } = await import('typeorm');
    const { QUEUE_SCHEDULER_ENTITIES } = await import('nestjs-queue-scheduler');
    const ds = await new DataSource({ ...db.options, entities: QUEUE_SCHEDULER_ENTITIES, synchronize: true } as never).initialize();
    await ds.destroy();
  });

  it.each(['bullmq', 'ioredis'])("without '%s' installed, start-up on the redis backend stops with an error naming it", async (missing) => {
    const instance = startInstance(db.options, { queue: { backend: 'redis', connection: REDIS, prefix: 'qs-missing' } }, { env: hide(missing) });
    expect(await instance.exited).toBe(1);
    const stderr = instance.stderr.join('\n');
    expect(stderr).toContain('MissingPackageError');
    expect(stderr).toContain(`queue.backend 'redis' needs the package '${missing}', which is not installed: run npm install bullmq ioredis`);
  });

  it('an app on the database backend starts and runs without bullmq or ioredis (they are never loaded)', async () => {
    const instance = startInstance(db.options, { queue: { backend: 'database' } }, { env: hide('bullmq,ioredis') });
    await waitReady([instance]);
    await stopAll([instance]);
    // Nest's shutdown hook closes the app, then re-raises SIGTERM
    expect(instance.child.signalCode).toBe('SIGTERM');
    expect(instance.stderr).toEqual([]);
  });
});
