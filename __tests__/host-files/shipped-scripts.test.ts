/**
 * What ships in user_data is the template without comments (lib/templates.ts readHostFile; python also loses its
 * functions' and classes' docstrings). These tests hold that to "the same program", against expectations that do
 * not come from readHostFile: python's AST is unchanged but for those docstrings; shell loses full-line comments and
 * nothing else, keeps its strict mode, still parses and passes shellcheck. The behaviour tests run the shipped text.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { readHostFile, templatePath } from "../../lib/templates";
import { shippedScript } from "../../sandbox/shipped";
import { leftOutLines, notComments, pythonAst, STRICT_MODE, templateText } from "../helpers/shipped-text";

const HOST_SCRIPTS = ["common/harden.sh", "common/host-lib.sh", "common/tailscale-up.sh", "common/loader.sh", "common/release-agent.py", "manager/bootstrap.sh", "worker/bootstrap.sh", "manager/token-server.py", "manager/register-workers.py", "manager/backups.py", "manager/dokploy-setup.py", "common/node-config.py", "common/docker-cleanup.sh", "common/usage-sampler.py", "worker/swarm-ca-digest.py"];

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

/**
 * What of a shell script runs python source written in the script itself: `python3 -c`, python reading its program
 * from stdin (`python3 -`, a heredoc, a pipe), or a heredoc that is python. Running a python file is fine.
 */
function embeddedPython(script: string): string[] {
  const lines = notComments(script.split("\n"));
  const inline = lines.filter((line) => /\bpython3?(\s+-[A-Za-z]+)*\s+-[A-Za-z]*c\b/.test(line) || /\bpython3?(\s+-[A-Za-z]+)*(\s+-)?\s*($|[<|;&)])/.test(line));
  const heredocs = heredocBodies(script).filter((body) => /^\s*(import \w|from [\w.]+ import |def \w+\(|print\()/m.test(body));
  return [...inline, ...heredocs];
}

/** Every shell file under templates/ (by name or by shebang), relative to templates/. */
function shellTemplates(dir = ""): string[] {
  return fs.readdirSync(templatePath(dir || "."), { withFileTypes: true }).flatMap((entry) => {
    const file = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) return shellTemplates(file);
    return file.endsWith(".sh") || /^#!\S*\b(ba)?sh\b/.test(templateText(file)) ? [file] : [];
  });
}

describe("shipped host scripts", () => {
  test("no shell file under templates/ embeds python (the check itself catches each way of doing it)", () => {
    const files = shellTemplates();
    expect(files).toEqual(expect.arrayContaining(HOST_SCRIPTS.filter((file) => file.endsWith(".sh"))));
    expect(files.filter((file) => embeddedPython(templateText(file)).length > 0)).toEqual([]);
    // The loader as it read node.json before release.conf, and the other shapes python from bash takes.
    const embedded = [
      `IFS=$'\\t' read -r ROLE SHA < <(python3 -c '\nimport json, sys\nprint(json.load(open(sys.argv[1]))["role"])' "$F")`,
      `value=$(python3 -Ic 'print(1)')`,
      `python3 - "$F" <<'PY'\nimport json\nPY`,
      `python3 <<EOF\nprint(1)\nEOF`,
      `cat "$F" | python3`,
      `run_with_retry python3 -u - <"$PROGRAM"`,
    ];
    for (const sample of embedded) expect({ sample, found: embeddedPython(sample).length > 0 }).toEqual({ sample, found: true });
    // Running a program file, even one that reads JSON from stdin, is not embedding.
    for (const sample of [`python3 "$NODE_CONFIG" - BackendState`, `exec python3 "$DIR/bin/release-agent.py" first-boot "$SHA"`, `# python3 -c was here`, `python3 -m json.tool <"$F"`]) {
      expect({ sample, found: embeddedPython(sample) }).toEqual({ sample, found: [] });
    }
  });

  test("every script under templates/ that lands on a node is covered here", () => {
    const onNodes = ["common", "manager", "worker"].flatMap((dir) =>
      fs.readdirSync(templatePath(dir)).filter((file) => /\.(sh|py)$/.test(file)).map((file) => `${dir}/${file}`),
    );
    expect(onNodes.sort()).toEqual([...HOST_SCRIPTS].sort());
  });

  test.each(HOST_SCRIPTS.filter((file) => file.endsWith(".py")))("%s: the same python program (identical AST but for docstrings)", (file) => {
    expect(pythonAst(readHostFile(file))).toBe(pythonAst(templateText(file)));
  });

  test.each(HOST_SCRIPTS.filter((file) => file.endsWith(".sh")))("%s: only comments left out, strict mode, heredocs untouched, parses, passes shellcheck", (file) => {
    const shipped = readHostFile(file);
    expect(notComments(leftOutLines(templateText(file), shipped))).toEqual([]);
    expect(heredocBodies(shipped)).toEqual(heredocBodies(templateText(file)));
    // A script starts strict; the sourced library only names its shell.
    const head = STRICT_MODE[file] ? ["#!/usr/bin/env bash", STRICT_MODE[file]] : ["# shellcheck shell=bash"];
    expect(shipped.split("\n").slice(0, head.length)).toEqual(head);
    const parse = spawnSync("bash", ["-n", shippedScript(file)], { encoding: "utf8" });
    expect(parse.stderr).toBe("");
    const lint = spawnSync("shellcheck", ["-s", "bash", "-e", "SC1091", shippedScript(file)], { encoding: "utf8" });
    if (lint.error) throw new Error(`shellcheck is not installed: ${lint.error.message}`);
    expect(lint.stdout).toBe("");
  });

  test("shipping without comments saves bytes", () => {
    const original = HOST_SCRIPTS.reduce((sum, file) => sum + templateText(file).length, 0);
    const shipped = HOST_SCRIPTS.reduce((sum, file) => sum + readHostFile(file).length, 0);
    console.log(`host scripts: ${original} bytes in the repo, ${shipped} shipped`);
    expect(shipped).toBeLessThan(original * 0.9);
  });
});
