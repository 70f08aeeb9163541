import { describeValue, InvalidArgumentError, InvalidTaskError } from '../errors/errors';
import { type ChildFailurePolicy, type FlowIds, type FlowInput, MAX_FLOW_DEPTH, MAX_FLOW_NODES } from '../interfaces/flow.interface';
import type { PushTaskInput, TaskRecord } from '../interfaces/task.interface';
import type { NormalizedTask } from './task-validation';

/** One task of a validated flow, in pre-order: a parent comes before its children. */
export interface FlowTask {
  task: NormalizedTask;
  /** Index of its parent in the list; -1 for the root. */
  parent: number;
  /** How its parent treats its failure ('fail' on the root, where it is never read). */
  onChildFailure: ChildFailurePolicy;
  /** Its direct children: a parent waits for this many. */
  children: number;
}

const POLICIES: ReadonlySet<unknown> = new Set(['fail', 'ignore', 'continue']);

/** `children[2].children[0]` + `type`; the root's own fields are named bare (`type`), the root itself `flow`. */
const at = (path: string, field: string): string => (path && field ? `${path}.${field}` : path || field || 'flow');

function bad(path: string, field: string, rule: string, value: unknown): never {
  const name = at(path, field);
  throw new InvalidTaskError(name, `${name} ${rule}, got ${describeValue(value)}`);
}

/**
 * Validates a whole tree before anything is written, each node with the
 * push's own rules (`normalize`), and names the failing place
 * (`children[2].children[0].type`). Depth and size are bounded, which also
 * stops an object that contains itself. `occurrence`: the root is a
 * scheduler's occurrence and keeps its given id (deterministic, so the
 * occurrence is pushed once); every other node still gets a new one.
 */
export function normalizeFlow(root: unknown, normalize: (input: PushTaskInput) => NormalizedTask, occurrence = false): FlowTask[] {
  const out: FlowTask[] = [];
  const visit = (input: unknown, path: string, parent: number, depth: number): void => {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) bad(path, '', 'must be an object', input);
    const node = input as FlowInput & { taskId?: unknown; singletonKey?: unknown };
    // ids are ours: no id can collide with another task, or make a node its own ancestor
    if (node.taskId !== undefined && !(occurrence && parent < 0)) bad(path, 'taskId', 'cannot be given in a flow (ids are assigned)', node.taskId);
    if (node.singletonKey !== undefined) bad(path, 'singletonKey', 'cannot be given in a flow (a dropped node would leave its parent waiting)', node.singletonKey);
    // null is refused, as every pushTask field refuses it, rather than read as the default
    const policy = node.onChildFailure === undefined ? 'fail' : node.onChildFailure;
    if (parent < 0 && node.onChildFailure !== undefined) bad(path, 'onChildFailure', 'needs a parent (not on the root)', node.onChildFailure);
    if (!POLICIES.has(policy)) bad(path, 'onChildFailure', "must be 'fail', 'ignore' or 'continue'", policy);
    const children = node.children === undefined ? [] : node.children;
    if (!Array.isArray(children)) bad(path, 'children', 'must be an array', children);
    if (children.length > 0 && depth >= MAX_FLOW_DEPTH) bad(path, 'children', `would nest deeper than ${MAX_FLOW_DEPTH} levels`, children);
    if (out.length + 1 > MAX_FLOW_NODES) bad(path, '', `makes the flow larger than ${MAX_FLOW_NODES} tasks`, input);
    let task: NormalizedTask;
    try {
      task = normalize(node as PushTaskInput);
    } catch (err) {
      if (err instanceof InvalidTaskError && path) throw new InvalidTaskError(at(path, err.field), `${path}.${err.message}`);
      throw err;
    }
    const index = out.push({ task, parent, onChildFailure: policy, children: children.length }) - 1;
    // by index: a hole is refused as the node it stands for (forEach skips it, and the parent waited for it forever)
    for (let i = 0; i < children.length; i++) visit(children[i], at(path, `children[${i}]`), index, depth + 1);
  };
  visit(root, '', -1, 0);
  return out;
}

/** The ids of a validated flow, shaped as its input. */
export function flowIds(tasks: readonly FlowTask[]): FlowIds {
  const ids: FlowIds[] = tasks.map((t) => ({ taskId: t.task.taskId, children: [] }));
  for (let i = 1; i < tasks.length; i++) ids[tasks[i].parent].children.push(ids[i]);
  return ids[0];
}

/** The error a parent under `onChildFailure: 'fail'` dies with; retryTask finds the child it names by this prefix. */
export function childFailedMessage(childId: string, type: string, status: string, error: string | undefined): string {
  return `${childFailedPrefix(childId)}(${type}) ${status === 'cancelled' ? 'was cancelled' : 'is dead'}${error ? `: ${error}` : ''}`;
}

/** How a parent's error begins when it died of a child (childFailedMessage). */
const CHILD_FAILED_LEAD = 'child task ';

export function childFailedPrefix(childId: string): string {
  return `${CHILD_FAILED_LEAD}${childId} `;
}

/** A dead task's error says it died of a child (childFailedMessage), not of its own handler. */
export function diedOfAChild(error: string | null | undefined): boolean {
  return error?.startsWith(CHILD_FAILED_LEAD) === true;
}

/**
 * retryTask of a flow parent dead of its child under 'fail' (it ran no handler): run again, it would run without
 * that child's result. Refused while the child is dead or cancelled; retrying the child re-arms the parent.
 * `hopeless`: the parent can never succeed (a task below it under 'fail' was cancelled), so no retry helps.
 */
export function diedOfChild(parentId: string, childId: string, status: string, hopeless = status === 'cancelled'): InvalidArgumentError {
  const fix = !hopeless
    ? 'retry that child instead (its parent then waits for it again)'
    : status === 'cancelled'
      ? 'a cancelled task cannot be retried: push the flow again'
      : 'the task can never succeed, as a task under it was cancelled: push the flow again';
  return new InvalidArgumentError('taskId', `taskId '${parentId}': the task died of its child '${childId}', which is ${status}: ${fix}`);
}

/**
 * retryTask of a parent dead of a child that is no longer its child (deleted, its job removed by retention on Redis,
 * or its id pushed again as a plain task): run again, it would run without knowing what it waits for. Refused.
 */
export function childGone(parentId: string, error: string): InvalidArgumentError {
  const rest = error.slice(CHILD_FAILED_LEAD.length);
  const childId = rest.slice(0, Math.max(0, rest.indexOf(' (')));
  return new InvalidArgumentError(
    'taskId',
    `taskId '${parentId}': the task died of its child '${childId}', which is no longer in its flow (deleted, removed by retention, or its id pushed again): push the flow again`,
  );
}

/** A task dead of its child: its error says so, and it made no attempt (a handler's own error could read the same). */
export function deadOfChild(status: string, error: string | null | undefined, attempts: number): boolean {
  return status === 'dead' && attempts === 0 && diedOfAChild(error);
}

/** A backend's read of one task by id (rejects when it is unknown). */
type ReadTask = (taskId: string) => Promise<TaskRecord>;

/** The child a dead flow parent died of, found from its error (childFailedMessage); undefined for any other task. */
async function causeOf(record: TaskRecord, read: ReadTask): Promise<TaskRecord | undefined> {
  if (!deadOfChild(record.status, record.error, record.attempts)) return undefined;
  const rest = record.error!.slice(CHILD_FAILED_LEAD.length);
  // the id ends before " (<type>)", and may itself hold " (": each place is tried
  for (let i = rest.indexOf(' ('); i > 0; i = rest.indexOf(' (', i + 1)) {
    const child = await read(rest.slice(0, i)).catch(() => undefined);
    if (child?.parentId === record.taskId) return child;
  }
  return undefined;
}

/** diedOfChild for a backend that reads tasks; `hopeless`: whether a task can never succeed (the parent, here). */
export async function refuseParentDeadOfChild(record: TaskRecord, read: ReadTask, hopeless: (task: TaskRecord) => Promise<boolean>): Promise<void> {
  const child = await causeOf(record, read);
  if (child === undefined && deadOfChild(record.status, record.error, record.attempts)) throw childGone(record.taskId, record.error!);
  if (child?.status === 'dead' || child?.status === 'cancelled') throw diedOfChild(record.taskId, child.taskId, child.status, await hopeless(record));
}
