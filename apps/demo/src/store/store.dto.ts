import { IsDefined, IsNumber, IsOptional, IsPositive } from 'class-validator';

/** Body of PUT /api/store/:key. Any JSON value but null: a missing key reads as null, so storing null would be ambiguous. */
export class SetStoreValueDto {
  @IsDefined()
  value!: unknown;

  /** Seconds until the key expires; omitted: kept until deleted. */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @IsPositive()
  ttlSeconds?: number;
}
