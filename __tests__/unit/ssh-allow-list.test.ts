/**
 * lib/ssh-allow-list.ts on its own: what validateAllowList refuses (each message written out, the edges of each
 * rule), the validator's document, and the two presets written out as the validator gets them.
 */
import { TerraformStack, TerraformVariable, Testing } from "cdktf";
import { AllowedCommand, allowListDocument, nextcloudCommands, photoprismCommands, validateAllowList } from "../../lib/ssh-allow-list";

const refused = (commands: AllowedCommand[], message: string) => expect(() => validateAllowList(commands)).toThrow(message);
const accepted = (commands: AllowedCommand[]) => expect(() => validateAllowList(commands)).not.toThrow();
const withArg = (arg: object): AllowedCommand[] => [{ prefix: ["app", "run"], args: [arg as AllowedCommand["args"] extends (infer T)[] | undefined ? T : never] }];
const stack = new TerraformStack(Testing.app(), "allow-list");
const text = new TerraformVariable(stack, "text", { type: "string" }).stringValue;

describe("the list and its commands", () => {
  test("a Terraform value, an empty list or no list at all is refused, named as the caller says", () => {
    const list = new TerraformVariable(stack, "list", { type: "any" }).value as AllowedCommand[];
    expect(() => validateAllowList(list, "ssh.commands")).toThrow("ssh.commands: the allow-list must be known at synth time, not a Terraform value");
    expect(() => validateAllowList([], "ssh.commands")).toThrow("ssh.commands: the allow-list is empty; give at least one command, or the proxy can run nothing");
    expect(() => validateAllowList("x" as unknown as AllowedCommand[])).toThrow("commands: the allow-list is empty");
  });

  test("a prefix: at least one word, each a plain word", () => {
    accepted([{ prefix: ["app"] }]);
    refused([{ prefix: [] }], 'commands[0].prefix: give the program and its subcommand, e.g. ["php", "occ", "status"]');
    refused([{ prefix: "app" as unknown as string[] }], "commands[0].prefix: give the program");
    refused([{ prefix: ["app"] }, { prefix: ["app", "a b"] }], 'commands[1].prefix[1]: "a b" has characters outside [A-Za-z0-9._@/+:,%=-] (or is empty)');
  });

  test("words: the validator's characters only, no leading dash, no '..', known at synth time", () => {
    accepted([{ prefix: ["A-Za-z0-9._@/+:,%=-"] }]);
    accepted([{ prefix: ["a.b", "x-", "a.b.c"] }]);
    refused([{ prefix: [""] }], 'commands[0].prefix[0]: "" has characters outside');
    refused([{ prefix: ["a;"] }], 'commands[0].prefix[0]: "a;" has characters outside');
    refused([{ prefix: [";a"] }], 'commands[0].prefix[0]: ";a" has characters outside');
    refused([{ prefix: ["-x"] }], 'commands[0].prefix[0]: "-x" starts with "-"; allow it as an option instead');
    refused([{ prefix: ["a..b"] }], `commands[0].prefix[0]: "a..b" contains ".."; the validator refuses that everywhere`);
    refused([{ prefix: [text] }], "commands[0].prefix[0]: must be a plain string known at synth time");
    refused([{ prefix: [7 as unknown as string] }], "commands[0].prefix[0]: must be a plain string known at synth time");
  });

  test("options: a flag of letters, digits and dashes after one or two dashes, each once; a value follows its rule", () => {
    accepted([{ prefix: ["app"], options: [{ flag: "-v" }, { flag: "--all" }, { flag: "--dry-run2" }, { flag: "--A" }, { flag: "-9" }] }]);
    for (const flag of ["all", "---all", "--", "-", "--all=", "--a b", "--a_b", "--all;", "x--all", "---", "--.a"]) {
      refused([{ prefix: ["app"], options: [{ flag }] }], `commands[0].options[0].flag: "${flag}" is not an option like "--all" or "-v" (letters, digits and dashes)`);
    }
    refused([{ prefix: ["app"], options: [{ flag: text }] }], "commands[0].options[0].flag: ");
    refused([{ prefix: ["app"], options: [{ flag: "--a" }, { flag: "--b" }, { flag: "--a" }] }], 'commands[0].options[2].flag: "--a" is listed twice');
    refused([{ prefix: ["app"], options: [{ flag: "--a", value: { kind: "literal", value: "x y" } }] }], 'commands[0].options[0].value.value: "x y" has characters outside');
    accepted([{ prefix: ["app"], options: [{ flag: "--a", value: { kind: "enum", values: ["x"] } }] }]);
  });

  test("arguments: required ones first, each by its rule", () => {
    accepted(withArg({ kind: "literal", value: "x" }));
    accepted([{ prefix: ["app"], args: [{ kind: "literal", value: "a" }, { kind: "literal", value: "b", optional: true }, { kind: "literal", value: "c", optional: true }] }]);
    accepted([{ prefix: ["app"], args: [{ kind: "literal", value: "a", optional: false }, { kind: "literal", value: "b" }] }]);
    refused(
      [{ prefix: ["app"], args: [{ kind: "literal", value: "a", optional: true }, { kind: "literal", value: "b", optional: true }, { kind: "literal", value: "c" }] }],
      "commands[0].args[2]: a required argument cannot follow an optional one",
    );
    refused(withArg({ kind: "literal", value: "-x" }), 'commands[0].args[0].value: "-x" starts with "-"');
    refused(withArg({ kind: "enum", values: ["a", "b..c"] }), 'commands[0].args[0].values[1]: "b..c" contains ".."');
    refused(withArg({ kind: "enum", values: [] }), "commands[0].args[0].values: give at least one value");
    refused(withArg({ kind: "enum", values: "a" }), "commands[0].args[0].values: give at least one value");
    refused(withArg({ kind: "regex", pattern: "a" }), 'commands[0].args[0].kind: "regex" is not one of literal, enum, pattern');
  });
});

describe("patterns: the subset both regex engines read alike, and no free text", () => {
  test("accepted: classes, (?:…) groups, alternation, quantifiers, \\d \\w \\b \\B and escaped punctuation", () => {
    for (const pattern of ["[a-z]{1,8}", "(?:ab|cd)+", "\\d+", "\\w+", "[a-z]+\\b", "\\B[a-z]", "a\\.b", "[a-z]\\/[0-9]"]) accepted(withArg({ kind: "pattern", pattern }));
  });

  test("a pattern that is not text known now, or empty, is refused", () => {
    refused(withArg({ kind: "pattern", pattern: "" }), "commands[0].args[0].pattern: give a non-empty regular expression known at synth time");
    refused(withArg({ kind: "pattern", pattern: text }), "commands[0].args[0].pattern: give a non-empty regular expression known at synth time");
    refused(withArg({ kind: "pattern" }), "commands[0].args[0].pattern: give a non-empty regular expression known at synth time");
  });

  test.each(["(?=a)a", "(?!a)b", "(?<=a)b", "(?<n>a)", "(a)\\1", "\\Aa", "a\\Z", "\\x41", "\\u0041", "\\n", "\\t"])("%s: read differently by Python's re", (pattern) => {
    refused(
      withArg({ kind: "pattern", pattern }),
      `commands[0].args[0].pattern: /${pattern}/ uses lookaround, named groups, backreferences or letter escapes other than \\d \\w \\s \\b, which Python's re reads differently; use classes and (?:…) groups`,
    );
  });

  test("an invalid expression", () => {
    refused(withArg({ kind: "pattern", pattern: "a{2,1}" }), "commands[0].args[0].pattern: /a{2,1}/ is not a valid regular expression (Invalid regular expression: /^(?:a{2,1})$/: numbers out of order in {} quantifier)");
  });

  test("anchored: a pattern matching only inside a word is no free text", () => {
    // Unanchored, [a-z]+ would find "a" inside "a b".
    accepted(withArg({ kind: "pattern", pattern: "[a-z]+" }));
    accepted(withArg({ kind: "pattern", pattern: "a|b" }));
  });

  test.each([
    [".+", " "],
    ["[a-z ]+", " "],
    ["a.b", "a b"],
    ["[^a]+", " "],
  ])("/%s/ matches free text, first %j", (pattern, probe) => {
    refused(
      withArg({ kind: "pattern", pattern }),
      `commands[0].args[0].pattern: /${pattern}/ also matches ${JSON.stringify(probe)}: free text (whitespace, shell metacharacters or non-ASCII). Tighten it to a character class such as [A-Za-z0-9_.@-]{1,64}, or set allowFreeText: true if that is really meant`,
    );
  });

  test("each refused character alone, or at either end or inside a word, is probed", () => {
    for (const [pattern, probe] of [
      ["[a-z;]+", ";"],
      ["[a-z]*é", "é"],
      ["\\$[a-z]", "$a"],
      ["[a-z]\\$", "a$"],
      ["a\\*b", "a*b"],
      ["[a-z]+\\u200b".replace("\\u200b", "\u200b"), "a\u200b"],
      ["[a-z]\\x00".replace("\\x00", "\0"), "a\0"],
      ["[a-z]\u00a0", "a\u00a0"],
      ["[a-z]；", "a；"],
    ]) {
      refused(withArg({ kind: "pattern", pattern }), `also matches ${JSON.stringify(probe)}: free text`);
    }
  });

  test("allowFreeText lets a broad pattern through, but still not one Python reads differently", () => {
    accepted(withArg({ kind: "pattern", pattern: ".+", allowFreeText: true }));
    refused(withArg({ kind: "pattern", pattern: "\\A.+", allowFreeText: true }), "commands[0].args[0].pattern: /\\A.+/ uses lookaround");
    refused(withArg({ kind: "pattern", pattern: "[", allowFreeText: true }), "commands[0].args[0].pattern: /[/ is not a valid regular expression");
  });
});

test("allowListDocument: version 1, the target, the exec user or null, the checked commands", () => {
  const commands = [{ prefix: ["app"] }];
  expect(allowListDocument("svc", "www-data", commands)).toEqual({ version: 1, targetService: "svc", execUser: "www-data", commands: [{ prefix: ["app"] }] });
  expect(allowListDocument("svc", undefined, commands)).toEqual({ version: 1, targetService: "svc", execUser: null, commands: [{ prefix: ["app"] }] });
  expect(() => allowListDocument("svc", undefined, [])).toThrow("commands: the allow-list is empty");
});

describe("the presets, as the validator gets them", () => {
  const id = { kind: "pattern", pattern: "[A-Za-z0-9_.@-]{1,64}" };
  const path = { kind: "pattern", pattern: "/?[A-Za-z0-9_.@+][A-Za-z0-9_.@+-]{0,254}(?:/[A-Za-z0-9_.@+-]{1,255}){0,63}/?" };
  const output = { flag: "--output", value: { kind: "enum", values: ["plain", "json", "json_pretty"] } };

  test("Nextcloud: occ status, files:scan, memories:index", () => {
    expect(nextcloudCommands()).toEqual([
      { prefix: ["php", "occ", "status"], options: [output] },
      {
        prefix: ["php", "occ", "files:scan"],
        options: [{ flag: "--all" }, { flag: "--path", value: path }, { flag: "--shallow" }, { flag: "--unscanned" }, output],
        args: [{ ...id, optional: true }],
      },
      {
        prefix: ["php", "occ", "memories:index"],
        options: [{ flag: "--user", value: id }, { flag: "--folder", value: path }, { flag: "--group", value: id }, { flag: "--force" }, { flag: "--retry" }, { flag: "--skip-cleanup" }],
      },
    ]);
    accepted(nextcloudCommands());
  });

  test("PhotoPrism: status, index, import", () => {
    expect(photoprismCommands()).toEqual([
      { prefix: ["photoprism", "status"] },
      { prefix: ["photoprism", "index"], options: [{ flag: "--force" }, { flag: "--cleanup" }], args: [{ ...path, optional: true }] },
      { prefix: ["photoprism", "import"], options: [{ flag: "--move" }, { flag: "--dest", value: path }], args: [{ ...path, optional: true }] },
    ]);
    accepted(photoprismCommands());
  });

  test("the path pattern: plain names, no leading dash", () => {
    const matches = (value: string) => new RegExp(`^(?:${path.pattern})$`).test(value);
    expect(["/", "a", "/a/b", "a/b/", "files/Photos 1".replace(" ", "_"), "+x"].map(matches)).toEqual([false, true, true, true, true, true]);
    expect(["-a", "a//b", "a b", "/-", ""].map(matches)).toEqual([false, false, false, false, false]);
  });
});
