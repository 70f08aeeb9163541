import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Logger, Param, Patch, Post } from '@nestjs/common';
import { SchedulerService, type SchedulerTask } from 'nestjs-queue-scheduler';
import { definedOnly } from '../common/validation';
import { CreateScheduleDto, UpdateScheduleDto } from './schedule.dto';

/** Schedules are rows in the database: every change here survives restarts and is seen by every instance. */
@Controller('schedules')
export class SchedulesController {
  private readonly logger = new Logger(SchedulesController.name);

  constructor(private readonly scheduler: SchedulerService) {}

  @Get()
  list(): Promise<SchedulerTask[]> {
    return this.scheduler.listSchedules();
  }

  @Post()
  async create(@Body() dto: CreateScheduleDto): Promise<SchedulerTask> {
    const row = await this.scheduler.addSchedule(definedOnly(dto) as CreateScheduleDto);
    this.logger.log(`schedule ${row.taskId} '${row.name}' (${row.taskType}) created via API`);
    return row;
  }

  @Get(':id')
  get(@Param('id') id: string): Promise<SchedulerTask> {
    return this.scheduler.getSchedule(id);
  }

  @Patch(':id')
  update(@Param('id') id: string, @Body() dto: UpdateScheduleDto): Promise<SchedulerTask> {
    // Only the fields sent: the library treats a present key as a change (see definedOnly).
    return this.scheduler.updateSchedule(id, definedOnly(dto));
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  async remove(@Param('id') id: string): Promise<void> {
    await this.scheduler.deleteSchedule(id);
  }

  @Post(':id/pause')
  @HttpCode(HttpStatus.OK)
  pause(@Param('id') id: string): Promise<SchedulerTask> {
    return this.scheduler.pauseSchedule(id);
  }

  @Post(':id/resume')
  @HttpCode(HttpStatus.OK)
  resume(@Param('id') id: string): Promise<SchedulerTask> {
    return this.scheduler.resumeSchedule(id);
  }

  /** One extra occurrence now; the schedule's own next run and run count stay as they are. */
  @Post(':id/run')
  @HttpCode(HttpStatus.ACCEPTED)
  async runNow(@Param('id') id: string): Promise<{ taskId: string }> {
    const row = await this.scheduler.getSchedule(id);
    const taskId = await this.scheduler.runNow(id);
    this.logger.log(`task ${taskId} (${row.taskType}) pushed by run-now of schedule ${id} '${row.name}'`);
    return { taskId };
  }
}
