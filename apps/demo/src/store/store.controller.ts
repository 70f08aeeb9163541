import { Body, Controller, Delete, Get, HttpCode, HttpStatus, NotFoundException, Param, Put } from '@nestjs/common';
import { TaskQueue } from 'nestjs-queue-scheduler';
import { SetStoreValueDto } from './store.dto';

export interface StoreEntryView {
  key: string;
  value: unknown;
}

/** The public store, shared by producers and handlers (the download handler reads `bilibili_cookie` here). */
@Controller('store')
export class StoreController {
  constructor(private readonly queue: TaskQueue) {}

  /** Live keys only: expired ones are never listed, even before the sweep removes them. */
  @Get()
  async list(): Promise<{ keys: string[] }> {
    return { keys: (await this.queue.listKeys()).sort() };
  }

  @Get(':key')
  async get(@Param('key') key: string): Promise<StoreEntryView> {
    const value = await this.queue.getPublic(key);
    if (value === null) throw new NotFoundException(`No live store key '${key}' (never set, deleted or expired)`);
    return { key, value };
  }

  @Put(':key')
  async set(@Param('key') key: string, @Body() dto: SetStoreValueDto): Promise<StoreEntryView & { ttlSeconds: number | null }> {
    await this.queue.setPublic(key, dto.value, dto.ttlSeconds);
    return { key, value: dto.value, ttlSeconds: dto.ttlSeconds ?? null };
  }

  @Delete(':key')
  @HttpCode(HttpStatus.NO_CONTENT)
  async remove(@Param('key') key: string): Promise<void> {
    if (!(await this.queue.deletePublic(key))) throw new NotFoundException(`No live store key '${key}'`);
  }
}
