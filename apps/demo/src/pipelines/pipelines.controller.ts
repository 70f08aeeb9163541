import { Body, Controller, HttpCode, HttpStatus, Logger, Post } from '@nestjs/common';
import { type FlowIds, TaskQueue } from 'nestjs-queue-scheduler';
import { definedOnly } from '../common/validation';
import { pipelineFlow } from './pipeline-flow';
import { PipelineDownloadDto, PushPipelineDto } from './pipeline.dto';

@Controller('pipelines')
export class PipelinesController {
  private readonly logger = new Logger(PipelinesController.name);

  constructor(private readonly queue: TaskQueue) {}

  /** 202 with the ids of the whole tree, shaped as pushed: the convert's id, and under it the downloads' ids in order. */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  async push(@Body() dto: PushPipelineDto): Promise<FlowIds> {
    const ids = await this.queue.pushFlow(pipelineFlow({ ...(definedOnly(dto) as PushPipelineDto), downloads: dto.downloads.map((d) => definedOnly(d) as PipelineDownloadDto) }));
    this.logger.log(`pipeline ${ids.taskId} (convert_format of ${dto.downloads.length} download(s)) pushed via API`);
    return ids;
  }
}
