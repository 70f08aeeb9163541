/**
 * Runs one benchmark in this process (started by run.ts, one process per
 * benchmark so heaps and timers never leak from one into the next).
 */
import 'reflect-metadata';
import { Recorder } from './lib/result';

async function main(): Promise<void> {
  const name = process.argv[2];
  const mod = (await import(`./${name}`)) as { run(rec: Recorder): Promise<void> };
  const rec = new Recorder(name);
  await mod.run(rec);
  rec.write();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
