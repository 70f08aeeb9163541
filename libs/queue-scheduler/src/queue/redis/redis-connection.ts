import { once } from 'node:events';
import type { FlowJob, FlowProducer, Job, JobJson, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ResolvedOptions } from '../../interfaces/options.interface';
import type { LibraryLogger } from '../../queue-scheduler.logger';
import { retentionMs } from '../../queue-scheduler.options';
import { RedisIndex } from './redis-index';
import { RedisKeys, jobIdOf, legacyJobIdOf, queueNameOf } from './redis-keys';
import { type BullMQModule, loadRedisPackages } from './redis-loader';
import { RedisPublicStore } from './redis-public-store';
import { RedisClusterEvents } from './redis-cluster-events';
import { closeRedis } from './redis-close';

/** A connection that failed or dropped (Node's codes, ioredis's message), not a command Redis refused. */
const NETWORK_ERROR = /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)\b|Connection is closed/;

/**
 * The Redis side of one instance: one ioredis client shared by a BullMQ
 * Queue and a Worker per task type (each Worker adds BullMQ's own blocking
 * connection), our index and the store.
 *
 * `maxRetriesPerRequest: null` (which BullMQ's workers require) makes a
 * command issued while Redis is away wait for the reconnect instead of
 * failing: a push resolves only once Redis has it.
 */
export class RedisConnection {
  readonly client: Redis;
  readonly keys: RedisIndex;
  readonly store: RedisPublicStore;
  private readonly bullmq: BullMQModule;
  private readonly queues = new Map<string, Queue>();
  private readonly workers = new Map<string, Worker>();
  private flows?: FlowProducer;
  private down = false;
  private wasReady = false;
  /** Connections lost so far: a call during which this moved may have been sent twice (see lockedUnder). */
  drops = 0;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly logger: LibraryLogger,
    private readonly onStalled: (jobId: string, type: string) => void,
  ) {
    const { bullmq, IORedis } = loadRedisPackages();
    this.bullmq = bullmq;
    const { connection, prefix } = options.queue;
    const settings = { maxRetriesPerRequest: null, connectionName: `${prefix}:queue-scheduler` };
    this.client = typeof connection === 'string' ? new IORedis(connection, settings) : new IORedis({ ...connection, ...settings });
    this.client.on('error', (err: Error) => {
      // once per outage: ioredis retries every few hundred ms and would repeat it each time
      if (this.down) return;
      this.down = true;
      this.logger.error(`redis connection lost, reconnecting: ${err.message}`);
    });
    this.client.on('close', () => this.drops++);
    this.client.on('ready', () => {
      this.wasReady = true;
      if (!this.down) return;
      this.down = false;
      this.logger.log('redis connection restored');
    });
    const keys = new RedisKeys(prefix);
    this.keys = new RedisIndex(this.client, keys);
    this.store = new RedisPublicStore(this.client, keys, this.options.store.maxValueBytes);
  }

  /** How long BullMQ keeps a finished job (every job's removeOnComplete / removeOnFail). */
  get keepJobs(): { age: number } | false {
    const keep = retentionMs(this.options.queue.retentionDays);
    return keep > 0 ? { age: Math.ceil(keep / 1000) } : false;
  }

  queueFor(type: string): Queue {
    let queue = this.queues.get(type);
    if (!queue) {
      const keep = this.keepJobs;
      queue = new this.bullmq.Queue(queueNameOf(type), {
        connection: this.client,
        prefix: this.options.queue.prefix,
        defaultJobOptions: { removeOnComplete: keep, removeOnFail: keep },
        // a Queue made to read a released type (a status call, the retention pass) would write its meta hash back, for good
        skipMetasUpdate: true,
      });
      queue.on('error', (err: Error) => this.bullmqError(`BullMQ queue for type '${type}'`, err));
      this.queues.set(type, queue);
    }
    return queue;
  }

  /**
   * A Worker that fetches by hand (no processor, autorun off): the pool's
   * claim takes jobs with getNextJob, renews their locks, and BullMQ's
   * stalled check gives a dead worker's jobs back after the lock (the lease).
   */
  workerFor(type: string): Worker {
    let worker = this.workers.get(type);
    if (!worker) {
      const { leaseMs, sweepIntervalMs, prefix } = this.options.queue;
      worker = new this.bullmq.Worker(queueNameOf(type), null, {
        connection: this.client,
        prefix,
        autorun: false,
        lockDuration: leaseMs,
        stalledInterval: sweepIntervalMs,
        // a lost try uses no attempt (see attemptsOf); one more than this and BullMQ condemns the job (RedisConsumer.take)
        maxStalledCount: this.options.queue.maxLostTries,
      });
      worker.on('error', (err: Error) => this.bullmqError(`BullMQ worker for type '${type}'`, err));
      worker.on('stalled', (jobId: string) => this.onStalled(jobId, type));
      void worker.startStalledCheckTimer();
      this.workers.set(type, worker);
      // its stalled check writes the queue's meta hash: listed, the type is released once no instance handles it
      this.keys.addTypes([type]).catch((err: unknown) => this.logger.warn(`listing type '${type}': ${(err as Error).message}`));
    }
    return worker;
  }

  /**
   * While the connection is down, its outage was logged once: BullMQ's own connections repeat it every 2 s per type,
   * each with a stack. They also fail to connect before our client notices, or reconnect after it is back: a network
   * error of theirs is that same outage, logged by our client's lines (at debug level here).
   */
  private bullmqError(what: string, err: Error): void {
    if (NETWORK_ERROR.test(`${(err as { code?: string }).code ?? ''} ${err.message}`)) this.logger.debug(`${what}: ${err.message}`);
    else if (!this.down) this.logger.error(`${what}: ${err.message}`, err);
  }

  /** Adds a tree of jobs in one MULTI (BullMQ's FlowProducer): all of them, or none. */
  async addFlow(flow: FlowJob): Promise<void> {
    this.flows ??= new this.bullmq.FlowProducer({ connection: this.client, prefix: this.options.queue.prefix });
    await this.flows.add(flow);
  }

  /** BullMQ's event stream of a type's queue: what clusterEvents$ reads. */
  eventsKey(type: string): string {
    return `${this.options.queue.prefix}:${queueNameOf(type)}:events`;
  }

  /** With queue.clusterEvents: an event of ours in a type's stream, for what BullMQ records only as a job removed (a pending task's cancel). */
  async addEvent(type: string, fields: string[]): Promise<void> {
    if (this.options.queue.clusterEvents) await this.client.xadd(this.eventsKey(type), '*', ...fields);
  }

  /** The reader of clusterEvents$ over this connection's streams. */
  clusterEvents(): RedisClusterEvents {
    return new RedisClusterEvents(() => this, this.logger);
  }

  /** The types this instance runs a Worker (and so BullMQ's stalled check) for. */
  handledTypes(): string[] {
    return [...this.workers.keys()];
  }

  /**
   * The job of a task: under its job id, or under the id an older version
   * gave it (legacyJobIdOf), so tasks pushed before an upgrade are still found.
   */
  async jobOf(type: string, taskId: string): Promise<Job | undefined> {
    const queue = this.queueFor(type);
    const job = (await queue.getJob(jobIdOf(taskId))) as Job | undefined;
    const legacy = job ? undefined : legacyJobIdOf(taskId);
    return legacy === undefined ? job : ((await queue.getJob(legacy)) as Job | undefined);
  }

  /** BullMQ's state of a task's job ('unknown': none), found as jobOf finds it. */
  async jobStateOf(type: string, taskId: string): Promise<string> {
    const queue = this.queueFor(type);
    const state = await queue.getJobState(jobIdOf(taskId));
    const legacy = state === 'unknown' ? legacyJobIdOf(taskId) : undefined;
    return legacy === undefined ? state : queue.getJobState(legacy);
  }

  /** A job of `type` read back by its BullMQ id, as `type`'s Worker would hold it under `token`; undefined when gone. */
  async jobById(type: string, jobId: string, token: string): Promise<Job | undefined> {
    const job = (await this.bullmq.Job.fromId(this.workerFor(type), jobId)) as Job | undefined;
    if (job) job.token = token;
    return job;
  }

  /**
   * The job a completion fetched along (BullMQ's fetch-next: the raw reply
   * `[jobData, jobId, …]` of moveToCompleted), locked with `token`; undefined
   * when the queue had none. Built as BullMQ's own Worker builds it.
   */
  fetchedJob(type: string, reply: unknown[], token: string): Job | undefined {
    const [data, id] = reply as [JobJson | undefined, string | undefined];
    if (!data || !id) return undefined;
    const job = this.bullmq.Job.fromJSON(this.workerFor(type), data, id);
    job.token = token;
    return job;
  }

  /**
   * Resolves when Redis answers PING. A probe right after start waits for the first connection (or its
   * error); once the connection was up and is lost, it fails at once rather than send: the command would
   * wait in ioredis's offline queue for the reconnect, one more for every probe.
   */
  async ping(): Promise<void> {
    const lost = this.unreachable;
    if (lost) throw new Error(lost);
    if (this.client.status !== 'ready') await once(this.client, 'ready');
    await this.client.ping();
  }

  /** Set once the connection that was up is lost (not while the first one is made): a command sent now would wait for the reconnect. */
  get unreachable(): string | undefined {
    return this.client.status !== 'ready' && (this.wasReady || this.down) ? `the redis connection is ${this.client.status}` : undefined;
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.close(true)));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await this.flows?.close();
    this.workers.clear();
    this.queues.clear();
    await closeRedis(this.client, 'quit');
  }
}
