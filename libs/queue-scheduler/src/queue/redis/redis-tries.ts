import type { Job } from 'bullmq';
import type { InstanceLoad, TaskRecord } from '../../interfaces/task.interface';
import { appendTry, failureOutcome, MAX_TRIES_KEPT, stackOf, storedTries, type StoredTry, triesOf } from '../task-tries';
import type { RedisConnection } from './redis-connection';
import { type JobData, reportedProgress, taskOf, withLastFailure, withSingletonKey } from './redis-jobs';

/**
 * The job data of the tries kept (JobData has no field for them: only this file reads and writes it). `lostBefore`:
 * how many lost tries the list held when retryTask last reset BullMQ's stall count, which counts from 0 again.
 */
type WithTries = JobData & { tries?: StoredTry[]; lostBefore?: number };

const isLost = (t: StoredTry): boolean => t.outcome === 'lost';

/** The instance a lock token names: tokens are `${owner}:${counter}` (RedisConsumer.take). */
const ownerOf = (token: string | null): string | undefined => (token ? token.slice(0, token.lastIndexOf(':')) : undefined);

/**
 * The error BullMQ stores for a failed try: the message within the 8,000
 * characters the other backends keep, and the try's own bounded stack
 * (BullMQ keeps `err.stack`; the last one only, so a task retried for days
 * does not grow a list of them).
 */
export function storedFailure(job: Job, error: Error): Error {
  const failure = new Error(error.message.slice(0, 8000));
  failure.stack = stackOf(error);
  job.opts.stackTraceLimit = 1;
  return failure;
}

/**
 * The job data with the try failing now stored: written only when another try follows, with the runAt update a retry
 * makes anyway. Built on the data as it is now, not as fetched: a lost try of this job stored since (by this instance's
 * stalled check, awaited, or another's) was dropped by the write, and then listed last, without times.
 */
export async function retriedData(redis: RedisConnection, job: Job, owner: string, error: Error, runAt: number, lost: LostTryWrites): Promise<JobData> {
  await lost.written(job.id!);
  const current = await redis.client.hget(redis.queueFor(job.name).toKey(job.id!), 'data');
  const stack = stackOf(error);
  const data = (current ? JSON.parse(current) : job.data) as WithTries;
  const failed: StoredTry = {
    attempt: job.attemptsMade + 1, startedAt: job.processedOn ?? null, finishedAt: Date.now(),
    outcome: failureOutcome(stack), error: error.message.slice(0, 8000), stack, instance: owner,
  };
  return { ...data, runAt, tries: appendTry(storedTries(data.tries), failed) } as WithTries;
}

/**
 * `retryTask` of a dead task: its tries as listed until now (a lost one no instance stored included) are stored with
 * its last try, read from the job, before the count starts again; and how many of them are lost, as the stall count
 * BullMQ's retry resets starts from 0 (keptTries counts the lost tries stored since against it).
 */
export async function storeLastTry(job: Job): Promise<void> {
  const data = job.data as WithTries;
  const stack = job.stacktrace?.at(-1) ?? null;
  let tries = keptTries(job, job.attemptsMade);
  // dead of TaskLostError: the check that found it lost too often ran no handler; its lost tries are stored already
  if (job.processedOn && failureOutcome(stack) !== 'lost') {
    const last: StoredTry = {
      attempt: job.attemptsMade, startedAt: job.processedOn, finishedAt: job.finishedOn ?? null,
      outcome: failureOutcome(stack), error: job.failedReason ?? null, stack, instance: null,
    };
    tries = appendTry(tries, last);
  }
  await job.updateData({ ...data, tries, lostBefore: tries?.filter(isLost).length ?? 0 } as WithTries);
}

/**
 * The lost tries this instance's stalled check is writing, by job id. The pool is woken for the job only once its
 * write is done: a fetch before it made the job's start the new try's (the lost one's was then unknown), and a try
 * ending here first wrote its data back without the lost one.
 */
export class LostTryWrites {
  private readonly pending = new Map<string, Promise<void>>();

  store(redis: RedisConnection, type: string, jobId: string, failed: (err: Error) => void, then: () => void): void {
    const write: Promise<void> = storeLostTry(redis, type, jobId)
      .catch(failed)
      .finally(() => {
        if (this.pending.get(jobId) === write) this.pending.delete(jobId);
        then();
      });
    this.pending.set(jobId, write);
  }

  written(jobId: string): Promise<void> | undefined {
    return this.pending.get(jobId);
  }
}

/**
 * BullMQ's stalled check queued job `jobId` again (at `stalledAt`): its try was
 * lost with its worker. Stored by the one instance whose check moved it; its
 * start is the job's processedOn, unless a worker took it again first (a start
 * after the stall is that new try's: the lost one's is then unknown).
 */
export async function storeLostTry(redis: RedisConnection, type: string, jobId: string, stalledAt = Date.now()): Promise<void> {
  const job = (await redis.queueFor(type).getJob(jobId)) as Job | undefined;
  if (!job) return;
  const data = job.data as WithTries;
  const startedAt = job.processedOn !== undefined && job.processedOn < stalledAt ? job.processedOn : null;
  const lost: StoredTry = { attempt: job.attemptsMade + 1, startedAt, finishedAt: stalledAt, outcome: 'lost', error: null, stack: null, instance: null };
  await job.updateData({ ...data, tries: appendTry(storedTries(data.tries), lost) } as WithTries);
}

/**
 * The record a cancel keeps once the job is gone (`running`: its try was under way): with its last failure's error
 * and its tries, as the other backends keep them, read from the job now.
 */
export function cancelledRecord(job: Job, running: boolean, now = Date.now()): TaskRecord {
  const record: TaskRecord = { ...taskOf(job, running), status: 'cancelled', completedAt: new Date(now) };
  if (running && job.processedOn) record.startedAt = new Date(job.processedOn);
  withSingletonKey(job, record);
  withLastFailure(job, record);
  // progress is kept when a task ends, a cancel included, as on the other backends
  const progress = reportedProgress(job);
  if (progress !== undefined) record.progress = progress;
  record.tries = triesOf(record, keptTries(job, record.attempts));
  return record;
}

/** A record's timeline (see triesOf), with the instance holding the lock of a running try. */
export async function withTries(redis: RedisConnection, job: Job, record: TaskRecord): Promise<TaskRecord> {
  const runningOn = record.status === 'running' ? ownerOf(await redis.client.get(`${redis.queueFor(job.name).toKey(job.id!)}:lock`)) : undefined;
  record.tries = triesOf(record, keptTries(job, record.attempts), runningOn);
  return record;
}

/**
 * The job's stored tries, and a lost try (no times) for each one BullMQ counted (`stalledCounter`) that no instance
 * stored: the instance whose stalled check queued the job again writes it in a round trip of its own, and one that
 * took the job at once and died of it too (a handler that kills its process) never did. Such a try uses no attempt,
 * as a stored lost try does: it is listed before the lost ones stored since the last retryTask (which resets the
 * count), or last, with the attempt of the try after it.
 * A list at MAX_TRIES_KEPT may have dropped lost tries, so it is not counted against.
 */
function keptTries(job: Job, attempts: number): StoredTry[] | undefined {
  const data = job.data as WithTries;
  const stored = storedTries(data.tries);
  const kept = stored?.length ?? 0;
  // the lost tries stored since retryTask last reset the stall count, and where the first of them is
  const before = data.lostBefore ?? 0;
  let lost = 0;
  let at = -1;
  for (let i = 0; i < kept; i++) if (isLost(stored![i]) && lost++ === before) at = i;
  const missing = Math.min((job.stalledCounter ?? 0) - Math.max(0, lost - before), MAX_TRIES_KEPT - kept);
  if (missing <= 0 || kept >= MAX_TRIES_KEPT) return stored;
  const tries = stored ? [...stored] : [];
  const attempt = at >= 0 ? Number(tries[at].attempt) : Math.max(1, attempts);
  const unstored = Array.from({ length: missing }, (): StoredTry => ({ attempt, startedAt: null, finishedAt: null, outcome: 'lost', error: null, stack: null, instance: null }));
  tries.splice(at >= 0 ? at : tries.length, 0, ...unstored);
  return tries;
}

/** Busy workers per instance: the active jobs of every type, grouped by the owner their lock token names. */
export async function runningByInstance(redis: RedisConnection, self: string): Promise<InstanceLoad[]> {
  const counts = new Map<string, number>([[self, 0]]);
  for (const type of await redis.keys.types()) {
    const queue = redis.queueFor(type);
    const ids = await queue.getRanges(['active'], 0, -1, true);
    if (!ids.length) continue;
    const tokens = await redis.client.mget(...ids.map((id) => `${queue.toKey(id)}:lock`));
    for (const token of tokens) {
      const owner = ownerOf(token);
      if (owner !== undefined) counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
  }
  return [...counts].map(([instance, running]) => ({ instance, running, self: instance === self })).sort((a, b) => a.instance.localeCompare(b.instance));
}
