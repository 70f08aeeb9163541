import { Body, Controller, Get, HttpCode, HttpStatus, Logger, Param, Post, Query } from '@nestjs/common';
import { TaskQueue, type TaskRecord } from 'nestjs-queue-scheduler';
import { definedOnly } from '../common/validation';
import { statusKey, type TaskProgress } from '../handlers/simulate';
import { ListTasksQuery, PushTaskDto } from './task.dto';

/** A task as the API shows it: the library's record plus its run time and the handler's last progress report. */
export interface TaskView extends TaskRecord {
  durationMs: number | null;
  progress: TaskProgress | null;
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
    // The list skips the store lookups: progress is per task, and the dashboard polls this often.
    return { items: page.items.map((t) => view(t, null)), nextCursor: page.nextCursor };
  }

  @Get(':id')
  async get(@Param('id') id: string): Promise<TaskView> {
    const task = await this.queue.getTask(id);
    return view(task, await this.queue.getPublic<TaskProgress>(statusKey(id)));
  }
}

function view(task: TaskRecord, progress: TaskProgress | null): TaskView {
  const durationMs = task.startedAt && task.completedAt ? task.completedAt.getTime() - task.startedAt.getTime() : null;
  return { ...task, durationMs, progress };
}
