import { Body, Controller, Get, HttpCode, HttpStatus, Logger, Param, Post, Query } from '@nestjs/common';
import { TaskQueue, type TaskRecord } from 'nestjs-queue-scheduler';
import { definedOnly } from '../common/validation';
import { ListTasksQuery, PushTaskDto } from './task.dto';

/** A task as the API shows it: the library's record (with the handler's last `ctx.progress()` report) plus its run time. */
export interface TaskView extends TaskRecord {
  durationMs: number | null;
}

@Controller('tasks')
export class TasksController {
  private readonly logger = new Logger(TasksController.name);

  constructor(private readonly queue: TaskQueue) {}

  /** 202: the task is queued, not done; poll GET /api/tasks/:id or watch /api/events. */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  async push(@Body() dto: PushTaskDto): Promise<{ taskId: string }> {
    const taskId = await this.queue.pushTask(definedOnly(dto) as PushTaskDto);
    this.logger.log(`task ${taskId} (${dto.type}) pushed via API`);
    return { taskId };
  }

  @Get()
  async list(@Query() query: ListTasksQuery): Promise<{ items: TaskView[]; nextCursor?: string }> {
    const page = await this.queue.listTasks({ limit: 50, ...definedOnly(query) });
    return { items: page.items.map(view), nextCursor: page.nextCursor };
  }

  @Get(':id')
  async get(@Param('id') id: string): Promise<TaskView> {
    return view(await this.queue.getTask(id));
  }
}

function view(task: TaskRecord): TaskView {
  const durationMs = task.startedAt && task.completedAt ? task.completedAt.getTime() - task.startedAt.getTime() : null;
  return { ...task, durationMs };
}
