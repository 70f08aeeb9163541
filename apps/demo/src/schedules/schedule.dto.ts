import { Type } from 'class-transformer';
import { IsBoolean, IsDate, IsIn, IsInt, IsNotEmpty, IsObject, IsOptional, IsString, MaxLength, Min } from 'class-validator';
import type { MisfirePolicy, ScheduleType } from 'nestjs-queue-scheduler';

export const SCHEDULE_TYPES: readonly ScheduleType[] = ['interval', 'cron', 'once'];
export const MISFIRE_POLICIES: readonly MisfirePolicy[] = ['fire_once', 'fire_all', 'skip'];

/**
 * Fields every schedule body may carry. The DTOs check types; which fields a
 * schedule type needs, cron syntax, time zones and "executeAt in the past"
 * are the library's rules (InvalidScheduleError → 400 naming the field), so
 * they are not written twice.
 */
abstract class ScheduleFieldsDto {
  @IsOptional()
  @IsInt()
  @Min(1)
  intervalSeconds?: number;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  cronExpression?: string;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  timezone?: string;

  /** ISO 8601 text or epoch milliseconds. */
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: 'executeAt must be an ISO 8601 date or epoch milliseconds' })
  executeAt?: Date;

  @IsOptional()
  @IsObject()
  params?: Record<string, unknown>;

  @IsOptional()
  @IsInt()
  @Min(0)
  maxRuns?: number;

  @IsOptional()
  @IsString()
  @MaxLength(2000)
  description?: string | null;

  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  @IsOptional()
  @IsIn(MISFIRE_POLICIES)
  misfirePolicy?: MisfirePolicy;

  @IsOptional()
  @IsInt()
  priority?: number;
}

/** Body of POST /api/schedules. */
export class CreateScheduleDto extends ScheduleFieldsDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(255)
  name!: string;

  @IsString()
  @IsNotEmpty()
  @MaxLength(191)
  taskType!: string;

  @IsIn(SCHEDULE_TYPES)
  scheduleType!: ScheduleType;
}

/** Body of PATCH /api/schedules/:id: any field; the library re-validates the schedule as a whole. */
export class UpdateScheduleDto extends ScheduleFieldsDto {
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(255)
  name?: string;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(191)
  taskType?: string;

  @IsOptional()
  @IsIn(SCHEDULE_TYPES)
  scheduleType?: ScheduleType;
}
