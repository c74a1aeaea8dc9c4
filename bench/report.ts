import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';

/** A target a figure is held to: `value op limit`. */
export interface Target {
  readonly op: '<=' | '<' | '>=' | '>';
  readonly limit: number;
}

export type Verdict = 'met' | 'MISSED' | 'n/a';

/** One printed figure: what was measured, against what, and how to get it again. */
export interface Figure {
  /** Stable key in results.json, e.g. `tpch.geomean`. */
  readonly id: string;
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly target?: Target;
  /** The same-run baseline the figure is compared with, in words and numbers. */
  readonly baseline?: string;
  /** The command that reproduces the figure. */
  readonly command: string;
  readonly note?: string;
}

export interface Machine {
  readonly date: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
  readonly commit: string | null;
}

export function describeMachine(): Machine {
  let commit: string | null = null;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    // not a git checkout: the figure set simply has no commit
  }
  return {
    date: new Date().toISOString(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    commit,
  };
}

export function verdictOf(value: number, target: Target | undefined): Verdict {
  if (!target || !Number.isFinite(value)) return target ? 'MISSED' : 'n/a';
  switch (target.op) {
    case '<=':
      return value <= target.limit ? 'met' : 'MISSED';
    case '<':
      return value < target.limit ? 'met' : 'MISSED';
    case '>=':
      return value >= target.limit ? 'met' : 'MISSED';
    case '>':
      return value > target.limit ? 'met' : 'MISSED';
  }
}

export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return 'failed';
  let text: string;
  if (unit === 'x') text = value.toFixed(2);
  else if (Math.abs(value) >= 1000) text = Math.round(value).toLocaleString('en-US');
  else if (Math.abs(value) >= 100) text = value.toFixed(0);
  else if (Math.abs(value) >= 10) text = value.toFixed(1);
  else if (Math.abs(value) >= 1) text = value.toFixed(2);
  else text = value.toFixed(3);
  return unit === 'x' ? `${text}x` : `${text} ${unit}`;
}

function formatTarget(t: Target | undefined, unit: string): string {
  if (!t) return '';
  return `${t.op} ${formatValue(t.limit, unit)}`;
}

/** Collects figures from every benchmark, prints them as one table and writes results.json. */
export class Report {
  readonly #figures: Figure[] = [];
  readonly #problems: string[] = [];
  readonly #details: Record<string, unknown> = {};

  add(figure: Figure): void {
    this.#figures.push(figure);
    const line = `  => ${figure.name}: ${formatValue(figure.value, figure.unit)}`;
    const target = figure.target
      ? ` (target ${formatTarget(figure.target, figure.unit)}: ${verdictOf(figure.value, figure.target)})`
      : '';
    console.log(`${line}${target}`);
  }

  /** A benchmark that could not run, or whose results did not match its baseline. */
  problem(text: string): void {
    this.#problems.push(text);
    console.log(`  !! ${text}`);
  }

  /** Raw per-query or per-level numbers kept in results.json. */
  detail(key: string, value: unknown): void {
    this.#details[key] = value;
  }

  get figures(): readonly Figure[] {
    return this.#figures;
  }

  get problems(): readonly string[] {
    return this.#problems;
  }

  print(machine: Machine): void {
    const rows = this.#figures.map((f) => [
      f.name,
      formatValue(f.value, f.unit),
      formatTarget(f.target, f.unit),
      verdictOf(f.value, f.target),
      f.baseline ?? '',
      f.command,
    ]);
    const head = ['figure', 'value', 'target', 'verdict', 'baseline (same run)', 'command'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: readonly string[]) =>
      `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
    console.log('');
    console.log(
      `Sluice benchmark figures, ${machine.date.slice(0, 10)}, ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, node ${machine.node}${machine.commit ? `, commit ${machine.commit}` : ''}`,
    );
    console.log(line(head));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of rows) console.log(line(r));
    const missed = this.#figures.filter((f) => verdictOf(f.value, f.target) === 'MISSED');
    const withTarget = this.#figures.filter((f) => f.target).length;
    console.log('');
    console.log(`targets met: ${withTarget - missed.length} of ${withTarget}`);
    for (const p of this.#problems) console.log(`problem: ${p}`);
  }

  async write(file: string, machine: Machine, flags: Record<string, unknown>): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    const figures = this.#figures.map((f) => ({
      ...f,
      value: Number.isFinite(f.value) ? f.value : null,
      verdict: verdictOf(f.value, f.target),
    }));
    const body = { machine, flags, figures, problems: this.#problems, details: this.#details };
    await writeFile(file, `${JSON.stringify(body, null, 2)}\n`);
  }
}
