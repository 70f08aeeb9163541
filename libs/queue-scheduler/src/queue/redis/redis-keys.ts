/**
 * Names in Redis. BullMQ refuses job ids that are integers or hold a ':'
 * (other than its own repeat ids), and queue names with a ':'; our task ids
 * (e.g. the scheduler's `<schedulerTaskId>:<scheduledAt>`) and task types may
 * hold both, so they are escaped reversibly: '%' → '%25', ':' → '%3A', and an
 * id that would read as an integer gets a '%i' prefix.
 */
export function escapeName(value: string): string {
  return value.replace(/%/g, '%25').replace(/:/g, '%3A');
}

export function jobIdOf(taskId: string): string {
  const escaped = escapeName(taskId);
  return `${parseInt(escaped, 10)}` === escaped ? `%i${escaped}` : escaped;
}

/** The task id a job id stands for (the reverse of jobIdOf). */
export function taskIdOf(jobId: string): string {
  return (jobId.startsWith('%i') ? jobId.slice(2) : jobId).replace(/%3A/g, ':').replace(/%25/g, '%');
}

/** One BullMQ queue per task type, so a worker takes only the types it handles, each under its own cap. */
export function queueNameOf(type: string): string {
  return `task.${escapeName(type)}`;
}

/**
 * Our own keys beside BullMQ's (`<prefix>:task.<type>:…`); the '~' cannot
 * start a queue name we make, so the two never collide.
 */
export class RedisKeys {
  /** hash taskId → type: which BullMQ queue holds a task. */
  readonly index: string;
  /** zset taskId by push order, for listTasks newest first. */
  readonly order: string;
  readonly seq: string;
  /** set of every task type pushed, for the counts. */
  readonly types: string;
  /** set of taskIds that failed and wait (delayed) for their retry: status `failed`. */
  readonly retrying: string;
  /** hash taskId → JSON of a cancelled task (BullMQ removes the job; we keep its record). */
  readonly cancelled: string;
  /** zset store key by expiry, so cleanup() can count what expired. */
  readonly storeExpiry: string;
  readonly storePrefix: string;

  constructor(readonly prefix: string) {
    const own = `${prefix}:~`;
    this.index = `${own}index`;
    this.order = `${own}order`;
    this.seq = `${own}seq`;
    this.types = `${own}types`;
    this.retrying = `${own}retrying`;
    this.cancelled = `${own}cancelled`;
    this.storeExpiry = `${own}store-expiry`;
    this.storePrefix = `${own}store:`;
  }

  store(key: string): string {
    return this.storePrefix + key;
  }
}
