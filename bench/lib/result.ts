import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const RESULTS = join(ROOT, 'bench', 'results');

/** One measured figure: `subject` is ours or a peer/floor run side by side in the same run. */
export interface Row {
  case: string;
  subject: string;
  metric: string;
  unit: string;
  value: number;
  /** [min, max] over the repeats, when there were several. */
  range?: [number, number];
  repeats?: number;
}

/** A figure compared with a peer or a floor, and the issue's target for it when there is one. */
export interface Ratio {
  what: string;
  value: number;
  unit?: string;
  target?: string;
  met?: boolean;
}

export interface BenchResult {
  name: string;
  date: string;
  durationS: number;
  machine: { cpus: number; cpuModel: string; memMB: number; platform: string; loadavgStart: number[]; loadavgEnd: number[] };
  versions: Record<string, string>;
  settings: Record<string, unknown>;
  rows: Row[];
  ratios: Ratio[];
  notes: string[];
}

const version = (pkg: string): string => {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'n/a';
  }
};

export function versions(): Record<string, string> {
  const lib = JSON.parse(readFileSync(join(ROOT, 'libs', 'queue-scheduler', 'package.json'), 'utf8')) as { version: string };
  let commit = 'n/a';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {
    /* not a git checkout */
  }
  return {
    node: process.version,
    'nestjs-queue-scheduler': `${lib.version} (${commit})`,
    bullmq: version('bullmq'),
    '@nestjs/bullmq': version('@nestjs/bullmq'),
    'pg-boss': version('pg-boss'),
    '@nestjs/schedule': version('@nestjs/schedule'),
    cron: version('cron'),
    typeorm: version('typeorm'),
  };
}

/** Collects rows and ratios of one benchmark and writes bench/results/<name>.json. */
export class Recorder {
  private readonly started = Date.now();
  private readonly loadStart = os.loadavg();
  readonly rows: Row[] = [];
  readonly ratios: Ratio[] = [];
  readonly notes: string[] = [];
  readonly settings: Record<string, unknown> = {};
  readonly versions = versions();

  constructor(readonly name: string) {}

  row(row: Row): Row {
    this.rows.push(row);
    process.stderr.write(`  ${row.case} | ${row.subject} | ${row.metric}: ${fmt(row.value)} ${row.unit}${row.range ? ` [${fmt(row.range[0])}…${fmt(row.range[1])}]` : ''}\n`);
    return row;
  }

  ratio(what: string, value: number, target?: { text: string; met: boolean }, unit = '×'): void {
    this.ratios.push({ what, value, unit, target: target?.text, met: target?.met });
    process.stderr.write(`  => ${what}: ${fmt(value)}${unit}${target ? ` (target ${target.text}: ${target.met ? 'met' : 'MISSED'})` : ''}\n`);
  }

  write(): BenchResult {
    const result: BenchResult = {
      name: this.name,
      date: new Date(this.started).toISOString(),
      durationS: Math.round((Date.now() - this.started) / 100) / 10,
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        memMB: Math.round(os.totalmem() / 2 ** 20),
        platform: `${os.type()} ${os.release()} ${os.arch()}`,
        loadavgStart: this.loadStart.map((x) => Math.round(x * 100) / 100),
        loadavgEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
      },
      versions: this.versions,
      settings: this.settings,
      rows: this.rows,
      ratios: this.ratios,
      notes: this.notes,
    };
    writeFileSync(join(RESULTS, `${this.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    return result;
  }
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return Math.round(x).toLocaleString('en-US');
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}
