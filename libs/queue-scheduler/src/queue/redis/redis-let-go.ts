import type { Job } from 'bullmq';
import type { RedisConnection } from './redis-connection';
import type { JobData } from './redis-jobs';

/**
 * The old children of a flow root whose id a new tree takes (a schedule's occurrence pushed again) are let go of:
 * they name no parent now, as on the databases (links, cancelled records, and the jobs still kept).
 */
export async function letGoChildren(redis: RedisConnection, rootId: string): Promise<void> {
  const [root] = await redis.keys.flowLinks([rootId]);
  const ids = root ? ((JSON.parse(root) as { c?: string[] }).c ?? []) : [];
  if (ids.length === 0) return;
  const { flows, cancelled } = redis.keys.keys;
  const [links, records, types] = await Promise.all([redis.keys.flowLinks(ids), redis.client.hmget(cancelled, ...ids), redis.keys.typesOf(ids)]);
  const writes = redis.client.multi();
  ids.forEach((id, i) => {
    if (links[i]) writes.hset(flows, id, JSON.stringify({ ...(JSON.parse(links[i]!) as object), p: undefined }));
    if (records[i]) writes.hset(cancelled, id, JSON.stringify({ ...(JSON.parse(records[i]!) as object), parentId: undefined }));
  });
  await writes.exec();
  // a few hundred reads at a time: a tree holds up to 20,000 tasks
  for (let i = 0; i < ids.length; i += 500) {
    const jobs = await Promise.all(ids.slice(i, i + 500).map((id, j) => (types[i + j] === null ? undefined : redis.jobOf(types[i + j]!, id))));
    await Promise.all(jobs.map((job: Job | undefined) => job?.updateData({ ...(job.data as JobData), parentId: undefined })));
  }
}
