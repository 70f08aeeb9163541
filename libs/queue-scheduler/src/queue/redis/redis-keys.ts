/**
 * Names in Redis. A job's hash lives at `<prefix>:<queue>:<jobId>`, beside
 * BullMQ's own keys of the queue (`<prefix>:<queue>:wait`, `:meta`, `:events`,
 * …), so a job id equal to one of those names would overwrite that structure
 * and break the type for good. Every job id therefore starts with JOB_ID_PREFIX,
 * which no BullMQ key name has. BullMQ also refuses job ids that hold a ':' or
 * read as an integer, and queue names with a ':'; our task ids (e.g. the
 * scheduler's `<schedulerTaskId>:<scheduledAt>`) and task types may hold ':',
 * so they are escaped reversibly: '%' → '%25', ':' → '%3A'.
 */
export function escapeName(value: string): string {
  return value.replace(/%/g, '%25').replace(/:/g, '%3A');
}

/**
 * '%' then a letter: an escaped id never has that (its '%' is always followed
 * by '25' or '3A'), nor had a job id of the scheme before (see legacyJobIdOf),
 * so taskIdOf tells the two apart; and it keeps every job id non-integer.
 */
export const JOB_ID_PREFIX = '%t';

export function jobIdOf(taskId: string): string {
  return JOB_ID_PREFIX + escapeName(taskId);
}

/** BullMQ's key names beside the job hashes of a queue (its QueueKeys, and the start of its metrics keys). */
const BULLMQ_KEY_NAMES = new Set(['', 'active', 'wait', 'waiting-children', 'paused', 'id', 'delayed', 'prioritized', 'stalled-check', 'completed', 'failed', 'stalled', 'repeat', 'limiter', 'meta', 'events', 'pc', 'marker', 'de', 'metrics']);

/**
 * The job id a task had before job ids were namespaced (escaped, an integer
 * one prefixed '%i'), so jobs pushed by an older version are still found;
 * undefined where that id is one of BullMQ's key names, which never held a
 * readable job.
 */
export function legacyJobIdOf(taskId: string): string | undefined {
  const escaped = escapeName(taskId);
  if (BULLMQ_KEY_NAMES.has(escaped)) return undefined;
  return `${parseInt(escaped, 10)}` === escaped ? `%i${escaped}` : escaped;
}

/** The task id a job id stands for (the reverse of jobIdOf, and of legacyJobIdOf). */
export function taskIdOf(jobId: string): string {
  const escaped = jobId.startsWith(JOB_ID_PREFIX) || jobId.startsWith('%i') ? jobId.slice(2) : jobId;
  return unescapeName(escaped);
}

/** The reverse of escapeName. */
function unescapeName(escaped: string): string {
  return escaped.replace(/%3A/g, ':').replace(/%25/g, '%');
}

/** One BullMQ queue per task type, so a worker takes only the types it handles, each under its own cap. */
export function queueNameOf(type: string): string {
  return `task.${escapeName(type)}`;
}

/** The task type a queue name stands for (the reverse of queueNameOf). */
export function typeOfQueue(queueName: string): string {
  return unescapeName(queueName.slice('task.'.length));
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
  /** set of the task types that have BullMQ keys, for the counts; a type with nothing left is released (RedisTypeRelease). */
  readonly types: string;
  /** hash type → push order of its last push, so a release can tell that a push came in meanwhile. */
  readonly typePushed: string;
  /** set of taskIds that failed and wait (delayed) for their retry: status `failed`. */
  readonly retrying: string;
  /** hash taskId → JSON of a cancelled task (BullMQ removes the job; we keep its record). */
  readonly cancelled: string;
  /** hash schedulerTaskId → the task id last pushed for that schedule, for the overlap check. */
  readonly scheduleRuns: string;
  /** hash taskId → JSON links of a flow's task (parent, policy, children): outlives the jobs, so a cancelled node keeps its place. */
  readonly flows: string;
  /** zset store key by expiry, so cleanup() can count what expired. */
  readonly storeExpiry: string;
  readonly storePrefix: string;
  /** set of the task types `pauseType` stopped, read by every instance once per poll. */
  readonly pausedTypes: string;
  /** pub/sub channel of cancel requests for running tasks: every instance hears them at once. */
  readonly cancelChannel: string;

  constructor(readonly prefix: string) {
    const own = `${prefix}:~`;
    this.index = `${own}index`;
    this.order = `${own}order`;
    this.seq = `${own}seq`;
    this.types = `${own}types`;
    this.typePushed = `${own}type-pushed`;
    this.retrying = `${own}retrying`;
    this.cancelled = `${own}cancelled`;
    this.scheduleRuns = `${own}schedule-runs`;
    this.flows = `${own}flows`;
    this.storeExpiry = `${own}store-expiry`;
    this.storePrefix = `${own}store:`;
    this.pausedTypes = `${own}paused-types`;
    this.cancelChannel = `${own}cancel`;
  }

  store(key: string): string {
    return this.storePrefix + key;
  }

  /** Counter of the starts of a rate-limited type in the window that begins at `windowStart`. */
  rateWindow(type: string, windowStart: number): string {
    return `${this.prefix}:~rate:${type}:${windowStart}`;
  }
}
