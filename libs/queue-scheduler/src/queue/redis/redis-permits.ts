import type { RateLimit } from '../../interfaces/task-handler.interface';
import type { PermitStore } from '../rate-windows';
import type { RedisConnection } from './redis-connection';
import { RedisKeys } from './redis-keys';

/** Grants up to ARGV[1] of what the window's count leaves below ARGV[2]; the key outlives its window once (ARGV[3] ms). */
const TAKE = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used)
if grant <= 0 then return 0 end
redis.call('INCRBY', KEYS[1], grant)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return grant`;

const GIVE_BACK = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local back = math.min(used, tonumber(ARGV[1]))
if back > 0 then redis.call('DECRBY', KEYS[1], back) end
return back`;

/** The starts of each rate-limited type per window on Redis: one counter per type and window, changed by scripts only. */
export function redisPermits(redis: () => RedisConnection, prefix: string): PermitStore {
  const keys = new RedisKeys(prefix);
  return {
    take: async (type: string, want: number, limit: RateLimit, windowStart: number) =>
      Number(await redis().client.eval(TAKE, 1, keys.rateWindow(type, windowStart), want, limit.max, 2 * limit.perMs)),
    giveBack: async (type: string, n: number, _limit: RateLimit, windowStart: number) => {
      await redis().client.eval(GIVE_BACK, 1, keys.rateWindow(type, windowStart), n);
    },
  };
}
