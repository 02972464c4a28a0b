import { dirname } from 'node:path';
import ts from 'typescript';

/**
 * Types that appear in the public API's signatures but cannot be imported by name from the package root. Walks
 * every export of `indexDts` (an installed package's entry declarations): each named type its declaration refers
 * to that is declared inside the package (interfaces, type aliases, classes, enums) must itself be exported from
 * the root, and is walked in turn. Private and `#private` class members are not API and are skipped.
 * Returns `referenced type ← where it was seen` lines, sorted; empty when the surface is complete.
 */
export function unexportedPublicTypes(indexDts: string): string[] {
  const program = ts.createProgram([indexDts], {
    strict: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const root = program.getSourceFile(indexDts);
  if (!root) throw new Error(`cannot read ${indexDts}`);
  const packageDir = dirname(indexDts);
  const moduleSymbol = checker.getSymbolAtLocation(root);
  if (!moduleSymbol) throw new Error(`${indexDts} is not a module`);
  const exported = new Set<ts.Symbol>();
  for (const symbol of checker.getExportsOfModule(moduleSymbol)) exported.add(resolveAlias(checker, symbol));

  const missing = new Map<string, string>();
  const visited = new Set<ts.Symbol>();
  const queue: Array<[ts.Symbol, string]> = [...exported].map((s) => [s, s.getName()]);
  while (queue.length > 0) {
    const [symbol, name] = queue.pop()!;
    if (visited.has(symbol)) continue;
    visited.add(symbol);
    for (const declaration of symbol.getDeclarations() ?? []) {
      const visit = (node: ts.Node): void => {
        if (isPrivateMember(node)) return;
        if (
          ts.isTypeReferenceNode(node) ||
          ts.isExpressionWithTypeArguments(node) ||
          ts.isTypeQueryNode(node)
        ) {
          const target = ts.isTypeReferenceNode(node)
            ? node.typeName
            : ts.isTypeQueryNode(node)
              ? node.exprName
              : node.expression;
          const referenced = checker.getSymbolAtLocation(target);
          if (referenced) {
            const resolved = resolveAlias(checker, referenced);
            const inPackage = (resolved.getDeclarations() ?? []).some((d) =>
              d.getSourceFile().fileName.startsWith(packageDir),
            );
            const isType = (resolved.flags & (ts.SymbolFlags.Type | ts.SymbolFlags.Class)) !== 0;
            const isTypeParameter = (resolved.flags & ts.SymbolFlags.TypeParameter) !== 0;
            if (inPackage && isType && !isTypeParameter) {
              if (!exported.has(resolved)) missing.set(resolved.getName(), name);
              queue.push([resolved, `${name} → ${resolved.getName()}`]);
            }
          }
        }
        ts.forEachChild(node, visit);
      };
      visit(declaration);
    }
  }
  return [...missing].map(([type, seenIn]) => `${type} ← ${seenIn}`).sort();
}

function resolveAlias(checker: ts.TypeChecker, symbol: ts.Symbol): ts.Symbol {
  return symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
}

function isPrivateMember(node: ts.Node): boolean {
  if (!ts.isClassElement(node)) return false;
  if (node.name && ts.isPrivateIdentifier(node.name)) return true;
  return ts.getCombinedModifierFlags(node as ts.Declaration) & ts.ModifierFlags.Private ? true : false;
}
