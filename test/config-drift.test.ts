// Configuration in one truth: the schema in src/config.ts. `.env.example` and the README's configuration table are
// checked against it: the same names, the same defaults (each documented default read through the setting's own
// parser gives what an unset variable gives), and any range they state is the range the schema accepts. Everything
// is derived from the schema, so a new setting needs only its line in `.env.example` and its row in the README.
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { z } from 'zod';
import { configSchema } from '../src/config.js';
import { ROOT } from './support/processes.js';

type Field = z.ZodType;
const SETTINGS = configSchema.shape as unknown as Record<string, Field>;

/** In `.env.example` (commented out) but not in the README: what no operator sets. */
const NOT_IN_README = Object.freeze({ CRASH_POINT: 'tests only (refused unless NODE_ENV=test)' });

/** What an unset variable gives. */
const unsetValue = (field: Field) => field.parse(undefined);

/** The numeric bounds a setting accepts, when it is a number with both (found through zod's wrappers). */
function boundsOf(field: Field): [number, number] | undefined {
  const def = (field as any)._zod.def;
  if (def.type === 'number') {
    const { minValue, maxValue } = field as unknown as { minValue: number | null; maxValue: number | null };
    return minValue !== null && maxValue !== null && Number.isFinite(minValue) && Number.isFinite(maxValue) ? [minValue, maxValue] : undefined;
  }
  for (const inner of [def.in, def.out, def.innerType, def.schema]) {
    const found = inner && boundsOf(inner);
    if (found) return found;
  }
  return undefined;
}

/** Whether `documented` (as written in the docs) means the same as leaving the variable unset. */
function sameAsDefault(field: Field, documented: string): boolean {
  const parsed = field.safeParse(documented);
  return parsed.success && isDeepStrictEqual(parsed.data, unsetValue(field));
}

/** "No default": unset leaves it unset (or an empty list). */
const hasNoDefault = (field: Field) => {
  const v = unsetValue(field);
  return v === undefined || (Array.isArray(v) && v.length === 0);
};

/** A range stated in prose: "1–1000", "(1-1000)", "1 to 1000". */
const RANGE = /(-?\d[\d_,]*)\s*(?:–|-|to)\s*(-?\d[\d_,]*)/;
const num = (text: string) => Number(text.replace(/[_,]/g, ''));

function rangeProblem(where: string, name: string, text: string): string | undefined {
  const m = RANGE.exec(text);
  if (!m) return undefined;
  const stated: [number, number] = [num(m[1]!), num(m[2]!)];
  const bounds = boundsOf(SETTINGS[name]!);
  if (!bounds) return `${where}: ${name} states the range ${stated.join('–')}, but src/config.ts sets no range for it`;
  if (stated[0] !== bounds[0] || stated[1] !== bounds[1]) {
    return `${where}: ${name} states the range ${stated.join('–')}, but src/config.ts accepts ${bounds.join('–')}`;
  }
  return undefined;
}

// --- .env.example -------------------------------------------------------------------------------------------

interface EnvEntry {
  name: string;
  value: string;
  commentedOut: boolean;
  /** The comment lines just above it. */
  comment: string;
  line: number;
}

function parseEnvExample(text: string): EnvEntry[] {
  const entries: EnvEntry[] = [];
  let comment: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const assignment = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (assignment) {
      entries.push({ name: assignment[2]!, value: assignment[3]!, commentedOut: !!assignment[1], comment: comment.join(' '), line: i + 1 });
      comment = [];
    } else if (line.startsWith('#')) comment.push(line.replace(/^#\s?/, ''));
    else comment = [];
  });
  return entries;
}

function envExampleProblems(text: string): string[] {
  const problems: string[] = [];
  const entries = parseEnvExample(text);
  const at = (e: EnvEntry) => `.env.example line ${e.line}`;
  for (const e of entries) {
    const field = SETTINGS[e.name];
    if (!field) {
      problems.push(`${at(e)}: ${e.name} is not a setting of src/config.ts`);
      continue;
    }
    if (e.commentedOut) continue;
    if (e.value === '' ? !hasNoDefault(field) : !sameAsDefault(field, e.value)) {
      problems.push(`${at(e)}: ${e.name}=${e.value}, but unset it is ${JSON.stringify(unsetValue(field))} in src/config.ts`);
    }
    const range = rangeProblem(at(e), e.name, e.comment);
    if (range) problems.push(range);
  }
  const listed = new Set(entries.map((e) => e.name));
  for (const name of Object.keys(SETTINGS)) if (!listed.has(name)) problems.push(`.env.example: ${name} (a setting of src/config.ts) is missing`);
  return problems;
}

// --- The README's configuration table -----------------------------------------------------------------------

/** Splits on commas outside backticks. */
function items(cell: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of cell) {
    if (ch === '`') quoted = !quoted;
    if (ch === ',' && !quoted) {
      out.push(current.trim());
      current = '';
    } else current += ch;
  }
  out.push(current.trim());
  return out;
}

function readmeTableProblems(readme: string): string[] {
  const problems: string[] = [];
  const section = /^## Configuration\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  if (!section) return ['README.md: no "## Configuration" section'];
  const rows = section.split('\n').filter((l) => /^\|\s*`[A-Z]/.test(l));
  if (rows.length === 0) return ['README.md: the "## Configuration" section has no table of variables'];
  const documented = new Set<string>();
  for (const row of rows) {
    const [names, defaults, meaning] = row.split(/(?<!\\)\|/).slice(1, 4).map((c) => c.trim());
    const rowNames = [...names!.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!);
    const values = items(defaults!);
    const where = `README.md configuration table, row ${rowNames.join(', ')}`;
    if (values.length !== rowNames.length && values.length !== 1) {
      problems.push(`${where}: ${rowNames.length} variables but ${values.length} defaults`);
      continue;
    }
    rowNames.forEach((name, i) => {
      documented.add(name);
      const field = SETTINGS[name];
      if (!field) {
        problems.push(`${where}: ${name} is not a setting of src/config.ts`);
        return;
      }
      const value = values.length === 1 ? values[0]! : values[i]!;
      const literal = /^`([^`]*)`$/.exec(value);
      if (literal ? !sameAsDefault(field, literal[1]!) : !hasNoDefault(field)) {
        problems.push(
          `${where}: ${name} defaults to ${value}, but unset it is ${JSON.stringify(unsetValue(field))} in src/config.ts` +
            (literal ? '' : ' (a default not in backticks, or —, means "none")'),
        );
      }
      if (rowNames.length === 1) {
        const range = rangeProblem(where, name, meaning!);
        if (range) problems.push(range);
      }
    });
  }
  for (const name of Object.keys(SETTINGS)) {
    if (!documented.has(name) && !(name in NOT_IN_README)) problems.push(`README.md configuration table: ${name} (a setting of src/config.ts) has no row`);
  }
  return problems;
}

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

test('.env.example lists every setting of src/config.ts, with its default and its range', () => {
  expect(envExampleProblems(read('.env.example'))).toEqual([]);
});

test("the README's configuration table has a row for every setting, with its default and its range", () => {
  expect(readmeTableProblems(read('README.md'))).toEqual([]);
});

test('the checks name the row and the setting that disagree', () => {
  const env = read('.env.example')
    .replace(/^COMPLETION_BATCH_SIZE=200$/m, 'COMPLETION_BATCH_SIZE=300')
    .replace(/\(1-1000\)/, '(1-99)')
    .replace(/^LOGIN_WINDOW=.*$/m, '');
  expect(envExampleProblems(env)).toEqual([
    expect.stringMatching(/^\.env\.example line \d+: COMPLETION_BATCH_SIZE=300, but unset it is 200 in src\/config\.ts$/),
    expect.stringMatching(/^\.env\.example line \d+: COMPLETION_BATCH_SIZE states the range 1–99, but src\/config\.ts accepts 1–1000$/),
    '.env.example: LOGIN_WINDOW (a setting of src/config.ts) is missing',
  ]);
  const readme = read('README.md')
    .replace(/^\| `JOB_POLL_INTERVAL` \| `500 ms` \|/m, '| `JOB_POLL_INTERVAL` | `1 second` |')
    .replace(/(^\| `COMPLETION_BATCH_SIZE` .*)\(1–1000\)/m, '$1(1–99)')
    .replace(/^\| `LOG_LEVEL` .*\n/m, '');
  expect(readmeTableProblems(readme)).toEqual([
    'README.md configuration table, row JOB_POLL_INTERVAL: JOB_POLL_INTERVAL defaults to `1 second`, but unset it is "500 ms" in src/config.ts',
    'README.md configuration table, row COMPLETION_BATCH_SIZE: COMPLETION_BATCH_SIZE states the range 1–99, but src/config.ts accepts 1–1000',
    'README.md configuration table: LOG_LEVEL (a setting of src/config.ts) has no row',
  ]);
});
