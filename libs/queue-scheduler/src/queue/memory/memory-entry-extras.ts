import type { TaskProgress } from '../../interfaces/task.interface';
import type { LogBlock } from './task-log';
import type { StoredTry } from '../task-tries';

/**
 * What a memory task keeps of its failures, in one field (written by memory-tries.ts) that stays
 * undefined until a try fails: a task whose first try succeeds allocates
 * nothing here, and its entry grows by one slot only.
 */
export interface Failures {
  /** The stack of the failure `entry.error` tells. */
  stack: string | undefined;
  /** Tries followed by another (failed, timed out), oldest first, at most MAX_TRIES_KEPT. */
  tries: StoredTry[] | undefined;
  /** The last failure ended the task (dead): its try is stored only if retryTask runs it again. */
  finalUnstored?: boolean;
}

/**
 * What a task of the first try that succeeds with no result, outside a flow,
 * never sets until a status page is read: eleven fields an entry holds in one,
 * 80 bytes less on every queued task (over a quarter of what a push keeps
 * alive). Only fields that are no `Task` field: a spread of `ctx.task` sees
 * every Task field as before.
 */
/** `F`: the flow links' type (memory-entries.ts), a parameter so this file imports none of the entry's. */
export class EntryExtras<F> {
  allBlock: LogBlock | undefined = undefined;
  allSlot = -1;
  typeBlock: LogBlock | undefined = undefined;
  typeSlot = -1;
  error: string | undefined = undefined;
  failures: Failures | undefined = undefined;
  result: unknown = undefined;
  progress: TaskProgress | undefined = undefined;
  flow: F | undefined = undefined;
  /** A singleton push's key. */
  singletonKey: string | undefined = undefined;
  /** A later push of its id replaced it in the index (a given id used again once this one ended). */
  superseded = false;
}
