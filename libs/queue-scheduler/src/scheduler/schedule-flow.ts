import { describeValue, InvalidScheduleError, InvalidTaskError } from '../errors/errors';
import type { FlowInput } from '../interfaces/flow.interface';
import type { ScheduleFlow } from '../interfaces/schedule.interface';
import { normalizeFlow } from '../queue/flow-validation';
import { normalizePush } from '../queue/task-validation';

/** `scheduler_task.flow` is TEXT: 64 KiB on MySQL/MariaDB. */
export const SCHEDULE_FLOW_MAX_BYTES = 65_535;

function bad(field: string, rule: string, value: unknown): never {
  throw new InvalidScheduleError(field, `${field} ${rule}, got ${describeValue(value)}`);
}

/**
 * Validates a flow schedule's template as `pushFlow` would validate each
 * occurrence's tree (the root being the schedule's own task), so a template
 * that is stored can always be pushed; errors name the place below `flow`
 * (`flow.children[2].type`). Returns the template as it is stored (its JSON),
 * or null for a plain schedule.
 */
export function validateScheduleFlow(
  raw: unknown,
  root: { taskType: string; params: Record<string, unknown>; priority: number },
  { maxPayloadBytes }: { maxPayloadBytes: number },
): ScheduleFlow | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) bad('flow', 'must be an object { children: [...] } or null', raw);
  const extra = Object.keys(raw).filter((k) => k !== 'children');
  // the root is the schedule's own task: its type, params and priority are the schedule's fields, not the template's
  if (extra.length) bad(`flow.${extra[0]}`, 'is not a field of a flow template (only children; the root is the schedule’s own task)', (raw as Record<string, unknown>)[extra[0]]);
  const children = (raw as { children?: unknown }).children;
  if (!Array.isArray(children) || children.length === 0) bad('flow.children', 'must be a non-empty array of flow nodes', children);
  try {
    normalizeFlow({ type: root.taskType, params: root.params, priority: root.priority, children: children as FlowInput[] }, (input) => normalizePush(input, maxPayloadBytes));
  } catch (err) {
    if (!(err instanceof InvalidTaskError)) throw err;
    throw new InvalidScheduleError(`flow.${err.field}`, `flow.${err.message}`);
  }
  const json = JSON.stringify({ children });
  const bytes = Buffer.byteLength(json);
  if (bytes > SCHEDULE_FLOW_MAX_BYTES) {
    throw new InvalidScheduleError('flow', `flow is ${bytes} bytes as JSON, more than a schedule's ${SCHEDULE_FLOW_MAX_BYTES} (scheduler_task.flow is TEXT on MySQL/MariaDB)`);
  }
  return JSON.parse(json) as ScheduleFlow;
}

/**
 * The children an occurrence pushes under its root. Queued ahead of its time
 * (`scheduler.lookaheadMs`), the root is delayed to it: so is every node,
 * or the leaves would start early; a node's own delayMs counts from then.
 */
export function occurrenceChildren(flow: ScheduleFlow, delayMs: number): FlowInput[] {
  if (delayMs <= 0) return flow.children;
  const shift = (node: FlowInput): FlowInput => ({ ...node, delayMs: (node.delayMs ?? 0) + delayMs, children: node.children?.map(shift) });
  return flow.children.map(shift);
}
