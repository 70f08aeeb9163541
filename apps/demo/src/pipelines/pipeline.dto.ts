import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { FORMATS } from '../handlers/convert.handlers';

/** One `download_audio` child of a pipeline. */
export class PipelineDownloadDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(2000)
  url!: string;

  @IsString()
  @IsNotEmpty()
  @MaxLength(500)
  savePath!: string;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(600_000)
  simulateMs?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  failAttempts?: number;
}

/**
 * Body of POST /api/pipelines: a `convert_format` of `file` that runs once
 * every download has succeeded. The demo's own bound on the downloads keeps a
 * request small; the library's limits (MAX_FLOW_NODES) are far above it.
 */
export class PushPipelineDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(500)
  file!: string;

  @IsOptional()
  @IsIn(FORMATS)
  format?: string;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(600_000)
  simulateMs?: number;

  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @ValidateNested({ each: true })
  @Type(() => PipelineDownloadDto)
  downloads!: PipelineDownloadDto[];
}
