import { Injectable } from '@nestjs/common';
import { TaskHandler, TaskQueue, WorkerPoolService } from 'nestjs-queue-scheduler';
import { DataSource } from 'typeorm';
import { BACKENDS, useBackendApp } from './support/backend-app';
import type { DatabaseKind } from './support/databases';
import { waitFor } from './support/wait-for';

/**
 * A durable claim takes no more tasks of a capped type (handler concurrency,
 * rate-limit permits) than it has slots for. It used to mark a whole batch
 * running and give the extras back: while they read `running`, a push of
 * their singleton key queued a second task under it (running does not hold
 * a key), and once they were back there were two pending tasks for the key,
 * both run (multi-instance audit: up to three pending for one key).
 */
jest.setTimeout(60_000);

@Injectable()
class Handlers {
  readonly ran: string[] = [];

  @TaskHandler('one-at-a-time', { concurrency: 1 })
  async oneAtATime(params: { id: string }): Promise<void> {
    this.ran.push(params.id);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }

  @TaskHandler('rated', { rateLimit: { max: 3, perMs: 60_000 } })
  rated(params: { id: string }): void {
    this.ran.push(params.id);
  }
}

/** Counts, by trigger, the rows that went pending → running (claims) and running → pending (given back). */
async function countTransitions(ds: DataSource, kind: DatabaseKind): Promise<() => Promise<{ claimed: number; givenBack: number }>> {
  // the suite's database outlives one test: the probe of the test before goes first
  await ds.query(kind === 'postgres' ? 'DROP TRIGGER IF EXISTS claim_probe_count ON task_queue' : 'DROP TRIGGER IF EXISTS claim_probe_count');
  await ds.query('DROP TABLE IF EXISTS claim_probe');
  await ds.query('CREATE TABLE claim_probe (claimed INTEGER NOT NULL, given_back INTEGER NOT NULL)');
  await ds.query('INSERT INTO claim_probe (claimed, given_back) VALUES (0, 0)');
  const set = "SET claimed = claimed + (CASE WHEN OLD.status = 'pending' AND NEW.status = 'running' THEN 1 ELSE 0 END), given_back = given_back + (CASE WHEN OLD.status = 'running' AND NEW.status = 'pending' THEN 1 ELSE 0 END)";
  if (kind === 'sqlite') {
    await ds.query(`CREATE TRIGGER claim_probe_count AFTER UPDATE ON task_queue BEGIN UPDATE claim_probe ${set}; END`);
  } else if (kind === 'postgres') {
    await ds.query(`CREATE OR REPLACE FUNCTION claim_probe_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE claim_probe ${set}; RETURN NULL; END $$`);
    await ds.query('CREATE TRIGGER claim_probe_count AFTER UPDATE ON task_queue FOR EACH ROW EXECUTE FUNCTION claim_probe_count()');
  } else {
    await ds.query(`CREATE TRIGGER claim_probe_count AFTER UPDATE ON task_queue FOR EACH ROW UPDATE claim_probe ${set}`);
  }
  return async () => {
    const [row] = await ds.query('SELECT claimed, given_back FROM claim_probe');
    return { claimed: Number(row.claimed), givenBack: Number(row.given_back) };
  };
}

describe.each(BACKENDS.filter((b) => b !== 'memory' && b !== 'redis'))('a durable claim within caps, on %s', (backend) => {
  const backendApp = useBackendApp(backend);

  async function boot() {
    const app = await backendApp.boot({ autoStart: false, workers: { concurrency: 4 }, queue: { pollIntervalMs: 50 } }, [Handlers]);
    const transitions = await countTransitions(app.get(DataSource), backend as DatabaseKind);
    return { queue: app.get(TaskQueue), handlers: app.get(Handlers), transitions, start: () => app.get(WorkerPoolService).start() };
  }

  it('marks running only as many tasks of a type with concurrency 1 as it starts, in push order', async () => {
    const { queue, handlers, transitions, start } = await boot();
    const ids = Array.from({ length: 12 }, (_, i) => `c${i}`);
    await queue.pushTasks(ids.map((id) => ({ type: 'one-at-a-time', params: { id } })));
    start();
    await waitFor(async () => (await queue.countByStatus()).succeeded === ids.length, 'the capped drain');
    expect(handlers.ran).toEqual(ids);
    // before: each claim of the 4 free slots marked 4 running and gave 3 back
    expect(await transitions()).toEqual({ claimed: ids.length, givenBack: 0 });
  });

  it('marks running only the tasks its rate-limit permits cover, and leaves the rest pending', async () => {
    const { queue, handlers, transitions, start } = await boot();
    const ids = Array.from({ length: 8 }, (_, i) => `r${i}`);
    await queue.pushTasks(ids.map((id) => ({ type: 'rated', params: { id } })));
    start();
    await waitFor(() => handlers.ran.length === 3, 'the window\'s three starts');
    // a few more claims: each finds the window spent and takes nothing
    await waitFor(async () => (await queue.countByStatus()).succeeded === 3, 'the three outcomes');
    expect(handlers.ran).toEqual(ids.slice(0, 3));
    expect(await queue.countByStatus()).toMatchObject({ pending: 5, running: 0 });
    expect(await transitions()).toEqual({ claimed: 3, givenBack: 0 });
  });
});
