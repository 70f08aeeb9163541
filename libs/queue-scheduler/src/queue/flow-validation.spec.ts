import { InvalidTaskError } from '../errors/errors';
import { type FlowInput, MAX_FLOW_NODES } from '../interfaces/flow.interface';
import { normalizeFlow } from './flow-validation';
import { normalizePush } from './task-validation';

const normalize = (input: Parameters<typeof normalizePush>[0]) => normalizePush(input, 1 << 20);

function refusal(flow: unknown): InvalidTaskError {
  try {
    normalizeFlow(flow, normalize);
  } catch (err) {
    if (err instanceof InvalidTaskError) return err;
    throw err;
  }
  throw new Error('the flow was accepted');
}

describe('normalizeFlow size limit', () => {
  it('takes a parent over 10,000 children (the benchmark flow), parents before children', () => {
    const flow: FlowInput = { type: 'convert', children: Array.from({ length: 10_000 }, (_, i) => ({ type: 'download', params: { i } })) };
    const tasks = normalizeFlow(flow, normalize);
    expect(tasks).toHaveLength(10_001);
    expect(tasks[0]).toMatchObject({ parent: -1, children: 10_000 });
    expect(tasks.slice(1).every((t) => t.parent === 0 && t.children === 0)).toBe(true);
    expect(new Set(tasks.map((t) => t.task.taskId)).size).toBe(10_001);
  });

  it('refuses a flow of more than MAX_FLOW_NODES tasks, naming the first node past the limit', () => {
    const flow = { type: 'convert', children: Array.from({ length: MAX_FLOW_NODES }, () => ({ type: 'download' })) };
    const err = refusal(flow);
    // the root is task 1, so children[MAX_FLOW_NODES - 1] is the one too many
    expect(err.field).toBe(`children[${MAX_FLOW_NODES - 1}]`);
    expect(err.message).toContain(`larger than ${MAX_FLOW_NODES} tasks`);
  });

  it('counts nodes at every level, not only the root’s children', () => {
    const half = Math.ceil(MAX_FLOW_NODES / 2);
    const flow = { type: 'root', children: [0, 1].map(() => ({ type: 'mid', children: Array.from({ length: half }, () => ({ type: 'leaf' })) })) };
    expect(refusal(flow).message).toContain(`larger than ${MAX_FLOW_NODES} tasks`);
  });
});
