import type { ChildFailurePolicy, FlowNode } from '../../interfaces/flow.interface';
import type { TaskStatus } from '../../interfaces/task.interface';
import type { RedisConnection } from './redis-connection';
import { CANCELLED_DEFERRED } from './redis-event-marks';
import { jobIdOf, typeOfQueue } from './redis-keys';

/** A finished child as BullMQ keeps it in its parent's job. */
export interface KeptChild {
  type: string;
  status: Extract<TaskStatus, 'succeeded' | 'dead' | 'cancelled'>;
  result?: unknown;
  error?: string;
}

/**
 * The finished children of `parentId` that BullMQ recorded in the parent's
 * own job (`:processed`, the return value of each that succeeded;
 * `:failed`, the reason of each that failed under ignoreDependencyOnFailure,
 * our 'continue' and 'ignore'), by child task id. A child's own job is
 * removed past `queue.retentionDays` whatever its parent is doing, and a
 * parent can wait longer than that for its last child: these records live
 * as long as the parent's job, so its `childResults()` and `getFlow` still
 * see every child that ended.
 */
export async function keptChildren(redis: RedisConnection, parentType: string, parentId: string, childIds: readonly string[]): Promise<Map<string, KeptChild>> {
  const parentKey = redis.queueFor(parentType).toKey(jobIdOf(parentId));
  const [processed, failed] = await Promise.all([redis.client.hgetall(`${parentKey}:processed`), redis.client.hgetall(`${parentKey}:failed`)]);
  const ofJob = new Map(childIds.map((id) => [jobIdOf(id), id]));
  const kept = new Map<string, KeptChild>();
  const read = (hash: Record<string, string>, make: (type: string, value: string) => KeptChild): void => {
    for (const [childKey, value] of Object.entries(hash)) {
      // '<prefix>:<queue>:<job id>': neither the queue name nor the job id holds a ':' (both escaped)
      const end = childKey.lastIndexOf(':');
      const taskId = ofJob.get(childKey.slice(end + 1));
      if (taskId !== undefined) kept.set(taskId, make(typeOfQueue(childKey.slice(childKey.lastIndexOf(':', end - 1) + 1, end)), value));
    }
  };
  read(processed, (type, value) => {
    const result = parsed(value);
    // no result, as recordOf reads a job's: BullMQ keeps a handler's undefined as null
    return result === null ? { type, status: 'succeeded' } : { type, status: 'succeeded', result };
  });
  // a cancelled child is failed through BullMQ with our mark as its reason (see CANCEL_FLOW)
  read(failed, (type, value) => (value === CANCELLED_DEFERRED ? { type, status: 'cancelled' } : { type, status: 'dead', error: value }));
  return kept;
}

/** Forgets what its parent's job keeps of a child `deleteTask` removes: a deleted child is left out of the flow. */
export async function forgetKeptChild(redis: RedisConnection, taskId: string, type: string): Promise<void> {
  const [raw] = await redis.keys.flowLinks([taskId]);
  const parentId = raw === null ? undefined : (JSON.parse(raw) as { p?: string }).p;
  const parentType = parentId === undefined ? null : await redis.keys.typeOf(parentId);
  if (parentType === null) return;
  const parentKey = redis.queueFor(parentType).toKey(jobIdOf(parentId!));
  const childKey = redis.queueFor(type).toKey(jobIdOf(taskId));
  await redis.client.multi().hdel(`${parentKey}:processed`, childKey).hdel(`${parentKey}:failed`, childKey).exec();
}

/** A child `getFlow` no longer finds a job of, as its parent kept it; undefined when it kept none. */
export function keptNode(taskId: string, onChildFailure: ChildFailurePolicy | undefined, kept: KeptChild | undefined): FlowNode | undefined {
  return kept && { taskId, type: kept.type, status: kept.status, onChildFailure, error: kept.error, children: [] };
}

/** BullMQ's return value as its Job reads it: JSON, or the raw text when it is not. */
function parsed(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
