/**
 * Expectations for the shipped text of templates/ that do not come from lib/templates.ts (the code that makes it):
 * the template file read as is, python's own parser, and each script's strict-mode line written out.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** The strict-mode line right under each shell script's shebang (host-lib.sh is sourced, so it has none). */
export const STRICT_MODE: Record<string, string> = {
  "common/harden.sh": "set -euo pipefail",
  "common/tailscale-up.sh": "set -Eeuo pipefail",
  "manager/bootstrap.sh": "set -Eeuo pipefail",
  "worker/bootstrap.sh": "set -Eeuo pipefail",
  "common/loader.sh": "set -Eeuo pipefail",
  "common/docker-cleanup.sh": "set -euo pipefail",
};

/** A file of templates/, read directly. */
export function templateText(relativePath: string): string {
  return fs.readFileSync(path.join(__dirname, "..", "..", "templates", relativePath), "utf8");
}

/**
 * The template's lines that `shipped` leaves out, after checking that leaving lines out is all it does (a python line
 * may also lose a trailing comment when `trailingComments`). Throws at the first shipped line not found in order.
 */
export function leftOutLines(template: string, shipped: string, trailingComments = false): string[] {
  const wanted = shipped.split("\n");
  const left: string[] = [];
  let next = 0;
  for (const line of template.split("\n")) {
    const same = line === wanted[next] || (trailingComments && line.replace(/\s+#\s.*$/, "") === wanted[next]);
    if (next < wanted.length && same) next++;
    else left.push(line);
  }
  if (next < wanted.length) throw new Error(`shipped line ${next + 1} is not the template's next line: ${JSON.stringify(wanted[next])}`);
  return left;
}

/** The lines of `lines` that are not full-line comments. */
export const notComments = (lines: string[]) => lines.filter((line) => !/^\s*#/.test(line));

/** python's `ast.dump` of a program, each function's and class's docstring left out when more of its body follows. */
export function pythonAst(source: string): string {
  const program = [
    "import ast, sys",
    "tree = ast.parse(sys.stdin.read())",
    "for node in ast.walk(tree):",
    "    if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and len(node.body) > 1 and isinstance(node.body[0], ast.Expr) \\",
    "            and isinstance(node.body[0].value, ast.Constant) and isinstance(node.body[0].value.value, str):",
    "        node.body = node.body[1:]",
    "print(ast.dump(tree))",
  ].join("\n");
  const dump = spawnSync("python3", ["-c", program], { input: source, encoding: "utf8" });
  if (dump.status !== 0) throw new Error(`python3 cannot parse the program: ${dump.stderr}`);
  return dump.stdout;
}
