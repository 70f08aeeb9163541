import { Type } from 'class-transformer';
import { IsIn, IsInt, IsNotEmpty, IsObject, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import type { TaskStatus } from 'nestjs-queue-scheduler';

export const TASK_STATUSES: readonly TaskStatus[] = ['pending', 'running', 'succeeded', 'failed', 'dead', 'cancelled', 'waiting'];

/** Body of POST /api/tasks. Shapes only: the library checks the rest (payload size, JSON-safety) and its errors become 400s too. */
export class PushTaskDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(191)
  type!: string;

  @IsOptional()
  @IsObject()
  params?: Record<string, unknown>;

  @IsOptional()
  @IsInt()
  priority?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  delayMs?: number;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(191)
  taskId?: string;

  @IsOptional()
  @IsInt()
  @Min(0)
  maxRetries?: number;
}

/** Query of GET /api/tasks; query strings are text, so numbers are converted before validation. */
export class ListTasksQuery {
  @IsOptional()
  @IsIn(TASK_STATUSES)
  status?: TaskStatus;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  type?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @IsOptional()
  @IsString()
  cursor?: string;
}
