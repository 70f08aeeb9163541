import type { FlowJob, Job } from 'bullmq';
import { TaskNotFoundError } from '../../errors/errors';
import type { ChildFailurePolicy, ChildResult, FlowIds, FlowInput, FlowNode } from '../../interfaces/flow.interface';
import type { PushTaskInput, Task, TaskRecord } from '../../interfaces/task.interface';
import type { FlowStore } from '../durable-queue';
import { childFailedMessage, deadOfChild, flowIds, type FlowTask, normalizeFlow } from '../flow-validation';
import type { Occurrence } from '../queue-consumer';
import type { NormalizedTask } from '../task-validation';
import type { RedisConnection } from './redis-connection';
import type { RedisConsumer } from './redis-consumer';
import { endMarked, endMarkedParent } from './redis-condemn';
import { jobDataOf, PRIORITY_OFFSET } from './redis-jobs';
import { keptChildren, keptNode } from './redis-kept-children';
import { letGoChildren } from './redis-let-go';
import { takeOverId } from './redis-enqueue';
import { withIdLock } from './redis-id-lock';
import { jobIdOf, queueNameOf, taskIdOf } from './redis-keys';
import { CANCEL_FLOW, MARK_WAITING_PARENT } from './redis-flow-scripts';
import { CANCELLED_DEFERRED } from './redis-event-marks';
import { cancelledRecord } from './redis-tries';

/** A flow task's links as kept in the flows hash: parent, its policy, children (each only where there is one). */
export interface Links {
  p?: string;
  f?: ChildFailurePolicy;
  c?: string[];
}

/** Reads at once per batch: a parent of 10,000 children is read in 20 steps, not 10,000 nor one huge one. */
const BATCH = 500;

function gone(err: unknown): undefined {
  if (err instanceof TaskNotFoundError) return undefined;
  throw err;
}

async function batched<T, R>(items: readonly T[], read: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += BATCH) out.push(...(await Promise.all(items.slice(i, i + BATCH).map(read))));
  return out;
}

/**
 * The Redis backend's flows, on BullMQ's own parent/child jobs: a tree is
 * added in one MULTI by its FlowProducer, a parent sits in BullMQ's
 * `waiting-children` (our `waiting`) and BullMQ's scripts release it, or fail
 * it, in the same script that ends its last child, so two children ending on
 * two instances cannot both miss (or both release) it.
 *
 * Policies map onto BullMQ's: 'fail' is `failParentOnFailure` (BullMQ marks the
 * parent with a deferred failure; the instance that failed the child then
 * ends it dead with our message, see endMarkedParent); 'ignore' and 'continue' are
 * `ignoreDependencyOnFailure` and differ only in what `childResults` shows.
 * Our links (parent, policy, children) are kept in one hash beside the jobs,
 * written in one script just before the tree: they outlive a cancelled job,
 * so `getFlow` and `childResults` still see it.
 */
export class RedisFlows implements FlowStore {
  private readonly redis: () => RedisConnection;

  constructor(
    private readonly consumer: RedisConsumer,
    private readonly normalize: (input: PushTaskInput) => NormalizedTask,
    private readonly record: (taskId: string) => Promise<TaskRecord>,
    private readonly announce: (tasks: NormalizedTask[]) => void,
  ) {
    this.redis = consumer.redis;
    consumer.childFailure = (deferred) => this.childFailure(deferred);
  }

  /** async: a bad tree is a rejection, as on the databases, not a throw out of the call. */
  async push<P>(flow: FlowInput<P>): Promise<FlowIds> {
    return this.add(normalizeFlow(flow, this.normalize));
  }

  /**
   * A flow schedule's occurrence: the root keeps the occurrence's id and is
   * queued once, like a pushed id (still unfinished: nothing is added; ended,
   * e.g. cancelled by a schedule change: the new tree takes its place).
   */
  async pushOccurrence(root: Occurrence): Promise<string> {
    const nodes = normalizeFlow(root, this.normalize, true);
    const { taskId, type } = nodes[0].task;
    return withIdLock(this.redis(), taskId, async () => {
      const done = await takeOverId(this.redis(), taskId, type);
      if (done) await letGoChildren(this.redis(), taskId).then(() => this.add(nodes)).then(done);
      return taskId;
    });
  }

  private async add(nodes: FlowTask[]): Promise<FlowIds> {
    const redis = this.redis();
    const links: Links[] = nodes.map(() => ({}));
    const keep = redis.keepJobs;
    const now = Date.now();
    const jobs = nodes.map(({ task, parent, onChildFailure, children }, i): FlowJob => {
      const child = parent >= 0;
      if (child) {
        links[i].p = nodes[parent].task.taskId;
        links[i].f = onChildFailure;
        (links[parent].c ??= []).push(task.taskId);
      }
      return {
        name: task.type,
        queueName: queueNameOf(task.type),
        data: { ...jobDataOf(task), parentId: links[i].p, flowParent: children > 0 || undefined },
        opts: {
          jobId: jobIdOf(task.taskId),
          priority: task.priority + PRIORITY_OFFSET,
          // BullMQ would delay a parent from its release; ours waits for its own runAt then (see releasedEarly)
          // due at exactly runAt: BullMQ adds the delay to this timestamp (see enqueue)
          timestamp: now,
          delay: children > 0 ? 0 : Math.max(0, task.runAtMs - now),
          removeOnComplete: keep,
          removeOnFail: keep,
          ...(child ? { failParentOnFailure: onChildFailure === 'fail', ignoreDependencyOnFailure: onChildFailure !== 'fail' } : {}),
        },
      };
    });
    for (let i = 1; i < nodes.length; i++) ((jobs[nodes[i].parent] as { children?: FlowJob[] }).children ??= []).push(jobs[i]);
    // the index first, as a single push does: a crash between the two leaves entries without jobs, which no read shows
    await redis.keys.indexFlow(nodes.map(({ task }, i) => [task.taskId, task.type, JSON.stringify(links[i])]));
    const root = nodes[0].task;
    if (root.schedulerTaskId !== undefined) await redis.keys.noteRun(root.schedulerTaskId, root.taskId);
    await redis.addFlow(jobs[0]);
    this.announce(nodes.map((n) => n.task));
    return flowIds(nodes);
  }

  async tree(rootId: string): Promise<FlowNode> {
    // a subtree read from a child names the child's own policy (its links hold it; a root's hold none)
    const [own] = await this.links([rootId]);
    const top = await this.node(rootId, own?.f);
    let level = [top];
    while (level.length > 0) {
      const links = await this.links(level.map((n) => n.taskId));
      const next: FlowNode[] = [];
      for (const [i, parent] of level.entries()) {
        const ids = links[i]?.c ?? [];
        const policies = ids.length ? await this.links(ids) : [];
        const children = await batched(ids.map((id, j) => [id, policies[j]?.f] as const), ([id, f]) => this.node(id, f).catch(gone));
        const kept = children.includes(undefined) ? await keptChildren(this.redis(), parent.type, parent.taskId, ids) : undefined;
        parent.children = children.map((c, j) => c ?? keptNode(ids[j], policies[j]?.f, kept!.get(ids[j]))).filter((c) => c !== undefined);
        next.push(...parent.children);
      }
      level = next;
    }
    return top;
  }

  async childResults(task: Task): Promise<Record<string, ChildResult>> {
    const [links] = await this.links([task.taskId]);
    const ids = links?.c ?? [];
    if (ids.length === 0) return {};
    const policies = await this.links(ids);
    const records = await batched(ids, (id) => this.known(id));
    const kept = records.includes(undefined) ? await keptChildren(this.redis(), task.type, task.taskId, ids) : undefined;
    const results: Record<string, ChildResult> = {};
    records.forEach((found, i) => {
      const r = found ?? kept!.get(ids[i]);
      if (r === undefined) return;
      if (r.status === 'succeeded') results[ids[i]] = { type: r.type, status: r.status, result: r.result };
      else if (policies[i]?.f !== 'ignore') results[ids[i]] = { type: r.type, status: r.status, error: r.error };
    });
    return results;
  }

  /**
   * Cancels a flow task that has not started, and what under it has not
   * started, in one script; null when `taskId` is in no flow (the plain
   * cancel applies), [] when it had started or ended. Each cancelled task's
   * record is kept with the cancelled ones, as a plain cancel keeps it.
   * A cancelled task with a parent is not removed but failed through BullMQ
   * (see CANCEL_FLOW), so that its parent learns it as it learns a failure.
   */
  async cancel(taskId: string, events: boolean): Promise<TaskRecord[] | null> {
    const [top] = await this.links([taskId]);
    if (!top) return null;
    const ids = [taskId];
    for (let level = top.c ?? []; level.length > 0; ) {
      ids.push(...level);
      level = (await this.links(level)).flatMap((l) => l?.c ?? []);
    }
    const redis = this.redis();
    const types = await redis.keys.typesOf(ids);
    const jobs = await batched([...ids.keys()], (i) => (types[i] === null ? Promise.resolve(undefined) : redis.jobOf(types[i]!, ids[i])));
    const now = Date.now();
    const records = new Map<string, TaskRecord>();
    const args: string[] = [];
    for (const job of jobs) {
      if (!job) continue; // cancelled before, or removed by retention
      const record = cancelledRecord(job, false, now);
      records.set(record.taskId, record);
      args.push(redis.queueFor(job.name).toKey(''), job.id!, record.taskId, JSON.stringify(record));
    }
    if (!jobs[0]) return [];
    const k = redis.keys.keys;
    const cancelled = (await redis.client.eval(CANCEL_FLOW, 2, k.cancelled, k.retrying, String(now), top.p ? '1' : '0', events ? '1' : '0', CANCELLED_DEFERRED, ...args)) as string[];
    // the one kept, marked: failed now, so that its parent learns it at once (see endMarked)
    if (top.p && cancelled[0] === taskId) {
      await endMarked(this.consumer, redis.queueFor(jobs[0].name).toKey(jobs[0].id!));
      // under a parent dead of another child: that parent can never succeed now, so one waiting for it dies of it
      if ((top.f ?? 'fail') === 'fail') await this.failWaitingParentOf(top.p);
    }
    return cancelled.map((id) => records.get(id)!);
  }

  /** A running flow child ended as cancelled (RedisCancels): its parents learn it as cancel's do for one not started. */
  async runningCancelled(job: Job): Promise<void> {
    await endMarkedParent(this.consumer, job);
    const [own] = await this.links([taskIdOf(job.id!)]);
    if (own?.p && (own.f ?? 'fail') === 'fail') await this.failWaitingParentOf(own.p);
  }

  /**
   * A task below `taskId` was cancelled under 'fail', and `taskId` is dead of another child: it can never succeed now,
   * nor can its dead ancestors under 'fail'. The nearest one waiting for such a child dies of it (MARK_WAITING_PARENT).
   */
  private async failWaitingParentOf(taskId: string): Promise<void> {
    const redis = this.redis();
    for (let id: string | undefined = taskId; id !== undefined; ) {
      const [[links], record]: [Array<Links | undefined>, TaskRecord | undefined] = await Promise.all([this.links([id]), this.known(id)]);
      if (!links?.p || (links.f ?? 'fail') !== 'fail' || !record || !deadOfChild(record.status, record.error, record.attempts)) return;
      const job = await redis.jobOf(record.type, id);
      if (!job) return;
      if ((await redis.client.eval(MARK_WAITING_PARENT, 0, redis.queueFor(job.name).toKey(job.id!), String(Date.now()))) === 1) return endMarked(this.consumer, job.parentKey!);
      // not waiting: dead too (the next round climbs on), or anything else (it stops)
      id = links.p;
    }
  }

  /**
   * The error of a parent that BullMQ marked with a deferred failure for its
   * child (`child <job key> failed`), in the words of the other backends
   * (`child task <id> (<type>) is dead: <its error>`); undefined for a mark of another kind.
   */
  async childFailure(deferred: string): Promise<string | undefined> {
    const key = /^child (.+) failed$/.exec(deferred)?.[1];
    if (key === undefined) return undefined;
    const childId = taskIdOf(key.slice(key.lastIndexOf(':') + 1));
    const child = await this.known(childId);
    return child ? childFailedMessage(childId, child.type, child.status, child.error) : `child task ${childId} is dead`;
  }

  private async node(taskId: string, onChildFailure: ChildFailurePolicy | undefined): Promise<FlowNode> {
    const r = await this.record(taskId);
    return { taskId, type: r.type, status: r.status, onChildFailure, error: r.error, children: [] };
  }

  /** A child's record; undefined once retention (queue.retentionDays) removed it, which a long-waiting parent may outlive. */
  private known(taskId: string): Promise<TaskRecord | undefined> {
    return this.record(taskId).catch(gone);
  }

  private async links(taskIds: string[]): Promise<Array<Links | undefined>> {
    const raw = await this.redis().keys.flowLinks(taskIds);
    return raw.map((json) => (json === null ? undefined : (JSON.parse(json) as Links)));
  }
}
