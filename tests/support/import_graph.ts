/**
 * Reads the import graph of the production code (`domain/`, `app/`, `adapters/`) and checks
 * the hexagon's two dependency rules against it. Kept apart from its test so that the rules
 * can be checked on made-up graphs too (a rule that cannot fail proves nothing).
 *
 * @module
 */

import { dirname, join, normalize, relative } from "node:path";

/** One import: the importing file and what it names, both relative to the repository. */
export interface ImportEdge {
  /** The importing file, e.g. `adapters/xmpp/client_link.ts`. */
  readonly from: string;
  /** A repository path for a relative import, else the specifier as written (`zod`). */
  readonly to: string;
}

/**
 * Packages the domain may use: pure libraries with no I/O. zod parses fpush's publish
 * options in `domain/fpush_publish.ts`; anything else (node:, npm: with I/O) is an adapter's.
 */
export const DOMAIN_PACKAGES: ReadonlySet<string> = new Set(["zod"]);

/** A broken rule: which edge, and which rule it breaks. */
export interface Violation {
  readonly edge: ImportEdge;
  readonly rule: string;
}

/**
 * `import ... from "x"`, `import "x"` and `export {...}/* from "x"`, each at a line start;
 * the clause before `from` holds only names, braces, commas, `*`, `type` and `as`.
 */
const STATIC = /^[ \t]*(?:import(?:[\s\w$*{},]+?\bfrom)?|export[\s\w$*{},]+?\bfrom)\s*"([^"]+)"/gm;
/** `import("x")` anywhere. */
const DYNAMIC = /\bimport\(\s*"([^"]+)"\s*\)/g;

/** The module specifiers a TypeScript source names in imports and re-exports. */
export function specifiersOf(source: string): string[] {
  // Comments may quote imports (JSDoc examples); they are not edges.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  return [...code.matchAll(STATIC), ...code.matchAll(DYNAMIC)]
    .sort((a, b) => a.index - b.index)
    .map((match) => match[1]);
}

/** Every import of every `.ts` file under `dirs` of the repository at `root`. */
export async function readImportGraph(
  root: string,
  dirs: readonly string[],
): Promise<ImportEdge[]> {
  const edges: ImportEdge[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(join(root, dir))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && entry.name.endsWith(".ts")) {
        const source = await Deno.readTextFile(join(root, path));
        for (const specifier of specifiersOf(source)) {
          const to = specifier.startsWith(".")
            ? relative(root, normalize(join(root, dirname(path), specifier)))
            : specifier;
          edges.push({ from: path, to });
        }
      }
    }
  };
  for (const dir of dirs) await walk(dir);
  return edges;
}

const topFolder = (path: string): string => path.split("/", 1)[0];
const isRelativeTarget = (edge: ImportEdge): boolean =>
  ["domain", "app", "adapters", "lib", "tests", "bench"].includes(topFolder(edge.to)) ||
  edge.to.startsWith("..");

/**
 * The edges that break a rule: nothing in `adapters/` imports `app/` (adapters implement
 * the ports, which live in `domain/ports/`); nothing in `domain/` imports a file outside
 * `domain/`, nor a package other than {@link DOMAIN_PACKAGES}; nothing in `lib/` (helpers
 * that know nothing of push: timeouts, backoff) imports a file outside `lib/`; the use
 * cases (`app/use_cases/`) reach the world through the ports only, never an adapter.
 */
export function violations(edges: readonly ImportEdge[]): Violation[] {
  const found: Violation[] = [];
  for (const edge of edges) {
    const from = topFolder(edge.from);
    if (edge.from.startsWith("app/use_cases/") && topFolder(edge.to) === "adapters") {
      found.push({ edge, rule: "app/use_cases/ must depend on ports, not adapters/" });
    }
    if (from === "lib" && isRelativeTarget(edge) && topFolder(edge.to) !== "lib") {
      found.push({ edge, rule: "lib/ must import only lib/" });
    }
    if (from === "adapters" && topFolder(edge.to) === "app") {
      found.push({ edge, rule: "adapters/ must not import app/" });
    }
    if (from === "domain") {
      const outside = isRelativeTarget(edge)
        ? topFolder(edge.to) !== "domain"
        : !DOMAIN_PACKAGES.has(edge.to);
      if (outside) found.push({ edge, rule: "domain/ must import only domain/" });
    }
  }
  return found;
}
