import { letGoChildren } from './redis-let-go';
import { pageOf, pageRequest } from '../task-pages';
import type { Job } from 'bullmq';
import { TaskNotFoundError } from '../../errors/errors';
import { notRetryable } from '../../errors/conflict-errors';
import type { InstanceLoad, TaskRecord } from '../../interfaces/task.interface';
import type { ListTasksFilter, StatusCounts, TaskPage } from '../task-queue';
import type { RedisConnection } from './redis-connection';
import { type JobData, PRIORITY_OFFSET, recordOf, taskOf, UNFINISHED_STATES, UNSTARTED_STATES } from './redis-jobs';
import { HOPELESS, REARM_PARENTS } from './redis-flow-scripts';
import { deadOfChild } from '../flow-validation';
import { jobIdOf } from './redis-keys';
import { forgetKeptChild } from './redis-kept-children';
import { withIdLock } from './redis-id-lock';
import { cancelledRecord, runningByInstance, storeLastTry, withTries } from './redis-tries';
import { CANCELLED_EVENT, QUEUED_AGAIN_EVENT } from './redis-event-marks';

const PAGE_SCAN = 200;

/**
 * The status API over BullMQ's jobs and our index: the reads, and the two
 * writes of one task (retry, cancel); nothing on the hot path.
 */
export class RedisStatus {
  constructor(private readonly redis: RedisConnection) {}

  /** The job of a task, or its cancelled record; TaskNotFoundError when neither exists. */
  async find(taskId: string): Promise<{ job?: Job; cancelled?: TaskRecord }> {
    const type = await this.redis.keys.typeOf(taskId);
    if (type === null) throw new TaskNotFoundError(taskId);
    const cancelled = await this.redis.keys.cancelled(taskId);
    if (cancelled) return { cancelled };
    const job = await this.redis.jobOf(type, taskId);
    if (!job) throw new TaskNotFoundError(taskId);
    return { job };
  }

  /** Whether the task is pending, running or waiting for a retry; false when it is unknown (never pushed, or removed by retention). */
  async isUnfinished(taskId: string): Promise<boolean> {
    const type = await this.redis.keys.typeOf(taskId);
    if (type === null) return false;
    return UNFINISHED_STATES.has(await this.redis.jobStateOf(type, taskId)) && !(await this.redis.keys.isCancelled(taskId));
  }

  /**
   * The job hash and its state are two reads: a job that finished between them
   * read as 'dead' with no error yet, or 'succeeded' with no result. BullMQ
   * changes both in one script, so a job read while its state held still,
   * before and after, is the job of that state; otherwise it is read again.
   * `timeline`: with its tries (getTask), which a page leaves out.
   */
  async record(taskId: string, timeline = false): Promise<TaskRecord> {
    for (let tries = 0; ; tries++) {
      const type = await this.redis.keys.typeOf(taskId);
      const before = type === null ? 'unknown' : await this.redis.jobStateOf(type, taskId);
      const found = await this.find(taskId);
      if (found.cancelled) return timeline ? found.cancelled : { ...found.cancelled, tries: undefined };
      const after = await found.job!.getState();
      if (after !== before && tries < 4) continue;
      const record = recordOf(found.job!, after);
      return timeline ? withTries(this.redis, found.job!, record) : record;
    }
  }

  private async recordOrNull(taskId: string): Promise<TaskRecord | null> {
    try {
      return await this.record(taskId);
    } catch (err) {
      if (err instanceof TaskNotFoundError) return null; // removed by retention
      throw err;
    }
  }

  /** Newest first, walking the push-order index from the cursor until a page is full. */
  async list(filter: ListTasksFilter): Promise<TaskPage> {
    const { limit, before: cursor } = pageRequest(filter);
    const found: Array<{ record: TaskRecord; seq: number }> = [];
    let before = cursor;
    while (found.length <= limit) {
      const batch = await this.redis.keys.newest(before, PAGE_SCAN);
      if (!batch.length) break;
      before = batch[batch.length - 1].seq;
      const types = await this.redis.keys.typesOf(batch.map((b) => b.taskId));
      const wanted = batch.filter((_, i) => !filter.type || types[i] === filter.type);
      const records = await Promise.all(wanted.map((b) => this.recordOrNull(b.taskId)));
      records.forEach((record, i) => {
        if (record && (!filter.status || record.status === filter.status)) found.push({ record, seq: wanted[i].seq });
      });
    }
    return pageOf(found, limit, (f) => f.record);
  }

  async counts(): Promise<StatusCounts> {
    const counts: StatusCounts = { pending: 0, running: 0, succeeded: 0, failed: 0, dead: 0, cancelled: 0, waiting: 0 };
    const perType = await Promise.all(
      (await this.redis.keys.types()).map((type) => this.redis.queueFor(type).getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed', 'waiting-children')),
    );
    for (const c of perType) {
      counts.pending += (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0);
      counts.running += c.active ?? 0;
      counts.succeeded += c.completed ?? 0;
      counts.dead += c.failed ?? 0;
      counts.waiting += c['waiting-children'] ?? 0;
    }
    counts.failed = Math.min(counts.pending, await this.redis.keys.retryingCount());
    counts.pending -= counts.failed;
    counts.cancelled = await this.redis.keys.cancelledCount();
    return counts;
  }

  /** Busy workers per instance sharing this Redis; `self` listed even when idle. */
  byInstance(self: string): Promise<InstanceLoad[]> {
    return runningByInstance(this.redis, self);
  }

  /** Tasks waiting, ready or delayed (retries included), as on the other backends. */
  async queueSize(): Promise<number> {
    const c = await this.counts();
    return c.pending + c.failed;
  }

  /**
   * Queues a dead task again, or a failed one waiting for its retry now, with a fresh attempt count; returns its type.
   * clusterEvents$' queued: BullMQ's add writes it (`added`), its retry and promote do not, so ours is written first.
   * `refuse` sees the record in the state this retry acts on: checked before reading it, a flow parent read waiting
   * (its child just retried) passed, the child died again, and the retry then ran the parent without its child.
   */
  retry(taskId: string, refuse: (record: TaskRecord) => Promise<void>): Promise<string> {
    return withIdLock(this.redis, taskId, () => this.retryLocked(taskId, refuse));
  }

  private async retryLocked(taskId: string, refuse: (record: TaskRecord) => Promise<void>): Promise<string> {
    const found = await this.find(taskId);
    const state = found.cancelled ? 'cancelled' : await found.job!.getState();
    const job = found.job;
    const queuedAgain = (): Promise<void> => this.redis.addEvent(job!.name, ['event', QUEUED_AGAIN_EVENT, 'jobId', job!.id!]);
    if (job && state === 'failed') {
      // read again as getTask reads it: the job above may be its hash from before it died (no error yet)
      await refuse(await this.record(taskId));
      // the child's own retry may have re-armed this parent meanwhile: then nothing is written (BullMQ's retry would
      // refuse with its plain Error, after our event and try were written); what is left of that window is caught below
      // read anew: a retry that raced this one ran the task, which died again, and stored its try; from the job read
      // first, ours wrote the tries back without it
      const current = await this.stillFailed(taskId, job);
      await queuedAgain();
      // a fresh allowance of lost tries too: BullMQ's retry keeps the stall count
      await this.redis.client.hdel(this.redis.queueFor(job.name).toKey(job.id!), 'stc');
      await storeLastTry(current);
      await current.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true }).catch(async (err: unknown) => {
        await this.stillFailed(taskId, job);
        throw err; // still failed: the retry failed for another reason
      });
      // a flow child is back among its parent's dependencies (BullMQ's retry): a parent that died of it waits again
      if (job.parentKey) {
        const { keys } = this.redis.keys;
        await this.redis.client.eval(REARM_PARENTS, 0, this.redis.queueFor(job.name).toKey(job.id!), String(Date.now()), keys.flows, keys.cancelled);
      }
    } else if (job && state === 'delayed' && job.attemptsMade > 0 && job.parentKey) {
      await queuedAgain();
      // a flow child keeps its job, and so its place among its parent's dependencies: due now, tries counted afresh
      await this.redis.client.hset(this.redis.queueFor(job.name).toKey(job.id!), 'atm', 0, 'ats', 0);
      await this.redis.keys.forgetRetry(taskId);
      await job.promote();
    } else if (job && state === 'delayed' && job.attemptsMade > 0) {
      // waiting for its retry: queued again now, with a fresh attempt count
      await job.remove();
      await this.redis.keys.forgetRetry(taskId);
      await this.redis.queueFor(job.name).add(job.name, job.data as JobData, { jobId: jobIdOf(taskId), priority: (job.data as JobData).priority + PRIORITY_OFFSET });
    } else {
      const { status } = found.cancelled ?? recordOf(job!, state);
      throw notRetryable(taskId, status);
    }
    // a retried task lists as pushed now, newest first, as on the other backends
    await this.redis.keys.index(taskId, job.name, true);
    return job.name;
  }

  /** A flow task that can never succeed: cancelled, or dead of a child with a child under 'fail' that can never succeed, down the tree. */
  async hopeless(record: TaskRecord): Promise<boolean> {
    if (record.status === 'cancelled') return true;
    if (!deadOfChild(record.status, record.error, record.attempts)) return false;
    const { keys } = this.redis.keys;
    return (await this.redis.client.eval(HOPELESS, 0, this.redis.queueFor(record.type).toKey(jobIdOf(record.taskId)), keys.flows, keys.cancelled)) === 1;
  }

  /** The task's job as it is now, if still failed (dead); otherwise InvalidArgumentError naming its status. */
  private async stillFailed(taskId: string, job: Job): Promise<Job> {
    const current = (await this.redis.jobOf(job.name, taskId)) ?? job;
    const state = await current.getState();
    if (state === 'failed') return current;
    const { status } = recordOf(current, state);
    throw notRetryable(taskId, status);
  }

  /** Deletes a finished task: its job (or cancelled record) and our index entries; false while it is unfinished. */
  delete(taskId: string): Promise<boolean> {
    return withIdLock(this.redis, taskId, () => this.deleteLocked(taskId));
  }

  private async deleteLocked(taskId: string): Promise<boolean> {
    const found = await this.find(taskId);
    if (found.job) {
      if (!['completed', 'failed'].includes(await found.job.getState())) return false;
      try {
        await found.job.remove({ removeChildren: false }); // a flow parent's children keep their own records
      } catch {
        return false; // queued again meanwhile (a retry) and locked by a worker
      }
    }
    await forgetKeptChild(this.redis, taskId, found.job?.name ?? found.cancelled!.type);
    // its children name no parent from now on, as on the other backends: a task pushed under its id is not their parent
    await letGoChildren(this.redis, taskId);
    const seq = await this.redis.keys.seqOf(taskId);
    if (seq !== null) await this.redis.keys.drop(taskId, seq);
    return true;
  }

  /** Removes a task not started yet and records it cancelled: its record, or null when it had started or finished. */
  cancel(taskId: string): Promise<TaskRecord | null> {
    return withIdLock(this.redis, taskId, () => this.cancelLocked(taskId));
  }

  private async cancelLocked(taskId: string): Promise<TaskRecord | null> {
    const found = await this.find(taskId);
    if (found.cancelled || !found.job) return null;
    const job = found.job;
    if (!UNSTARTED_STATES.has(await job.getState())) return null;
    try {
      await job.remove();
    } catch {
      return null; // a worker took it meanwhile (BullMQ refuses to remove a locked job)
    }
    const record = cancelledRecord(job, false);
    await this.redis.keys.markCancelled(record);
    await this.redis.addEvent(record.type, [...CANCELLED_EVENT, 'jobId', jobIdOf(taskId)]);
    return record;
  }
}
