import type { Job } from 'bullmq';
import type { RedisConnection } from './redis-connection';
import type { JobData } from './redis-jobs';
import { forgetKeptChild } from './redis-kept-children';

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

/**
 * A finished flow task whose id a plain push takes is in no flow from then on, as on the other backends: its old
 * parent no longer lists it (nor what it kept of its end), and its old children are let go of. Without this its
 * parent read the new task as its child, and a parent's id pushed again listed the old children.
 * `type`: the finished task's type, which its parent's records of it are keyed by.
 */
export async function leaveFlow(redis: RedisConnection, taskId: string, type: string): Promise<void> {
  const [own] = await redis.keys.flowLinks([taskId]);
  if (own === null) return;
  await letGoChildren(redis, taskId);
  const parentId = (JSON.parse(own) as { p?: string }).p;
  if (parentId !== undefined) {
    await forgetKeptChild(redis, taskId, type);
    const [parent] = await redis.keys.flowLinks([parentId]);
    if (parent) {
      const links = JSON.parse(parent) as { c?: string[] };
      await redis.client.hset(redis.keys.keys.flows, parentId, JSON.stringify({ ...links, c: (links.c ?? []).filter((id) => id !== taskId) }));
    }
  }
  await redis.client.hdel(redis.keys.keys.flows, taskId);
}
