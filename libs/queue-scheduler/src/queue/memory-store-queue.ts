import type { ResolvedOptions } from '../interfaces/options.interface';
import type { LibraryLogger } from '../queue-scheduler.logger';
import type { MemoryPublicStore } from '../store/memory-public-store';
import { TaskQueue } from './task-queue';

/**
 * The public-store half of the memory backend (MemoryQueueService): the
 * store methods of the TaskQueue contract over one in-process store.
 */
export abstract class MemoryStoreQueue extends TaskQueue {
  protected abstract readonly store: MemoryPublicStore;
  protected abstract readonly options: ResolvedOptions;
  protected abstract readonly logger: LibraryLogger;

  setPublic(key: string, value: unknown, ttlSeconds?: number | null): void {
    this.store.set(key, value, ttlSeconds);
  }

  getPublic<T = unknown>(key: string): T | null {
    return this.store.get<T>(key);
  }

  deletePublic(key: string): boolean {
    return this.store.delete(key);
  }

  listKeys(): string[] {
    return this.store.keys();
  }

  getStoreSize(): number {
    return this.store.size();
  }

  clearStore(): void {
    this.store.clear();
  }

  cleanup(): number {
    const removed = this.store.cleanup();
    if (removed > 0) this.logger.debug(`public store: ${removed} expired key(s) removed`);
    return removed;
  }

  startCleanup(): void {
    this.store.startCleanup(
      this.options.store.cleanupIntervalSeconds,
      () => this.cleanup(),
      (err) => this.logger.error('public store cleanup failed', err),
    );
  }

  stopCleanup(): void {
    this.store.stopCleanup();
  }
}
