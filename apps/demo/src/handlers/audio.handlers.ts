import { Injectable, Logger } from '@nestjs/common';
import { type TaskContext, TaskHandler, TaskQueue } from 'nestjs-queue-scheduler';
import { publishOutcome, simulatedMs, simulateWork } from './simulate';

export const COOKIE_KEY = 'bilibili_cookie';

export interface DownloadParams {
  url: string;
  savePath: string;
  /** Simulated download time (default 3 s). */
  simulateMs?: number;
  /** Fail this many first tries, to watch retries and backoff on the dashboard. */
  failAttempts?: number;
}

/** The seed's download job, without the network: it only pretends, but honours the signal and reports progress. */
@Injectable()
export class AudioHandlers {
  private readonly logger = new Logger(AudioHandlers.name);

  constructor(private readonly queue: TaskQueue) {}

  @TaskHandler('download_audio', { concurrency: 2, timeoutMs: 60_000, retries: { attempts: 3, backoff: 'exponential', delayMs: 1000 } })
  async download(params: DownloadParams, ctx: TaskContext): Promise<{ savedTo: string; quality: string; bytes: number }> {
    const label = `task ${ctx.taskId} (${ctx.type}, attempt ${ctx.attempt}/${ctx.maxAttempts})`;
    try {
      if (typeof params?.url !== 'string' || typeof params.savePath !== 'string') {
        throw new Error('params.url and params.savePath must be strings');
      }
      // Read per try: the cookie may have been refreshed (or expired) since the task was queued.
      const cookie = await this.queue.getPublic<string>(COOKIE_KEY);
      const quality = cookie ? '320 kbps (logged in)' : '128 kbps (guest, no bilibili_cookie)';
      this.logger.log(`${label}: downloading ${params.url} at ${quality}`);
      await simulateWork(ctx, 'downloading', simulatedMs(params.simulateMs, 3000));
      if (ctx.attempt <= (params.failAttempts ?? 0)) throw new Error(`simulated network error on attempt ${ctx.attempt}`);
      const bytes = 3_000_000 + (params.url.length % 97) * 10_000;
      publishOutcome(ctx, undefined, `saved to ${params.savePath}`);
      this.logger.log(`${label}: saved ${bytes} bytes to ${params.savePath}`);
      return { savedTo: params.savePath, quality, bytes };
    } catch (err) {
      // The library logs the failure with the task id and type; this only keeps the reported progress truthful.
      publishOutcome(ctx, err);
      throw err;
    }
  }
}
