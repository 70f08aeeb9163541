import fc from 'fast-check';
import { InvalidTaskHandlerError } from '../errors/errors';
import { normalizePush } from '../queue/task-validation';
import type { TaskHandlerOptions } from '../interfaces/task-handler.interface';
import { MAX_TIMER_MS } from '../queue-scheduler.constants';
import { resolveOptions } from '../queue-scheduler.options';
import { TaskHandlerRegistry } from './task-handler.registry';

describe('TaskHandlerRegistry: handler durations', () => {
  const over = MAX_TIMER_MS + 1;
  const registry = (): TaskHandlerRegistry => new TaskHandlerRegistry(resolveOptions({ logLevel: 'fatal' }));

  it.each<[string, TaskHandlerOptions]>([
    ['timeoutMs', { timeoutMs: over }],
    ['retries.delayMs', { retries: { attempts: 2, delayMs: over } }],
    ['retries.maxDelayMs', { retries: { attempts: 2, maxDelayMs: over } }],
  ])('refuses %s above the longest timer Node keeps, naming the handler, the field and the value', (field, options) => {
    const register = (): unknown => registry().register('report', 'Reports.run', () => undefined, options);
    expect(register).toThrow(InvalidTaskHandlerError);
    expect(register).toThrow(`@TaskHandler('report') on Reports.run: ${field} must be`);
    expect(register).toThrow(String(over));
    expect(register).toThrow(expect.objectContaining({ field }));
  });

  it.each<[string, TaskHandlerOptions]>([
    ['concurrency', { concurrency: 0 }],
    ['paused', { paused: 'yes' as never }],
    ['rateLimit.max', { rateLimit: { max: 0, perMs: 1000 } }],
    ['rateLimit.perMs', { rateLimit: { max: 1, perMs: 5 } }],
    ['retries.attempts', { retries: { attempts: 0 } }],
    // null is a value, not "the module's policy"
    ['retries', { retries: null as never }],
  ])('names the bad option in .field: %s', (field, options) => {
    expect(() => registry().register('report', 'Reports.run', () => undefined, options)).toThrow(expect.objectContaining({ name: 'InvalidTaskHandlerError', field }));
  });

  it('accepts them at the longest timer Node keeps', () => {
    const handler = registry().register('report', 'Reports.run', () => undefined, { timeoutMs: MAX_TIMER_MS, retries: { attempts: 2, delayMs: MAX_TIMER_MS, maxDelayMs: MAX_TIMER_MS } });
    expect(handler).toMatchObject({ timeoutMs: MAX_TIMER_MS, retries: { delayMs: MAX_TIMER_MS, maxDelayMs: MAX_TIMER_MS } });
  });
});

describe('TaskHandlerRegistry: the type', () => {
  const registry = (): TaskHandlerRegistry => new TaskHandlerRegistry(resolveOptions({ logLevel: 'fatal' }));

  it('refuses at start-up a type no push could carry, naming the handler (before, it registered and every push of it failed)', () => {
    for (const [type, problem] of [
      ['x'.repeat(192), 'at most 191 characters (it has 192)'],
      ['a\u0000b', 'NUL'],
      ['a\ud800', 'lone surrogate'],
    ]) {
      const register = (): unknown => registry().register(type, 'Reports.run', () => undefined);
      expect(register).toThrow(expect.objectContaining({ name: 'InvalidTaskHandlerError', field: 'type' }));
      expect(register).toThrow(/on Reports\.run: type /);
      expect(register).toThrow(problem);
    }
  });

  it('accepts exactly the types a push accepts', () => {
    const piece = fc.constantFrom('a', 'é', '😀', ' ', ':', '%', '\0', '\ud800', '\t', 'x'.repeat(95));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 4 }).map((p) => p.join('')), (type) => {
        const pushes = ((): boolean => {
          try {
            normalizePush({ type }, 1024);
            return true;
          } catch {
            return false;
          }
        })();
        const registers = ((): boolean => {
          try {
            registry().register(type, 'H.run', () => undefined);
            return true;
          } catch (err) {
            expect(err).toBeInstanceOf(InvalidTaskHandlerError);
            return false;
          }
        })();
        expect(registers).toBe(pushes);
      }),
      { seed: 20261206, numRuns: 2000 },
    );
  });
});
