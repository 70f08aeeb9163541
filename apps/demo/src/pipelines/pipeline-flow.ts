import type { FlowInput } from 'nestjs-queue-scheduler';
import type { ConvertParams } from '../handlers/convert.handlers';
import type { DownloadParams } from '../handlers/audio.handlers';

export interface Pipeline extends ConvertParams {
  downloads: DownloadParams[];
}

/**
 * The download → convert pipeline as one flow: the convert is the parent, so
 * it becomes ready only once every download succeeded, and reads their files
 * through `ctx.childResults()`. A download that ends dead (out of its retries)
 * makes the convert dead too, naming it (the default `onChildFailure: 'fail'`).
 */
export function pipelineFlow({ downloads, ...convert }: Pipeline): FlowInput {
  return {
    type: 'convert_format',
    params: convert,
    children: downloads.map((d) => ({ type: 'download_audio', params: d })),
  };
}
