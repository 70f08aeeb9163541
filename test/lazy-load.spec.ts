import { runJsonChild } from './support/json-child';

interface Loaded {
  redisBackend: boolean;
  databaseBackend: boolean;
  cronParser: boolean;
}

describe('what an app loads (memory footprint)', () => {
  it('an app on the embedded default loads neither backend it does not run (redis, database) nor cron-parser until a cron expression needs it', async () => {
    const { afterImport, afterInterval, afterCron } = await runJsonChild<{ afterImport: Loaded; afterInterval: Loaded; afterCron: Loaded }>('lazy-load-process.ts');
    expect(afterImport).toEqual({ redisBackend: false, databaseBackend: false, cronParser: false });
    // an interval schedule's occurrence ran: the scheduler's whole path, still without either
    expect(afterInterval).toEqual({ redisBackend: false, databaseBackend: false, cronParser: false });
    expect(afterCron).toEqual({ redisBackend: false, databaseBackend: false, cronParser: true });
  }, 60_000);
});
