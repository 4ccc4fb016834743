/**
 * lib/templates.ts on its own: the package root it finds, and what readHostFile keeps of a template's text (each
 * kind of file on a small text written here, the shipped form written out by hand). The templates are stood in for
 * by spying on fs.readFileSync for paths under templates/fixture/, which does not exist.
 */
import type * as fsTypes from "fs";
import * as path from "path";
import { packageRoot, readHostFile, readTemplate, templatePath } from "../../lib/templates";

// The module itself: an `import * as` namespace cannot be spied on.
const fs = require("fs") as typeof fsTypes;
const ROOT = path.resolve(__dirname, "../..");
const FIXTURE_DIR = path.join(ROOT, "templates", "fixture");
/** Files the spy answers for, by absolute path; every other path is read for real. */
const fakeFiles = new Map<string, string>();
const realReadFileSync = fs.readFileSync;

beforeEach(() => {
  jest.spyOn(fs, "readFileSync").mockImplementation(((file: fsTypes.PathOrFileDescriptor, options?: unknown) => {
    const fake = typeof file === "string" ? fakeFiles.get(file) : undefined;
    return fake ?? (realReadFileSync as (...args: unknown[]) => unknown)(file, options);
  }) as typeof fs.readFileSync);
});
afterEach(() => {
  jest.restoreAllMocks();
  fakeFiles.clear();
});

/**
 * readHostFile of `lines` as the template fixture/<name>, from the module loaded afresh: its patterns are built when
 * it loads, and Stryker counts a mutant of them as covered only by the tests that load the module.
 */
function shipped(name: string, lines: string[]): string {
  fakeFiles.set(path.join(FIXTURE_DIR, name), lines.join("\n"));
  let text = "";
  jest.isolateModules(() => {
    text = (require("../../lib/templates") as typeof import("../../lib/templates")).readHostFile(`fixture/${name}`);
  });
  expect(text).toBe(readHostFile(`fixture/${name}`));
  return text;
}

describe("packageRoot and template paths", () => {
  test("the root is the folder of the package.json named dokploy-oci; templates live under it", () => {
    expect(packageRoot()).toBe(ROOT);
    expect(templatePath("common/harden.sh")).toBe(`${ROOT}/templates/common/harden.sh`);
    fakeFiles.set(path.join(FIXTURE_DIR, "x.sh"), "#!/bin/sh\n# comment\n");
    expect(readTemplate("fixture/x.sh")).toBe("#!/bin/sh\n# comment\n");
  });

  test("found once: a second call looks at no file", () => {
    jest.isolateModules(() => {
      const fresh = require("../../lib/templates") as typeof import("../../lib/templates");
      expect(fresh.packageRoot()).toBe(ROOT);
      const exists = jest.spyOn(fs, "existsSync");
      expect(fresh.packageRoot()).toBe(ROOT);
      expect(exists).not.toHaveBeenCalled();
    });
  });

  test("a package.json of another package on the way up is passed over", () => {
    jest.isolateModules(() => {
      const libManifest = path.join(ROOT, "lib", "package.json");
      const exists = jest.spyOn(fs, "existsSync").mockImplementation((file) => file === libManifest || file === path.join(ROOT, "package.json"));
      fakeFiles.set(libManifest, '{"name":"other"}');
      const fresh = require("../../lib/templates") as typeof import("../../lib/templates");
      expect(fresh.packageRoot()).toBe(ROOT);
      expect(exists).toHaveBeenCalledWith(libManifest);
      expect(fs.readFileSync).toHaveBeenCalledWith(libManifest, "utf8");
    });
  });

  test("no package.json named dokploy-oci above: an error naming where the search began", () => {
    jest.isolateModules(() => {
      jest.spyOn(fs, "existsSync").mockReturnValue(false);
      const fresh = require("../../lib/templates") as typeof import("../../lib/templates");
      expect(() => fresh.packageRoot()).toThrow(`cannot find the dokploy-oci package root above ${ROOT}/lib`);
    });
  });
});

describe("readHostFile: shell scripts lose full-line comments, not heredoc bodies", () => {
  test("the first line (the shebang) stays; indented comment lines go; trailing comments and code stay", () => {
    expect(shipped("a.sh", ["#!/usr/bin/env bash", "# about", "set -Eeuo pipefail", "  # indented", "\t# tabbed", "echo hi # trailing", "x='#not a comment'", ""])).toBe(
      ["#!/usr/bin/env bash", "set -Eeuo pipefail", "echo hi # trailing", "x='#not a comment'", ""].join("\n"),
    );
  });

  test("a heredoc's lines are data until its delimiter, then comments go again", () => {
    expect(shipped("b.sh", ["#!/bin/sh", "cat <<EOF", "# kept", "EOF", "# dropped", "echo done"])).toBe(["#!/bin/sh", "cat <<EOF", "# kept", "EOF", "echo done"].join("\n"));
  });

  test("quoted delimiters, a space before the delimiter, underscores and digits in it", () => {
    expect(shipped("c.sh", ["#!/bin/sh", "cat <<'END_1'", "# kept 1", "END_1", "cat << \"EOT\"", "# kept 2", "EOT", "# dropped"])).toBe(
      ["#!/bin/sh", "cat <<'END_1'", "# kept 1", "END_1", "cat << \"EOT\"", "# kept 2", "EOT"].join("\n"),
    );
  });

  test("the delimiter must be the whole line: a line that only starts with it is data", () => {
    expect(shipped("d.sh", ["#!/bin/sh", "cat <<EOF", "EOF2", "# kept", " EOF", "# kept too", "EOF", "# dropped"])).toBe(
      ["#!/bin/sh", "cat <<EOF", "EOF2", "# kept", " EOF", "# kept too", "EOF"].join("\n"),
    );
  });

  test("<<- ends at the delimiter after tabs; << does not", () => {
    expect(shipped("e.sh", ["#!/bin/sh", "\tcat <<-EOF", "\t# kept", "\tEOF", "# dropped"])).toBe(["#!/bin/sh", "\tcat <<-EOF", "\t# kept", "\tEOF"].join("\n"));
    expect(shipped("f.sh", ["#!/bin/sh", "cat <<EOF", "\tEOF", "# kept: still in the heredoc", "EOF", "# dropped"])).toBe(
      ["#!/bin/sh", "cat <<EOF", "\tEOF", "# kept: still in the heredoc", "EOF"].join("\n"),
    );
  });

  test("<<- strips leading tabs only, all of them", () => {
    expect(shipped("h.sh", ["#!/bin/sh", "cat <<-EOF", "EOF\t", "# kept", "\t\tEOF", "# dropped"])).toBe(["#!/bin/sh", "cat <<-EOF", "EOF\t", "# kept", "\t\tEOF"].join("\n"));
  });

  test("a here-string (<<<) is no heredoc", () => {
    expect(shipped("g.sh", ["#!/bin/sh", "read -r x <<<hello", "# dropped", "hello", "echo $x"])).toBe(["#!/bin/sh", "read -r x <<<hello", "hello", "echo $x"].join("\n"));
  });
});

describe("readHostFile: python loses comments and docstrings of functions with more body", () => {
  test("the first line stays; comment lines go; a trailing comment goes only from a line without quotes", () => {
    expect(
      shipped("a.py", ["#!/usr/bin/env python3", "# about", "import os", "    # indented", "x = 1  # note", 'y = "a"  # note', "z = 2  #tight", "w = 3# none", ""]),
    ).toBe(["#!/usr/bin/env python3", "import os", "x = 1", 'y = "a"  # note', "z = 2  #tight", "w = 3# none", ""].join("\n"));
  });

  test("a one-line docstring of a function or class goes when the body goes on", () => {
    expect(shipped("b.py", ["def f():", '    """Doc."""', "    return 1", "class C:", '    """Doc."""   ', "    x = 1"])).toBe(
      ["def f():", "    return 1", "class C:", "    x = 1"].join("\n"),
    );
  });

  test("a docstring over several lines goes with all its lines; blank lines after it are looked past", () => {
    expect(shipped("c.py", ["def f(a):", '    """Doc', "    more", '    """', "", "    return a"])).toBe(["def f(a):", "", "    return a"].join("\n"));
    expect(shipped("d.py", ["def f(a):", '    """', "    Doc", '    end."""', "    return a"])).toBe(["def f(a):", "    return a"].join("\n"));
  });

  test("a comment between the def and the docstring goes first, so the docstring goes too", () => {
    expect(shipped("e.py", ["def f():", "    # why", '    """Doc."""', "    pass"])).toBe(["def f():", "    pass"].join("\n"));
  });

  test("kept: a docstring that is the whole body, one after a statement, a module docstring", () => {
    expect(shipped("f.py", ["def f():", '    """Doc."""', "x = 1"])).toBe(["def f():", '    """Doc."""', "x = 1"].join("\n"));
    expect(shipped("g.py", ["def f():", '    """Doc."""'])).toBe(["def f():", '    """Doc."""'].join("\n"));
    expect(shipped("h.py", ["def f():", "    x = 1", '    """text"""', "    return x"])).toBe(["def f():", "    x = 1", '    """text"""', "    return x"].join("\n"));
    expect(shipped("i.py", ['"""Module."""', "import os"])).toBe(['"""Module."""', "import os"].join("\n"));
    expect(shipped("j.py", ["if x:", '    """text"""', "    y = 1"])).toBe(["if x:", '    """text"""', "    y = 1"].join("\n"));
  });

  test("a method's docstring goes too; a def inside a line or a one-line class is no def", () => {
    expect(shipped("l.py", ["class C:", "    def m(self):", '        """Doc."""', "        return 1"])).toBe(["class C:", "    def m(self):", "        return 1"].join("\n"));
    expect(shipped("m.py", ["if undef or x:", '    """text"""', "    y = 1"])).toBe(["if undef or x:", '    """text"""', "    y = 1"].join("\n"));
    // Read line by line: the class line does not end with the colon, so no body starts after it.
    expect(shipped("n.py", ["class C: pass", '    """text"""', "    y = 1"])).toBe(["class C: pass", '    """text"""', "    y = 1"].join("\n"));
  });

  test("a triple quote inside a statement is no docstring", () => {
    expect(shipped("o.py", ["def f():", '    x = """a"""', "    return x"])).toBe(["def f():", '    x = """a"""', "    return x"].join("\n"));
  });

  test("a line of spaces after the docstring is looked past, whatever its indent", () => {
    expect(shipped("p.py", ["def f():", '    """Doc."""', " ", "    return 1"])).toBe(["def f():", " ", "    return 1"].join("\n"));
  });

  test("an unclosed docstring at the end of the file stays", () => {
    expect(shipped("k.py", ["def f():", '    """Doc', "    more"])).toBe(["def f():", '    """Doc', "    more"].join("\n"));
  });
});

describe("readHostFile: units and other files", () => {
  test("a .service or .conf loses every line starting with # or ;, the first too", () => {
    expect(shipped("a.service", ["# about", "[Unit]", "; note", "Description=x # kept", "  # indented kept", ""])).toBe(["[Unit]", "Description=x # kept", "  # indented kept", ""].join("\n"));
    expect(shipped("b.conf", ["# about", "key=value", ""])).toBe(["key=value", ""].join("\n"));
  });

  test("any other file is shipped as it is", () => {
    expect(shipped("c.json", ["# not a comment here", "{}"])).toBe(["# not a comment here", "{}"].join("\n"));
    expect(shipped("d.service.txt", ["# kept", "x"])).toBe(["# kept", "x"].join("\n"));
  });
});
