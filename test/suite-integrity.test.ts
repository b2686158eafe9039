// The suite holds itself to what it claims: no test file skips itself, and none asserts conditionally on its
// environment. A skipped test, a focused one (which silently skips the others), a test that returns early on a
// missing binary, or an `if (isFerretDb()) expect(…)` (the server kind is `db.capabilities.server` now) all let `npm test` pass without showing what the test names.
// Environment-dependent sizes are fine (`isFerretDb() ? 200 : 600`); environment-dependent assertions are not.
//
// The check reads each file's syntax tree (TypeScript's parser), so words inside strings and comments do not count.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { ROOT } from './support/processes.js';

/** Conditions that read the machine rather than the behaviour under test. */
const ENVIRONMENT =
  /\bprocess\.(env|platform|arch|getuid|geteuid|versions)\b|\bisFerretDb\s*\(|\bcapabilities\.server\b|\bTEST_MONGODB_KIND\b|\bexistsSync\s*\(|\bos\.(platform|type|arch|userInfo|release)\s*\(/;
const RUNNERS = /^(test|it|describe)(\.(each|concurrent|failing))*$/;
const DISABLED_RUNNERS = new Set(['xit', 'xtest', 'xdescribe', 'fit', 'fdescribe', 'ftest']);

interface Violation {
  file: string;
  line: number;
  rule: string;
  code: string;
}

/** Every way `source` skips, focuses or conditionally asserts, by line. `bareReturns`: test files only. */
function violations(file: string, source: string, opts: { bareReturns: boolean } = { bareReturns: true }): Violation[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: Violation[] = [];
  const report = (node: ts.Node, rule: string) =>
    found.push({
      file,
      line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1,
      rule,
      code: node.getText(sf).split('\n')[0]!.slice(0, 120),
    });
  const contains = (node: ts.Node | undefined, match: (n: ts.Node) => boolean): boolean => {
    if (!node) return false;
    if (match(node)) return true;
    return ts.forEachChild(node, (child) => (contains(child, match) ? true : undefined)) ?? false;
  };
  const isExpect = (n: ts.Node) => ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'expect';
  const isRunner = (n: ts.Node) => ts.isIdentifier(n) && (RUNNERS.test(n.text) || DISABLED_RUNNERS.has(n.text));
  const isBareReturn = (n: ts.Node) => ts.isReturnStatement(n) && n.expression === undefined;
  const readsEnvironment = (n: ts.Node) => ENVIRONMENT.test(n.getText(sf));

  const visit = (node: ts.Node): void => {
    // test.skip, it.todo, describe.only, test.each(…).skip…: skipped, unwritten or focused tests.
    if (ts.isPropertyAccessExpression(node) && ['skip', 'todo', 'only'].includes(node.name.text) && contains(node.expression, isRunner)) {
      report(node, `${node.name.text}: a test that does not run, or that keeps the others from running`);
    }
    // xit, xdescribe, fit, fdescribe: the same, spelt the other way.
    if (ts.isIdentifier(node) && DISABLED_RUNNERS.has(node.text) && !ts.isPropertyAccessExpression(node.parent)) {
      report(node, `${node.text}: a test that does not run, or that keeps the others from running`);
    }
    // if (<environment>) { expect(…) | return; | test(…) }
    if (ts.isIfStatement(node) && readsEnvironment(node.expression)) {
      for (const branch of [node.thenStatement, node.elseStatement]) {
        if (contains(branch, isExpect)) report(node, 'an assertion made only in some environments');
        if (opts.bareReturns && contains(branch, isBareReturn)) report(node, 'a test that returns early in some environments');
        if (contains(branch, isRunner)) report(node, 'tests registered only in some environments');
      }
    }
    // <environment> ? expect(…) : …, <environment> ? test : test.skip
    if (ts.isConditionalExpression(node) && readsEnvironment(node.condition)) {
      if (contains(node.whenTrue, isExpect) || contains(node.whenFalse, isExpect)) report(node, 'an assertion chosen by the environment');
      if (contains(node.whenTrue, isRunner) || contains(node.whenFalse, isRunner)) report(node, 'a test chosen by the environment');
    }
    // <environment> && expect(…)
    if (
      ts.isBinaryExpression(node) &&
      [ts.SyntaxKind.AmpersandAmpersandToken, ts.SyntaxKind.BarBarToken, ts.SyntaxKind.QuestionQuestionToken].includes(node.operatorToken.kind) &&
      readsEnvironment(node.left) &&
      (contains(node.right, isExpect) || contains(node.right, isRunner))
    ) {
      report(node, 'an assertion made only in some environments');
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** Every TypeScript file under test/, with whether it is a test file. */
function suiteFiles(): { file: string; isTest: boolean }[] {
  const dir = path.join(ROOT, 'test');
  const walk = (d: string): string[] =>
    fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
  return walk(dir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: path.relative(ROOT, f), isTest: f.endsWith('.test.ts') }));
}

test('no test file skips itself or asserts conditionally on its environment', () => {
  const files = suiteFiles();
  expect(files.filter((f) => f.isTest).length).toBeGreaterThan(25);
  const found = files.flatMap(({ file, isTest }) =>
    // Support code may return early on the environment (global setup uses a given database): tests may not.
    violations(file, fs.readFileSync(path.join(ROOT, file), 'utf8'), { bareReturns: isTest }),
  );
  expect(found).toEqual([]);
});

/**
 * A call of a disabled or focused runner, as a sample source for the check. The runner's name is assembled here
 * so that this file never holds such a call itself (other tools read it as a skipped or focused test).
 */
const call = (runner: string[], args = "('x', () => {});") => `${runner.join('.')}${args}`;

describe('the check itself (its positive controls)', () => {
  test.each([
    ['test.skip', call(['test', 'skip'])],
    ['it.skip', call(['it', 'skip'])],
    ['describe.skip', call(['describe', 'skip'])],
    ['test.todo', call(['test', 'todo'], "('write me');")],
    ['test.only', call(['test', 'only'])],
    ['test.each().skip', `test.each([1])('x %s', () => {}); ${call(['test', 'skip', 'each'], "([1])('y %s', () => {});")}`],
    ['xit', call(['x' + 'it'])],
    ['xdescribe', call(['x' + 'describe'])],
    ['fit', call(['f' + 'it'])],
    ['a conditional runner', `const maybe = existsSync(bin) ? test : test.skip; maybe('x', () => {});`],
    ['a conditional describe', `const d = process.env.CI ? describe : describe.skip;`],
    ['a runner chosen by the database', `(isFerretDb() ? test : xit)('x', () => {});`],
    ['an early return on a missing binary', `test('x', () => { if (!existsSync('/usr/bin/mongod')) return; expect(1).toBe(1); });`],
    ['an early return on the database kind', `test('x', async () => { if (process.env.TEST_MONGODB_KIND === 'ferretdb') { return; } });`],
    ['an assertion under an environment condition', `test('x', () => { if (process.env.CI) expect(a).toBe(1); });`],
    ['an assertion in an else branch', `test('x', () => { if (isFerretDb()) { n = 1; } else { expect(a).toBe(1); } });`],
    ['an assertion chosen by a ternary', `test('x', () => { isFerretDb() ? expect(a).toBe(1) : expect(a).toBe(2); });`],
    ['an assertion chosen by the connected server', `test('x', () => { if (db.capabilities.server === 'ferretdb') expect(a).toBe(1); });`],
    ['an assertion behind &&', `test('x', () => { process.platform === 'linux' && expect(a).toBe(1); });`],
    ['root-only assertions', `test('x', async () => { if (process.getuid?.() === 0) { await expect(p).rejects.toThrow('x'); } });`],
    ['tests registered under a condition', `if (process.env.SLOW) { test('x', () => {}); }`],
  ])('flags %s', (_name, source) => {
    expect(violations('sample.test.ts', source)).not.toEqual([]);
  });

  test.each([
    ['an environment-dependent size', `test('x', async () => { const total = isFerretDb() ? 200 : 600; expect(await run(total)).toBe(total); });`],
    ['an outcome-dependent branch', `test('x', async () => { const r = await go(); if (r.errors) expect(r.errors).toHaveLength(1); else expect(r.data).toBe(1); });`],
    ['an environment read for a value', `const SEED = Number(process.env.FUZZ_SEED ?? 1); test('x', () => { expect(SEED).toBeGreaterThan(0); });`],
    ['a helper returning an environment-dependent value', `function bin() { if (process.env.FERRETDB_BIN) return process.env.FERRETDB_BIN; return 'x'; }`],
    ['the words in strings and comments', `// test.skip, xit, if (isFerretDb()) expect\ntest('a test.skip in a name', () => { expect('describe.skip').toBe('describe.skip'); });`],
    ['a test.each table', `test.each([[1, 2]])('adds %s', (a, b) => { expect(a + 1).toBe(b); });`],
  ])('passes %s', (_name, source) => {
    expect(violations('sample.test.ts', source)).toEqual([]);
  });

  test('support code may return early on the environment', () => {
    const source = `export default async function setup() { if (process.env.TEST_MONGODB_URI) return; start(); }`;
    expect(violations('support/global-setup.ts', source, { bareReturns: false })).toEqual([]);
    expect(violations('support/global-setup.ts', source, { bareReturns: true })).not.toEqual([]);
  });
});
