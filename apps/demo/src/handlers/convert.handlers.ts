import { Injectable, Logger } from '@nestjs/common';
import { type TaskContext, TaskHandler } from 'nestjs-queue-scheduler';
import { publishOutcome, simulatedMs, simulateWork } from './simulate';

export const FORMATS = ['mp3', 'aac', 'flac', 'ogg'] as const;

export interface ConvertParams {
  /** The file to convert; in a pipeline (a flow whose children are downloads), the name of the joined output. */
  file: string;
  format?: string;
  /** Simulated conversion time (default 2 s). */
  simulateMs?: number;
}

@Injectable()
export class ConvertHandlers {
  private readonly logger = new Logger(ConvertHandlers.name);

  // One at a time: a real conversion would be CPU-bound, and parallel ones would only slow each other down.
  @TaskHandler('convert_format', { concurrency: 1, timeoutMs: 5 * 60_000, retries: { attempts: 2, backoff: 'fixed', delayMs: 500 } })
  async convert(params: ConvertParams, ctx: TaskContext): Promise<{ output: string; parts: string[] }> {
    const label = `task ${ctx.taskId} (${ctx.type}, attempt ${ctx.attempt}/${ctx.maxAttempts})`;
    try {
      const format = params?.format ?? 'mp3';
      if (typeof params?.file !== 'string') throw new Error('params.file must be a string');
      // An unknown format fails every try and ends dead: it shows the dead-letter path on the dashboard.
      if (!(FORMATS as readonly string[]).includes(format)) throw new Error(`unsupported format '${format}' (use ${FORMATS.join(', ')})`);
      // In a pipeline this runs only once every download succeeded (the flow's default 'fail' policy): their files are the input.
      const parts = Object.values(await ctx.childResults()).map((child) => (child.result as { savedTo: string }).savedTo);
      this.logger.log(`${label}: converting ${parts.length ? `${parts.length} downloaded part(s) into ${params.file}` : params.file} to ${format}`);
      await simulateWork(ctx, 'converting', simulatedMs(params.simulateMs, 2000), 4);
      const output = `${params.file.replace(/\.[^./]+$/, '')}.${format}`;
      publishOutcome(ctx, undefined, `wrote ${output}`);
      this.logger.log(`${label}: wrote ${output}`);
      return { output, parts };
    } catch (err) {
      // The library logs the failure with the task id and type; this only keeps the reported progress truthful.
      publishOutcome(ctx, err);
      throw err;
    }
  }
}
