import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The seam's rules, read from the source as a new maintainer would: the
 * library's files form no import cycle, the parts every backend serves
 * (store, scheduler, workers) import no backend folder, nothing picks a
 * code path by a backend's class, and no file outgrows a read (260 lines).
 */
const SRC = resolve(__dirname, '../libs/queue-scheduler/src');
const BACKENDS = ['queue/memory', 'queue/database', 'queue/redis'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}

/** Relative imports of `file` (static, type-only and dynamic), as paths below SRC. */
function importsOf(file: string, known: ReadonlySet<string>): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)) {
    const target = resolve(dirname(file), match[1]);
    const candidate = [`${target}.ts`, join(target, 'index.ts')].find((p) => known.has(p));
    if (candidate) found.push(candidate);
  }
  return found;
}

const files = sourceFiles(SRC);
const known = new Set(files);
const graph = new Map(files.map((f) => [f, importsOf(f, known)]));
const name = (f: string): string => relative(SRC, f);

/** Tarjan's strongly connected components with more than one file (or a file importing itself). */
function cycles(): string[][] {
  let index = 0;
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    order.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)!) {
      if (!order.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, order.get(w)!));
      }
    }
    if (low.get(v) !== order.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(name(w));
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) found.push(component.sort());
  };
  for (const f of files) if (!order.has(f)) visit(f);
  return found;
}

describe('library layout', () => {
  it('reads every source file and its relative imports', () => {
    expect(files.length).toBeGreaterThan(50);
    // the module imports the backends: a parser that found no edges would pass every rule below
    expect(graph.get(join(SRC, 'queue-scheduler.module.ts'))!.map(name)).toContain('queue/memory/memory-queue.service.ts');
  });

  it('has no import cycle between files', () => {
    expect(cycles()).toEqual([]);
  });

  it.each(['store', 'scheduler', 'workers', 'handlers', 'database'])('no file of %s/ imports a backend folder', (part) => {
    const offending = files
      .filter((f) => name(f).startsWith(`${part}/`))
      .flatMap((f) => graph.get(f)!.filter((t) => BACKENDS.some((b) => name(t).startsWith(`${b}/`))).map((t) => `${name(f)} -> ${name(t)}`));
    expect(offending).toEqual([]);
  });

  it('branches on capabilities, not on a backend class, outside the module’s backend selection', () => {
    const offending = files
      .filter((f) => /instanceof\s+(MemoryQueueService|DatabaseQueueService|RedisQueueService)\b/.test(readFileSync(f, 'utf8')))
      .map(name);
    expect(offending).toEqual([]);
  });

  it('keeps each source file (specs aside) within 260 lines', () => {
    const long = files.map((f) => ({ file: name(f), lines: readFileSync(f, 'utf8').split('\n').length })).filter((f) => f.lines > 260);
    expect(long).toEqual([]);
  });
});
