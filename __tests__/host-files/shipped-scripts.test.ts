/**
 * What ships in user_data is the template without comments (lib/templates.ts readHostFile; python also loses its
 * functions' and classes' docstrings). These tests hold that to "the same program": python's AST is unchanged but
 * for those docstrings, shell heredoc bodies are untouched, and the shipped shell still parses and passes
 * shellcheck. The behaviour tests run the shipped text itself.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import { readHostFile, readTemplate, templatePath } from "../../lib/templates";
import { shippedScript } from "../../sandbox/shipped";

const HOST_SCRIPTS = ["common/harden.sh", "common/host-lib.sh", "common/tailscale-up.sh", "common/loader.sh", "common/release-agent.py", "manager/bootstrap.sh", "worker/bootstrap.sh", "manager/token-server.py", "manager/register-workers.py", "manager/backups.py", "common/docker-cleanup.sh", "common/usage-sampler.py"];

function heredocBodies(text: string): string[] {
  const bodies: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = lines[i].includes("<<<") ? null : /<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1/.exec(lines[i]);
    if (!start || /^\s*#/.test(lines[i])) continue;
    const end = lines.indexOf(start[2], i + 1);
    bodies.push(lines.slice(i + 1, end).join("\n"));
    i = end;
  }
  return bodies;
}

describe("shipped host scripts", () => {
  test("every script under templates/ that lands on a node is covered here", () => {
    const onNodes = ["common", "manager", "worker"].flatMap((dir) =>
      fs.readdirSync(templatePath(dir)).filter((file) => /\.(sh|py)$/.test(file)).map((file) => `${dir}/${file}`),
    );
    expect(onNodes.sort()).toEqual([...HOST_SCRIPTS].sort());
  });

  test.each(HOST_SCRIPTS.filter((file) => file.endsWith(".py")))("%s: the same python program (identical AST but for docstrings)", (file) => {
    // Drops each function's and class's docstring when more of its body follows (what readHostFile drops).
    const program = [
      "import ast, sys",
      "tree = ast.parse(sys.stdin.read())",
      "for node in ast.walk(tree):",
      "    if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and len(node.body) > 1 and isinstance(node.body[0], ast.Expr) \\",
      "            and isinstance(node.body[0].value, ast.Constant) and isinstance(node.body[0].value.value, str):",
      "        node.body = node.body[1:]",
      "print(ast.dump(tree))",
    ].join("\n");
    const dump = (source: string) => spawnSync("python3", ["-c", program], { input: source, encoding: "utf8" });
    const original = dump(readTemplate(file));
    const shipped = dump(readHostFile(file));
    expect(original.status).toBe(0);
    expect(shipped.stdout).toBe(original.stdout);
  });

  test.each(HOST_SCRIPTS.filter((file) => file.endsWith(".sh")))("%s: heredocs untouched, parses, passes shellcheck", (file) => {
    const shipped = readHostFile(file);
    expect(heredocBodies(shipped)).toEqual(heredocBodies(readTemplate(file)));
    expect(shipped.split("\n")[0]).toBe(readTemplate(file).split("\n")[0]);
    const parse = spawnSync("bash", ["-n", shippedScript(file)], { encoding: "utf8" });
    expect(parse.stderr).toBe("");
    const lint = spawnSync("shellcheck", ["-s", "bash", "-e", "SC1091", shippedScript(file)], { encoding: "utf8" });
    if (lint.error) throw new Error(`shellcheck is not installed: ${lint.error.message}`);
    expect(lint.stdout).toBe("");
  });

  test("shipping without comments saves bytes", () => {
    const original = HOST_SCRIPTS.reduce((sum, file) => sum + readTemplate(file).length, 0);
    const shipped = HOST_SCRIPTS.reduce((sum, file) => sum + readHostFile(file).length, 0);
    console.log(`host scripts: ${original} bytes in the repo, ${shipped} shipped`);
    expect(shipped).toBeLessThan(original * 0.9);
  });
});
