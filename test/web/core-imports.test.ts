// The core (cpu, accel, hw, machine, monitor) must run unchanged in a browser worker: it may import
// nothing from Node (no `node:` modules, no npm packages) and use no Node globals. Host facilities
// (files, timers, terminal, FFI) come in through small interfaces instead. This test parses every
// core file with the TypeScript compiler, follows relative imports out of the core folders too (a
// core file importing src/util/guest-cache.ts would drag Node in), and reports each violation.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import ts from "typescript";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "../..");
export const CORE_DIRS = ["src/cpu", "src/accel", "src/hw", "src/machine", "src/monitor"];

/** Identifiers that only exist in Node (used as values, not as property names). */
const NODE_GLOBALS = new Set(["process", "Buffer", "require", "__dirname", "__filename", "global", "NodeJS"]);
const BUILTINS = new Set(builtinModules);

export interface Violation {
  file: string;
  line: number;
  what: string;
}

/** Imports (static, re-exports, dynamic) and Node-global uses in one source text. */
export function scanSource(file: string, text: string): { imports: string[]; violations: Violation[] } {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const imports: string[] = [];
  const violations: Violation[] = [];
  const at = (node: ts.Node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const checkSpecifier = (spec: string, node: ts.Node) => {
    imports.push(spec);
    if (spec.startsWith("node:") || BUILTINS.has(spec) || BUILTINS.has(spec.split("/")[0]))
      violations.push({ file, line: at(node), what: `imports Node module '${spec}'` });
    else if (!spec.startsWith(".") && !spec.startsWith("/"))
      violations.push({
        file,
        line: at(node),
        what: `imports package '${spec}' (host facilities come through interfaces)`,
      });
  };
  // Names the file declares itself (a parameter called `global` is not Node's global).
  const declared = new Set<string>();
  const collect = (node: ts.Node): void => {
    if (
      (ts.isVariableDeclaration(node) ||
        ts.isParameter(node) ||
        ts.isBindingElement(node) ||
        ts.isFunctionDeclaration(node) ||
        ts.isClassDeclaration(node) ||
        ts.isImportSpecifier(node) ||
        ts.isImportClause(node) ||
        ts.isNamespaceImport(node)) &&
      node.name &&
      ts.isIdentifier(node.name)
    )
      declared.add(node.name.text);
    ts.forEachChild(node, collect);
  };
  collect(sf);
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      checkSpecifier(node.moduleSpecifier.text, node);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg && ts.isStringLiteralLike(arg)) checkSpecifier(arg.text, node);
      else violations.push({ file, line: at(node), what: "dynamic import with a computed specifier" });
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg) && ts.isStringLiteral(arg.literal))
        checkSpecifier(arg.literal.text, node);
    } else if (
      ts.isIdentifier(node) &&
      NODE_GLOBALS.has(node.text) &&
      !declared.has(node.text) &&
      isValueReference(node)
    ) {
      violations.push({ file, line: at(node), what: `uses Node global '${node.text}'` });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { imports, violations };
}

/** False where the identifier names a property, a declaration or a label rather than a global. */
function isValueReference(id: ts.Identifier): boolean {
  const p = id.parent;
  if (ts.isPropertyAccessExpression(p) && p.name === id) return false;
  if (ts.isQualifiedName(p) && p.right === id) return false;
  if (
    (ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p) || ts.isPropertySignature(p)) &&
    p.name === id
  )
    return false;
  if ((ts.isMethodDeclaration(p) || ts.isMethodSignature(p)) && p.name === id) return false;
  if ((ts.isVariableDeclaration(p) || ts.isParameter(p) || ts.isBindingElement(p)) && p.name === id)
    return false;
  if (ts.isEnumMember(p) || ts.isLabeledStatement(p)) return false;
  return true;
}

function listTs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTs(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** Scan the core folders and every file they reach through relative imports. */
export function scanCore(root = ROOT, dirs = CORE_DIRS): { files: string[]; violations: Violation[] } {
  const queue = dirs.flatMap((d) => listTs(join(root, d)));
  const seen = new Set<string>();
  const violations: Violation[] = [];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const rel = relative(root, file);
    const { imports, violations: v } = scanSource(rel, readFileSync(file, "utf8"));
    violations.push(...v);
    for (const spec of imports) {
      if (!spec.startsWith(".")) continue;
      const target = resolve(dirname(file), spec);
      if (!existsSync(target))
        violations.push({ file: rel, line: 0, what: `imports missing file '${spec}'` });
      else queue.push(target);
    }
  }
  return { files: [...seen].map((f) => relative(root, f)).sort(), violations };
}

test("the scanner catches Node imports and globals (self-check)", () => {
  const src = [
    "import { readFileSync } from 'node:fs';",
    "import path from 'path';",
    "export * from 'koffi';",
    "import type { Foo } from './foo.ts';",
    "const pid = process.pid;",
    "const b = Buffer.from([1]);",
    "const m = require('x');",
    "const later = import('node:os');",
    'type T = import("node:stream").Readable;',
    "// process.pid in a comment is fine",
    "const s = 'Buffer in a string is fine';",
    "const o = { process: 1 }; o.process;",
    "function f(global: boolean) { return global; }",
  ].join("\n");
  const { imports, violations } = scanSource("fake.ts", src);
  assert.deepEqual(imports, ["node:fs", "path", "koffi", "./foo.ts", "node:os", "node:stream"]);
  assert.deepEqual(
    violations.map((v) => `${v.line}: ${v.what}`),
    [
      "1: imports Node module 'node:fs'",
      "2: imports Node module 'path'",
      "3: imports package 'koffi' (host facilities come through interfaces)",
      "5: uses Node global 'process'",
      "6: uses Node global 'Buffer'",
      "7: uses Node global 'require'",
      "8: imports Node module 'node:os'",
      "9: imports Node module 'node:stream'",
    ],
  );
});

test("the core (cpu, accel, hw, machine, monitor) imports nothing from Node", () => {
  const { files, violations } = scanCore();
  assert.ok(
    files.includes("src/machine/pc.ts") && files.includes("src/monitor/monitor.ts"),
    "core files found",
  );
  assert.ok(files.length > 20, `only ${files.length} core files found`);
  const outside = files.filter((f) => !CORE_DIRS.some((d) => f.startsWith(`${d}/`)));
  assert.deepEqual(
    violations.map((v) => `${v.file}:${v.line}: ${v.what}`),
    [],
    `core files (and ${outside.length} files they import from elsewhere: ${outside.join(", ") || "none"}) must stay host-neutral`,
  );
});
