import type { PushTaskInput, TaskStatus } from './task.interface';

export type { ChildResult } from './task.interface';

/**
 * What a parent does when this child fails (dead, out of attempts, or
 * cancelled): `fail` the parent is dead with an error naming the child;
 * `ignore` the parent runs without it; `continue` the parent runs and sees
 * the failure in `ctx.childResults()`. @publicApi
 */
export type ChildFailurePolicy = 'fail' | 'ignore' | 'continue';

/**
 * One node of `pushFlow`: a task and the children it waits for. Ids are
 * assigned by the queue (no `taskId`), so a tree built from nested literals
 * cannot hold a cycle; no `singletonKey` either (a node dropped by its key
 * would leave its parent waiting forever). @publicApi
 */
export interface FlowInput<P = unknown> extends Omit<PushTaskInput<P>, 'taskId' | 'singletonKey' | 'debounceMs' | 'throttleMs'> {
  /** How this node's parent treats its failure; not on the root. @default 'fail' */
  onChildFailure?: ChildFailurePolicy | undefined;
  /** Tasks that must end before this one becomes ready. */
  children?: FlowInput[] | undefined;
}

/** The ids `pushFlow` assigned, shaped as its input. @publicApi */
export interface FlowIds {
  taskId: string;
  children: FlowIds[];
}

/** A flow as `getFlow` reports it: each node with its status. @publicApi */
export interface FlowNode {
  taskId: string;
  type: string;
  status: TaskStatus;
  /** Undefined on the root. */
  onChildFailure?: ChildFailurePolicy | undefined;
  error?: string | undefined;
  children: FlowNode[];
}

/** Deepest level below the root a flow may have (the root's children are level 1). */
export const MAX_FLOW_DEPTH = 10;
/** Most tasks one flow may hold, root included: room for a parent over 10,000 children and more. */
export const MAX_FLOW_NODES = 20_000;
