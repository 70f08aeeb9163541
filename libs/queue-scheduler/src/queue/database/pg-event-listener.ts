import type { Sql } from '../../database/sql';
import type { LibraryLogger } from '../../queue-scheduler.logger';
import { EVENTS_CHANNEL } from './statements/task-events';

/** The part of node-postgres's pooled client this uses. */
interface PgClient {
  query(text: string): Promise<unknown>;
  on(event: 'notification', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  release(destroy?: boolean): void;
}

const RECONNECT_MS = 1000;

/**
 * One LISTEN connection per queue while `clusterEvents$` has subscribers on
 * PostgreSQL, taken from TypeORM's pool (`driver.master`) and destroyed, not
 * returned, when done (a pooled connection must not keep listening). A NOTIFY
 * wakes every reader; a dropped connection is opened again, and readers poll
 * meanwhile (NOTIFY is a wake-up only: the table is what they read).
 */
export class PgEventListener {
  private readonly wakers = new Set<() => void>();
  private subscribers = 0;
  private client?: PgClient;
  private connecting = false;
  /** A LISTEN failed and none has worked since: logged once. */
  private failing = false;
  private closed = false;

  constructor(
    private readonly sql: Sql,
    private readonly logger: LibraryLogger,
  ) {}

  subscribed(): void {
    if (this.subscribers++ === 0) void this.connect();
  }

  unsubscribed(): void {
    if (--this.subscribers === 0) this.disconnect();
  }

  /** Calls `wake` on the next NOTIFY (or reconnect); returns what unhooks it. */
  onNotify(wake: () => void): () => void {
    this.wakers.add(wake);
    return () => this.wakers.delete(wake);
  }

  close(): void {
    this.closed = true;
    this.disconnect();
  }

  private wakeAll(): void {
    for (const wake of [...this.wakers]) wake();
  }

  private async connect(): Promise<void> {
    if (this.client || this.connecting || this.closed || this.subscribers === 0) return;
    this.connecting = true;
    const pool = (this.sql.ds.driver as unknown as { master?: { connect(): Promise<PgClient> } }).master;
    let client: PgClient | undefined;
    try {
      if (!pool) throw new Error('the DataSource exposes no PostgreSQL pool (driver.master)');
      client = await pool.connect();
      const listening = client;
      client.on('error', (err) => this.lost(listening, err));
      client.on('notification', () => this.wakeAll());
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
      this.client = client;
      if (this.failing) this.logger.log(`clusterEvents$: LISTEN ${EVENTS_CHANNEL} again`);
      this.failing = false;
      if (this.closed || this.subscribers === 0) return this.disconnect();
      // what committed while no one listened is read now, not at the next poll
      this.wakeAll();
    } catch (err) {
      // a LISTEN that failed leaves a connection that may half-listen: destroyed, not handed back to the pool
      if (client && this.client !== client) client.release(true);
      // once per outage: a try every RECONNECT_MS logged a line each
      if (!this.failing) this.logger.warn(`clusterEvents$: LISTEN ${EVENTS_CHANNEL} failed, readers poll until it is back: ${(err as Error).message}`);
      this.failing = true;
      this.retry();
    } finally {
      this.connecting = false;
    }
  }

  private lost(client: PgClient, err: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.release(true);
    this.logger.warn(`clusterEvents$: the LISTEN connection failed, opening another: ${err.message}`);
    this.retry();
  }

  private retry(): void {
    if (this.closed || this.subscribers === 0) return;
    setTimeout(() => void this.connect(), RECONNECT_MS).unref();
  }

  private disconnect(): void {
    const client = this.client;
    this.client = undefined;
    client?.release(true);
  }
}
