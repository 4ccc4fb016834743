/**
 * A copy of the package that a test may change and run: the host-program mutation table makes its templates/ differ
 * from the real ones by one edit and runs a named test there by jest in a child process; the package command test
 * runs `npm run package` in it. The copy shares node_modules and .gen with the package by symlink and is removed by
 * `dispose()`; the package itself is never written.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { packageRoot } from "../lib/templates";

/** One edit of one file under templates/: `find` must occur exactly `count` times (default 1), each is replaced. */
export interface TemplateEdit {
  readonly file: string;
  readonly find: string;
  readonly replace: string;
  readonly count?: number;
}

/** A test by its file (relative to the package) and its full name (describe blocks and title, space-separated). */
export interface NamedTest {
  readonly file: string;
  readonly name: string;
}

export interface TestOutcome {
  /** "error": the file did not load, so the test never ran. */
  readonly status: "passed" | "failed" | "missing" | "error";
  /** The first failure message, or jest's own error when the file could not run. */
  readonly message: string;
}

// What a test run reads: everything else (node_modules, .gen) is linked.
const COPIED = ["package.json", "jest.config.js", "tsconfig.json", "tsconfig.test.json", "main.ts", "lib", "constructs", "templates", "sandbox", "scripts", "__tests__", "examples"];
const LINKED = ["node_modules", ".gen"];

export class PackageCopy {
  readonly root: string;
  private readonly base: string;

  constructor() {
    const source = packageRoot();
    this.base = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-mutant-"));
    this.root = path.join(this.base, "package");
    fs.mkdirSync(this.root);
    // The real-machine tier (folders named vm) is never run from a copy.
    const wanted = (from: string) => !/^(__tests__|sandbox)\/vm(\/|$)/.test(path.relative(source, from));
    for (const entry of COPIED) fs.cpSync(path.join(source, entry), path.join(this.root, entry), { recursive: true, filter: wanted });
    for (const entry of LINKED) fs.symlinkSync(fs.realpathSync(path.join(source, entry)), path.join(this.root, entry));
    // The tests find the shared inputs (providers, schemas) beside the package.
    const shared = path.join(source, "..", "shared");
    if (fs.existsSync(shared)) fs.symlinkSync(fs.realpathSync(shared), path.join(this.base, "shared"));
  }

  /** Applies the edits to the copy's templates/ (the real text first, so edits never stack). */
  mutate(edits: readonly TemplateEdit[]): void {
    this.restore();
    for (const edit of edits) {
      const file = path.join(this.root, "templates", edit.file);
      const text = fs.readFileSync(file, "utf8");
      const found = text.split(edit.find).length - 1;
      if (found !== (edit.count ?? 1)) {
        throw new Error(`templates/${edit.file}: ${JSON.stringify(edit.find)} occurs ${found} times, not ${edit.count ?? 1}: the mutant no longer applies`);
      }
      fs.writeFileSync(file, text.split(edit.find).join(edit.replace));
    }
  }

  /** Puts the package's own templates/ back. */
  restore(): void {
    fs.rmSync(path.join(this.root, "templates"), { recursive: true, force: true });
    fs.cpSync(path.join(packageRoot(), "templates"), path.join(this.root, "templates"), { recursive: true });
  }

  /** Runs the named tests of the files in the copy (all of them without `names`); the outcome of each, by name. */
  run(files: string | readonly string[], names?: readonly string[]): Map<string, TestOutcome> {
    const paths = (typeof files === "string" ? [files] : files).map((file) => path.join(this.root, file));
    const output = path.join(this.base, "result.json");
    fs.rmSync(output, { force: true });
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const env = { ...process.env };
    for (const name of Object.keys(env)) if (name.startsWith("JEST_")) delete env[name];
    const jest = spawnSync(
      process.execPath,
      [
        path.join(this.root, "node_modules", "jest", "bin", "jest.js"),
        "--config", path.join(this.root, "jest.config.js"), "--rootDir", this.root,
        "--runInBand", "--ci", "--silent", "--reporters", "default", "--json", "--outputFile", output,
        ...(names ? ["--testNamePattern", `^(${names.map(escape).join("|")})$`] : []), ...paths,
      ],
      { cwd: this.root, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
    );
    const outcomes = new Map<string, TestOutcome>((names ?? []).map((name) => [name, { status: "missing", message: "" }]));
    if (!fs.existsSync(output)) throw new Error(`jest did not run ${paths.join(", ")}: ${jest.stderr || jest.error}`);
    for (const result of JSON.parse(fs.readFileSync(output, "utf8")).testResults) {
      for (const assertion of result.assertionResults) {
        if ((names && !outcomes.has(assertion.fullName)) || assertion.status === "pending") continue;
        outcomes.set(assertion.fullName, { status: assertion.status === "passed" ? "passed" : "failed", message: (assertion.failureMessages[0] ?? "").split("\n")[0] });
      }
      if (result.status === "failed" && result.assertionResults.length === 0) {
        for (const name of names ?? [result.name]) outcomes.set(name, { status: "error", message: result.message.split("\n")[0] });
      }
    }
    return outcomes;
  }

  dispose(): void {
    fs.rmSync(this.base, { recursive: true, force: true });
  }
}
