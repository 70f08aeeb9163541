import type { MemoryTasks } from './memory-tasks';
import type { WaitingTasks } from './waiting-tasks';
import type { NormalizedTask, SingletonRule } from '../task-validation';

/** What a key holds: the id of its last accepted task and when that push was accepted. */
interface Slot {
  taskId: string;
  acceptedAtMs: number;
}

/**
 * The memory backend's singleton keys (see PushTaskInput.singletonKey): one
 * slot per key ever used, holding an id rather than the entry, so a task the
 * history forgot is not kept alive by its key. A Map compares keys as the
 * strings they are, byte for byte, as the durable backends do.
 */
export class SingletonSlots {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly tasks: MemoryTasks,
    private readonly waiting: WaitingTasks,
  ) {}

  /**
   * The id that stands for `task` under its rule, or undefined when the push
   * is accepted (the caller queues it, then calls `accepted`). A debounced
   * push folds its params and run time into the pending entry here.
   */
  standing(task: NormalizedTask, rule: SingletonRule, now: number): string | undefined {
    const slot = this.slots.get(rule.key);
    if (!slot) return undefined;
    if (rule.mode === 'throttle') return now < slot.acceptedAtMs + rule.ms ? slot.taskId : undefined;
    const entry = this.tasks.get(slot.taskId);
    // only a task not yet started holds the key: a running one, a retry waiting or a finished one does not
    if (!entry || entry.status !== 'pending' || entry.singletonKey !== rule.key) return undefined;
    if (rule.mode === 'debounce') {
      // out of the lanes or the heap and back: where it waits depends on its run time
      this.waiting.remove(entry);
      entry.params = task.params;
      entry.runAtMs = task.runAtMs;
      this.waiting.add(entry, now);
    }
    return slot.taskId;
  }

  accepted(key: string, taskId: string, now: number): void {
    this.slots.set(key, { taskId, acceptedAtMs: now });
  }
}
