import { applyDecorators, Body, type CanActivate, Controller, Get, Header, HttpCode, Param, Post, Put, Query, Req, Sse, type Type, UseGuards, UseInterceptors } from '@nestjs/common';
import { DashboardBackendInterceptor } from './dashboard-backend.interceptor';
import { asset, CONTENT_SECURITY_POLICY, page } from './dashboard-assets';
import { DashboardService } from './dashboard.service';
import { DashboardStreams } from './dashboard-streams';
import { DashboardWriteGuard } from './dashboard-write.guard';
import { optionalText, parseFrom, parseLimit, parseStatus } from './dashboard-views';

/**
 * The dashboard's routes under `path`: the page, its files, and its API
 * under `api/`. Reads are GET and change nothing; every action is POST or
 * PUT and passes the write guard (read-only mode, same origin) and then the
 * app's `guards`. A class per module: `Controller(path)` is fixed when the module is built.
 */
export function createDashboardController(path: string, guards: Type<CanActivate>[]): Type<unknown> {
  const Guarded = (): MethodDecorator => UseGuards(DashboardWriteGuard, ...guards);
  /** A route that reads the queue: bounded, and a 503 while its backend is away (see DashboardBackendInterceptor). */
  const Backend = (): MethodDecorator => UseInterceptors(DashboardBackendInterceptor);
  const Action = (): MethodDecorator => applyDecorators(Guarded(), Backend());

  @Controller(path)
  class QueueSchedulerDashboardController {
    constructor(
      private readonly dashboard: DashboardService,
      private readonly streams: DashboardStreams,
    ) {}

    @Get()
    @Header('Cache-Control', 'no-cache')
    @Header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
    @Header('X-Content-Type-Options', 'nosniff')
    @Header('Referrer-Policy', 'same-origin')
    index(@Req() req: { originalUrl?: string; url: string }) {
      return page(req.originalUrl ?? req.url, this.dashboard.config().title);
    }

    @Get('assets/:file')
    @Header('Cache-Control', 'no-cache')
    @Header('X-Content-Type-Options', 'nosniff')
    file(@Param('file') file: string) {
      return asset(file);
    }

    @Get('api/config')
    config() {
      return this.dashboard.config();
    }

    /**
     * Changes nothing; guarded like every action, so its answer (200 or the
     * guards' 403/401) tells the page whether this user may act: the app's
     * guards run on a real request, in the real pipeline, with their own rules.
     */
    @Post('api/access')
    @HttpCode(200)
    @Guarded()
    access() {
      return { actions: true };
    }

    @Get('api/stats')
    @Backend()
    stats() {
      return this.dashboard.stats();
    }

    @Get('api/tasks')
    @Backend()
    // one parameter per field, typed as strings: a host app's global ValidationPipe leaves primitives alone
    tasks(
      @Query('status') status?: string,
      @Query('type') type?: string,
      @Query('schedule') schedule?: string,
      @Query('cursor') cursor?: string,
      @Query('limit') limit?: string,
    ) {
      return this.dashboard.tasks({
        status: parseStatus(status),
        type: optionalText(type, 'type'),
        schedule: optionalText(schedule, 'schedule'),
        cursor: optionalText(cursor, 'cursor'),
        limit: parseLimit(limit, 50, 200),
      });
    }

    @Get('api/tasks/:id')
    @Backend()
    task(@Param('id') id: string) {
      return this.dashboard.task(id);
    }

    @Post('api/tasks/:id/retry')
    @HttpCode(200)
    @Action()
    retry(@Param('id') id: string) {
      return this.dashboard.retry(id);
    }

    @Post('api/tasks/:id/cancel')
    @HttpCode(200)
    @Action()
    cancel(@Param('id') id: string) {
      return this.dashboard.cancel(id);
    }

    @Post('api/tasks/:id/delete')
    @HttpCode(200)
    @Action()
    remove(@Param('id') id: string) {
      return this.dashboard.delete(id);
    }

    @Post('api/dead-tasks/delete')
    @HttpCode(200)
    @Action()
    deleteDead(@Body('type') type?: string) {
      return this.dashboard.deleteDead(optionalText(type, 'type'));
    }

    @Post('api/dead-tasks/retry')
    @HttpCode(200)
    @Action()
    retryDead(@Body('type') type?: string) {
      return this.dashboard.retryDead(optionalText(type, 'type'));
    }

    @Get('api/types')
    @Backend()
    types() {
      return this.dashboard.types();
    }

    @Post('api/types/:type/pause')
    @HttpCode(200)
    @Action()
    pauseType(@Param('type') type: string) {
      return this.dashboard.pauseType(type, true);
    }

    @Post('api/types/:type/resume')
    @HttpCode(200)
    @Action()
    resumeType(@Param('type') type: string) {
      return this.dashboard.pauseType(type, false);
    }

    @Get('api/schedules')
    @Backend()
    schedules() {
      return this.dashboard.schedules();
    }

    @Get('api/schedules/:id')
    @Backend()
    schedule(@Param('id') id: string, @Query('from') from?: string) {
      return this.dashboard.schedule(id, parseFrom(from));
    }

    @Put('api/schedules/:id')
    @Action()
    edit(@Param('id') id: string, @Body() body: object) {
      return this.dashboard.editSchedule(id, body);
    }

    @Post('api/schedules/:id/pause')
    @HttpCode(200)
    @Action()
    pauseSchedule(@Param('id') id: string) {
      return this.dashboard.scheduleAction(id, 'pause');
    }

    @Post('api/schedules/:id/resume')
    @HttpCode(200)
    @Action()
    resumeSchedule(@Param('id') id: string) {
      return this.dashboard.scheduleAction(id, 'resume');
    }

    @Post('api/schedules/:id/run')
    @HttpCode(200)
    @Action()
    runSchedule(@Param('id') id: string) {
      return this.dashboard.scheduleAction(id, 'run');
    }

    @Get('api/store')
    @Backend()
    store() {
      return this.dashboard.store();
    }

    @Sse('api/events')
    events() {
      return this.streams.open();
    }
  }
  return QueueSchedulerDashboardController;
}
