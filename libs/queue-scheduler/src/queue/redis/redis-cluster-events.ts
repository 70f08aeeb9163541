import type { Redis } from 'ioredis';
import type { Observable } from 'rxjs';
import { describeValue, InvalidArgumentError } from '../../errors/errors';
import type { ClusterEventKind, ClusterTaskEvent } from '../../interfaces/task.interface';
import type { LibraryLogger } from '../../queue-scheduler.logger';
import { type ClusterEventSource, pause, ReadFailures, readLoop } from '../cluster-events';
import { closeRedis } from './redis-close';
import { CANCELLED_DEFERRED, CANCELLED_EVENT, CANCELLED_RESULT_JSON, QUEUED_AGAIN_EVENT, RETRYING_EVENT } from './redis-event-marks';
import { taskIdOf } from './redis-keys';

/** Entries per XREAD; the longest an XREAD blocks, and so how late a type that appears is first read. */
const COUNT = 1000;
const BLOCK_MS = 1000;
/** How often the set of task types (one BullMQ stream each) is read again. */
const TYPES_MS = 1000;

/**
 * Where a reader is: the last entry id read in each type's stream, and for a
 * stream not read yet, `base` (entries after it are new to the reader).
 * Stream ids are the Redis server's ms-seq, so `base` is comparable with all.
 */
interface Position {
  base: string;
  last: Record<string, string>;
}

function encode(p: Position): string {
  return Buffer.from(JSON.stringify([p.base, p.last])).toString('base64url');
}

function decode(after: string): Position {
  try {
    const [base, last] = JSON.parse(Buffer.from(after, 'base64url').toString()) as [unknown, unknown];
    const streamId = (v: unknown): boolean => typeof v === 'string' && /^\d+-\d+$/.test(v);
    if (streamId(base) && last && typeof last === 'object' && Object.values(last).every(streamId)) return { base: base as string, last: { ...(last as Record<string, string>) } };
  } catch {
    // refused below
  }
  throw new InvalidArgumentError('after', `not an event id of this queue: ${describeValue(after)}`);
}

/** What the reader needs of the instance's RedisConnection. */
export interface EventStreams {
  readonly client: Redis;
  readonly keys: { types(): Promise<string[]> };
  handledTypes(): string[];
  eventsKey(type: string): string;
}

/**
 * `clusterEvents$` on Redis: BullMQ's own event stream of each task type's
 * queue (`<prefix>:task.<type>:events`, what QueueEvents reads), which its
 * scripts write in the same call as the job's move, so reading costs the
 * writers nothing. One XREAD BLOCK over every type's stream per subscriber,
 * on a connection of its own; the types are those pushed so far (our types
 * set), read again every TYPES_MS. An event's `id` is the reader's position in
 * every stream, so resuming from it misses nothing BullMQ still keeps (each
 * stream is trimmed to about `opts.maxLenEvents`, 10,000 entries by default:
 * some 2,500 tasks of that type, as each writes added, waiting, active and an outcome).
 */
export class RedisClusterEvents implements ClusterEventSource {
  private readonly stopped = new AbortController();
  /** Each reading stream's end (its own connection closed): the queue's shutdown waits for them. */
  private readonly open = new Set<Promise<void>>();

  constructor(
    private readonly redis: () => EventStreams,
    private readonly logger: LibraryLogger,
  ) {}

  stream(after: string | undefined): Observable<ClusterTaskEvent> {
    const start = after === undefined ? undefined : decode(after);
    return readLoop(async (emit, signal) => {
      const both = AbortSignal.any([signal, this.stopped.signal]);
      // subscribed after the queue closed: the stream completes, and opens no connection for it
      if (both.aborted) return;
      // "from now" is the subscription: the server's clock asked on the connection already open, before the reader's own
      // connects (a push awaited right after subscribing was written before that handshake ended, and was missed)
      const now = start ? undefined : this.now(this.redis().client);
      now?.catch(() => undefined);
      const client = this.redis().client.duplicate();
      // its errors are the outage the read loop logs once: unheard, ioredis wrote each to stderr (14-34 lines an outage)
      client.on('error', () => undefined);
      // once, and past the handshake (closeRedis): a second disconnect of a closed socket, or one during the ready
      // check, arms ioredis's 2 s timer to destroy it, which nothing clears and which kept the process up after close
      let closing: Promise<void> | undefined;
      const stop = (): Promise<void> => (closing ??= closeRedis(client, 'disconnect'));
      const onAbort = (): void => void stop();
      both.addEventListener('abort', onAbort);
      let ended!: () => void;
      const end = new Promise<void>((resolve) => (ended = resolve));
      this.open.add(end);
      try {
        await this.read(client, start, emit, both, now, after);
      } finally {
        both.removeEventListener('abort', onAbort);
        await stop();
        this.open.delete(end);
        ended();
      }
    });
  }

  close(): void {
    this.stopped.abort();
  }

  /**
   * Resolves once every stream has ended and its subscriber completed: the queue's shutdown waits for it, so
   * `app.close()` resolves after the streams completed (as on the other backends), not a tick before.
   */
  async closed(): Promise<void> {
    await Promise.all(this.open);
    // the completion is a reaction queued as the read loop returns: a few promise turns (real ones under fake timers too)
    for (let turn = 0; turn < 3; turn++) await Promise.resolve();
  }

  /** The server's clock as a stream id: a new reader takes what is written from now on. */
  private async now(client: Redis): Promise<string> {
    const [seconds, micros] = await client.time();
    // the last id of the ms before: an entry written in the same ms as TIME (a push sent in the same tick as the
    // subscription, both in one packet) is `<ms>-0`, which a reader placed at `<ms>-0` skipped
    return `${Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - 1}-18446744073709551615`;
  }

  /**
   * `start` undefined: a fresh reader, placed at the server's clock by its first pass. That read is in the loop, so
   * it is retried like any other, and a close before its answer ends the stream rather than erroring it.
   */
  private async read(client: Redis, start: Position | undefined, emit: (event: ClusterTaskEvent) => void, signal: AbortSignal, now?: Promise<string>, after?: string): Promise<void> {
    const failures = new ReadFailures(this.logger, 'clusterEvents$');
    // a copy: each subscription of the stream (a second subscriber, an rxjs retry) starts from `after`
    let position = start && { base: start.base, last: { ...start.last } };
    let checked = start === undefined;
    let types: string[] = [];
    let typesAt = 0;
    while (!signal.aborted) {
      try {
        if (!checked) {
          // stream ids are the server's ms: a position past its clock is no id this queue gave (a forged or foreign one)
          const serverNow = await untilAborted(this.now(client), signal);
          if (serverNow === undefined) return;
          if ([start!.base, ...Object.values(start!.last)].some((id) => later(id, serverNow))) {
            throw new InvalidArgumentError('after', `not an event id of this queue: ${describeValue(after)} is past the server's clock`);
          }
          checked = true;
        }
        // the subscription's own reading of the clock first; a failed one is taken again here, as any read
        const base = position ? undefined : await untilAborted((now ?? this.now(client)).finally(() => (now = undefined)), signal);
        if (!position && base === undefined) return;
        const at = (position ??= { base: base!, last: {} });
        if (Date.now() - typesAt >= TYPES_MS) {
          const listed = await untilAborted(this.redis().keys.types(), signal);
          if (listed === undefined) return;
          types = [...new Set([...listed, ...this.redis().handledTypes()])].sort();
          typesAt = Date.now();
        }
        if (!types.length) {
          await pause(TYPES_MS, signal);
          continue;
        }
        const keys = types.map((t) => this.redis().eventsKey(t));
        const ids = types.map((t) => at.last[t] ?? at.base);
        const reply = (await untilAborted(client.xread('COUNT', COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', ...keys, ...ids), signal)) as Array<[string, Array<[string, string[]]>]> | null | undefined;
        if (reply === undefined) return;
        failures.ok();
        for (const [key, entries] of reply ?? []) {
          const type = types[keys.indexOf(key)];
          for (const [id, fields] of entries) {
            at.last[type] = id;
            const event = eventOf(type, id, fields);
            if (event && !signal.aborted) emit({ id: encode(at), ...event });
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof InvalidArgumentError) throw err;
        failures.failed(err);
        await pause(1000, signal);
      }
    }
  }
}

/**
 * `p`, or undefined once `signal` aborts: a command waits in ioredis's offline queue while Redis is away, and a
 * disconnect did not settle it, so a stream's end (and app.close(), which waits for it) waited for Redis to come back.
 */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return (p.catch(() => undefined), Promise.resolve(undefined));
  return new Promise<T | undefined>((resolve, reject) => {
    const abort = (): void => resolve(undefined);
    signal.addEventListener('abort', abort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', abort), resolve(v)),
      (err: unknown) => (signal.removeEventListener('abort', abort), signal.aborted ? resolve(undefined) : reject(err)),
    );
  });
}

/** Whether stream id `a` (ms-seq) is more than a second past `b`: the slack is for a server clock NTP set back a little. */
function later(a: string, b: string): boolean {
  return Number(a.split('-')[0]) > Number(b.split('-')[0]) + 1000;
}

/** The outcome a stream entry reports, or undefined for the entries clusterEvents$ does not carry. */
function eventOf(type: string, streamId: string, fields: string[]): Omit<ClusterTaskEvent, 'id'> | undefined {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
  let kind: ClusterEventKind;
  if (f.event === 'completed') kind = f.returnvalue === CANCELLED_RESULT_JSON ? 'cancelled' : 'succeeded';
  else if (f.event === 'failed') kind = f.failedReason === CANCELLED_DEFERRED ? 'cancelled' : 'dead';
  else if (f.event === CANCELLED_EVENT[1]) kind = 'cancelled';
  else if (f.event === RETRYING_EVENT) kind = 'retrying';
  else if (f.event === 'added' || f.event === QUEUED_AGAIN_EVENT) kind = 'queued';
  else if (f.event === 'active') kind = 'started';
  else return undefined;
  if (!f.jobId) return undefined;
  // only our own entries carry the attempt; BullMQ's do not
  const event = { kind, taskId: taskIdOf(f.jobId), type, attempt: Number(f.attempt ?? 0), at: new Date(Number(streamId.split('-')[0])) };
  return (kind === 'dead' || kind === 'retrying') && f.failedReason !== undefined ? { ...event, error: f.failedReason } : event;
}
