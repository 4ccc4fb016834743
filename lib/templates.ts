/** Files that land on hosts live in templates/ as real files; this finds them from source and from dist/. */
import * as fs from "fs";
import * as path from "path";

let cachedRoot: string | undefined;

/** The package's root directory, found by walking up to the package.json named dokploy-oci. */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, "utf8")).name === "dokploy-oci") {
      cachedRoot = dir;
      return dir;
    }
    if (path.dirname(dir) === dir) throw new Error(`cannot find the dokploy-oci package root above ${__dirname}`);
  }
}

export function templatePath(relativePath: string): string {
  return path.join(packageRoot(), "templates", relativePath);
}

export function readTemplate(relativePath: string): string {
  return fs.readFileSync(templatePath(relativePath), "utf8");
}

/**
 * A template as it is shipped to a host inside user_data: shell and python scripts and systemd units lose their
 * full-line comments, python also trailing comments and functions' docstrings (the comments explain the code in the repo;
 * on the host they only eat into OCI's 32,000-byte metadata limit). Heredoc bodies are kept as they are, since their
 * lines are data. The behaviour tests run this shipped text.
 */
export function readHostFile(relativePath: string): string {
  const text = readTemplate(relativePath);
  if (relativePath.endsWith(".sh")) return withoutShellComments(text);
  if (relativePath.endsWith(".py")) return withoutPythonComments(text);
  if (/\.(service|conf)$/.test(relativePath)) return text.replace(/^[#;].*\n/gm, "");
  return text;
}

const HEREDOC_START = /<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1/;

function withoutShellComments(text: string): string {
  let heredocEnd: { delimiter: string; tabsStripped: boolean } | undefined;
  const kept: string[] = [];
  text.split("\n").forEach((line, index) => {
    if (heredocEnd) {
      kept.push(line);
      const candidate = heredocEnd.tabsStripped ? line.replace(/^\t+/, "") : line;
      if (candidate === heredocEnd.delimiter) heredocEnd = undefined;
      return;
    }
    if (index > 0 && /^\s*#/.test(line)) return;
    kept.push(line);
    const start = line.includes("<<<") ? null : HEREDOC_START.exec(line);
    if (start) heredocEnd = { delimiter: start[2], tabsStripped: line.includes("<<-") };
  });
  return kept.join("\n");
}

function withoutPythonComments(text: string): string {
  const lines = text
    .split("\n")
    .filter((line, index) => index === 0 || !/^\s*#/.test(line))
    // A trailing comment on a line without quotes (so the # cannot be inside a string).
    .map((line) => line.replace(/^([^'"#]*\S)\s+#\s.*$/, "$1"));
  const kept: string[] = [];
  for (let index = 0; index < lines.length; index++) {
    const docstring = /^(\s+)"""/.exec(lines[index]);
    if (docstring && /^\s*(def|class) .*:$/.test(kept[kept.length - 1] ?? "")) {
      // A function's or class's docstring, dropped like a comment when more of the body follows it.
      let end = index;
      if (!lines[index].trimEnd().slice(docstring[0].length).endsWith('"""')) while (end < lines.length - 1 && !lines[++end].includes('"""'));
      const next = lines.slice(end + 1).find((line) => line.trim() !== "") ?? "";
      if (next.startsWith(docstring[1])) {
        index = end;
        continue;
      }
    }
    kept.push(lines[index]);
  }
  return kept.join("\n");
}
