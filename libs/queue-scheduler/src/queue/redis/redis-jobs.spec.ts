import { Job, type Queue } from 'bullmq';
import { taskLabel } from '../../queue-scheduler.logger';
import { taskOf } from './redis-jobs';
import { jobIdOf, queueNameOf } from './redis-keys';

/** What BullMQ's Job.fromJSON needs of a queue to read a job hash back (no connection is made). */
const queueNamed = (name: string) => ({ name, opts: {}, client: Promise.resolve(), toKey: (key: string) => `p:${name}:${key}` }) as unknown as Queue;

describe('taskOf (a BullMQ job as our task)', () => {
  it("names a job whose hash was deleted from outside by its id and queue, not 'task undefined (undefined)'", () => {
    for (const [taskId, type] of [
      ['plain', 'email'],
      ['sched-1:2026-01-01T00:00:00.000Z', 'report:daily'],
      ['50%:x', 'a%3Ab'],
    ]) {
      // BullMQ's reading of an empty hash: no name, data {}
      const job = Job.fromJSON(queueNamed(queueNameOf(type)), {} as never, jobIdOf(taskId));
      expect(taskLabel(taskOf(job, false))).toBe(`task ${taskId} (${type})`);
    }
  });

  it('reads a whole job as it was pushed', () => {
    const job = Job.fromJSON(queueNamed(queueNameOf('email')), { name: 'email', data: JSON.stringify({ taskId: 'from-data', params: { to: 'a' } }), timestamp: '1' } as never, jobIdOf('from-data'));
    expect(taskOf(job, false)).toMatchObject({ taskId: 'from-data', type: 'email', params: { to: 'a' } });
  });
});
