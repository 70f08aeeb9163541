import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { MemoryQueueService, TaskContext, TaskHandler } from 'nestjs-queue-scheduler';

@Injectable()
export class AudioHandlers implements OnApplicationBootstrap {
  private readonly logger = new Logger(AudioHandlers.name);

  constructor(private readonly queue: MemoryQueueService) {}

  onApplicationBootstrap(): void {
    this.queue.setPublic('bilibili_cookie', 'SESSDATA=demo', 3600);
    const taskId = this.queue.pushTask({ type: 'download_audio', params: { url: 'https://example.com/song.mp3', savePath: '/music/song.mp3' } });
    this.logger.log(`pushed download_audio task ${taskId}`);
  }

  @TaskHandler('download_audio', { concurrency: 2, timeoutMs: 60_000, retries: { attempts: 3, backoff: 'exponential', delayMs: 1000 } })
  async download(params: { url: string; savePath: string }, ctx: TaskContext): Promise<{ savedTo: string }> {
    this.queue.setPublic(`task_${ctx.taskId}_status`, 'downloading', 600);
    await new Promise((resolve) => setTimeout(resolve, 200));
    this.queue.setPublic(`task_${ctx.taskId}_status`, 'done', 600);
    this.logger.log(`task ${ctx.taskId} (${ctx.type}) saved ${params.url} to ${params.savePath}`);
    return { savedTo: params.savePath };
  }
}
