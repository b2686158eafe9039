// No module-level mutable state in src/ but the logger and Mongoose's model registry: every collaborator is made
// by an entry point and passed in (src/services.ts). Read from the TypeScript syntax tree of every file, so a new
// top-level `let`, `new Map()`, `{}` or `[]` fails here the day it is added.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { ROOT } from './support/processes.js';

/** The one file allowed a top-level `let`: the process's root logger, made on first use. */
const ALLOWED_LET = new Set(['src/logger.ts']);
/** Constructors whose top-level instances are declarations, not state: Mongoose schemas (models are `model(...)`). */
const ALLOWED_NEW = new Set(['Schema']);

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** `x as const`, `Object.freeze(…)`, or a value that cannot be mutated. */
function isImmutable(init: ts.Expression): boolean {
  if (ts.isParenthesizedExpression(init) || ts.isSatisfiesExpression(init)) return isImmutable(init.expression);
  if (ts.isAsExpression(init)) {
    return (ts.isTypeReferenceNode(init.type) && init.type.typeName.getText() === 'const') || isImmutable(init.expression);
  }
  if (ts.isCallExpression(init) && init.expression.getText() === 'Object.freeze') return true;
  if (ts.isObjectLiteralExpression(init) || ts.isArrayLiteralExpression(init)) return false;
  if (ts.isNewExpression(init)) return ALLOWED_NEW.has(init.expression.getText());
  return true; // literals, functions, calls (their results are judged where they are made), regular expressions
}

/** Every top-level declaration that holds mutable state, as `file:line: text`. */
export function moduleStateIn(file: string, text = fs.readFileSync(file, 'utf8')): string[] {
  const rel = path.relative(ROOT, file);
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const report = (node: ts.Node) =>
    found.push(`${rel}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${node.getText().split('\n')[0]}`);
  for (const statement of source.statements) {
    if (ts.isClassDeclaration(statement)) {
      for (const member of statement.members) {
        const modifiers = ts.canHaveModifiers(member) ? ts.getModifiers(member) ?? [] : [];
        const isStatic = modifiers.some((m) => m.kind === ts.SyntaxKind.StaticKeyword);
        const isReadonly = modifiers.some((m) => m.kind === ts.SyntaxKind.ReadonlyKeyword);
        if (ts.isPropertyDeclaration(member) && isStatic && (!isReadonly || (member.initializer && !isImmutable(member.initializer)))) {
          report(member);
        }
      }
    }
    if (!ts.isVariableStatement(statement)) continue;
    const isConst = (statement.declarationList.flags & ts.NodeFlags.Const) !== 0;
    if (!isConst) {
      if (!ALLOWED_LET.has(rel)) report(statement);
      continue;
    }
    for (const decl of statement.declarationList.declarations) {
      if (decl.initializer && !isImmutable(decl.initializer)) report(decl);
    }
  }
  return found;
}

test('no module in src/ keeps mutable state at its top level (but the logger)', () => {
  const found = sourceFiles(path.join(ROOT, 'src')).flatMap((file) => moduleStateIn(file));
  expect(found).toEqual([]);
});

test('the check catches each kind of module state it is meant to', () => {
  const file = path.join(ROOT, 'src', 'example.ts');
  const caught = (text: string) => moduleStateIn(file, text).length;
  expect(caught('let counter = 0;')).toBe(1);
  expect(caught('var seen;')).toBe(1);
  expect(caught('const cache = new Map<string, number>();')).toBe(1);
  expect(caught('export const queue: string[] = [];')).toBe(1);
  expect(caught('const sinks = {};')).toBe(1);
  expect(caught('class A { static instances = 0; }')).toBe(1);
  // Declarations that cannot change are fine.
  expect(caught('const TABLE = Object.freeze({ a: 1 });')).toBe(0);
  expect(caught("const NAMES = ['a', 'b'] as const;")).toBe(0);
  expect(caught("const schema = new Schema({ name: String });")).toBe(0);
  expect(caught('export const greet = (n: string) => `hi ${n}`;')).toBe(0);
  expect(caught('const LIMIT = 5;')).toBe(0);
});
