/**
 * The typed allow-list of the SSH proxy (constructs/docker/ssh-proxy.ts): which commands a client may run in the
 * target service's container. The construct checks it at synth time and writes it as JSON into a Docker config;
 * templates/ssh-proxy/validate.py reads that JSON and enforces it on every SSH command.
 *
 * A command is a fixed prefix (the program and its subcommand) followed by options and positional arguments, each
 * with a rule: a literal, one of a fixed set, or a strict pattern. Whatever the rules say, the validator also refuses
 * every word with a character outside TOKEN_CHARACTERS, any `..`, a leading `-` that is not an allowed option, and
 * empty option values: no rule can lift those.
 */
import { Token } from "cdktf";

/** Characters a word of a command may contain (gitolite's allow-list, without the space). */
export const TOKEN_CHARACTERS = "A-Za-z0-9._@/+:,%=-";
/** Exit code of a refused command (sysexits' EX_NOPERM); `ssh` passes it through to the client. */
export const REFUSED_EXIT_CODE = 77;
/** Exit code when no running task of the target service is on the proxy's node (sysexits' EX_UNAVAILABLE). */
export const UNAVAILABLE_EXIT_CODE = 69;
/** Longest SSH command accepted, in bytes. */
export const MAX_COMMAND_BYTES = 1024;
/** Version of the JSON document the validator reads. */
export const ALLOW_LIST_VERSION = 1;

export interface LiteralRule {
  readonly kind: "literal";
  readonly value: string;
}

export interface EnumRule {
  readonly kind: "enum";
  readonly values: string[];
}

export interface PatternRule {
  readonly kind: "pattern";
  /**
   * A regular expression the whole word must match (it is anchored for you). Use the subset JavaScript and
   * Python's `re` read alike: classes, groups `(?:…)`, alternation and quantifiers; no lookaround or backreferences.
   */
  readonly pattern: string;
  /**
   * Accept a pattern that also matches shell metacharacters, whitespace or non-ASCII text. The validator still
   * refuses those characters; the flag records that the broad pattern is intended.
   * @default - false
   */
  readonly allowFreeText?: boolean;
}

export type ArgumentRule = LiteralRule | EnumRule | PatternRule;

/** A positional argument: a rule, optionally omissible (optional arguments come after the required ones). */
export type PositionalRule = ArgumentRule & {
  /** @default - false */
  readonly optional?: boolean;
};

export interface OptionRule {
  /** The option as the client writes it, e.g. "--all" or "-v". Each may appear at most once. */
  readonly flag: string;
  /**
   * The option's value, written as one word `--flag=VALUE`.
   * @default - the option takes no value
   */
  readonly value?: ArgumentRule;
}

export interface AllowedCommand {
  /** Fixed leading words: the program and its subcommand, e.g. ["php", "occ", "files:scan"]. */
  readonly prefix: string[];
  /** @default - no options */
  readonly options?: OptionRule[];
  /** @default - no positional arguments */
  readonly args?: PositionalRule[];
}

/** The JSON document the validator reads from the Docker config. */
export interface AllowListDocument {
  readonly version: number;
  /** Swarm service whose local task runs the commands. */
  readonly targetService: string;
  /** `docker exec --user` value; null for the image's default user. */
  readonly execUser: string | null;
  readonly commands: AllowedCommand[];
}

const TOKEN = new RegExp(`^[${TOKEN_CHARACTERS}]+$`);
const FLAG = /^--?[A-Za-z0-9][A-Za-z0-9-]*$/;
/** Probes a strict pattern must not match: the characters the validator refuses, alone and inside a word. */
const FREE_TEXT_PROBES: string[] = [..." \t\r\n\0\x1b;&|$`()<>\\'\"*?[]{}~!#é；\u200b\u00a0"].flatMap((char) => [
  char,
  `a${char}b`,
  `${char}a`,
  `a${char}`,
]);

/** Throws an error naming the offending prop (e.g. `commands[1].args[0].pattern`) for a rule the proxy must not run. */
export function validateAllowList(commands: AllowedCommand[], propName = "commands"): void {
  if (Token.isUnresolved(commands)) throw new Error(`${propName}: the allow-list must be known at synth time, not a Terraform value`);
  if (!Array.isArray(commands) || commands.length === 0) {
    throw new Error(`${propName}: the allow-list is empty; give at least one command, or the proxy can run nothing`);
  }
  commands.forEach((command, index) => validateCommand(command, `${propName}[${index}]`));
}

function validateCommand(command: AllowedCommand, where: string): void {
  if (!Array.isArray(command.prefix) || command.prefix.length === 0) {
    throw new Error(`${where}.prefix: give the program and its subcommand, e.g. ["php", "occ", "status"]`);
  }
  command.prefix.forEach((word, index) => validateWord(word, `${where}.prefix[${index}]`));
  const flags = new Set<string>();
  (command.options ?? []).forEach((option, index) => {
    const at = `${where}.options[${index}]`;
    if (Token.isUnresolved(option.flag) || !FLAG.test(option.flag)) {
      throw new Error(`${at}.flag: "${option.flag}" is not an option like "--all" or "-v" (letters, digits and dashes)`);
    }
    if (flags.has(option.flag)) throw new Error(`${at}.flag: "${option.flag}" is listed twice`);
    flags.add(option.flag);
    if (option.value) validateRule(option.value, `${at}.value`);
  });
  let optionalSeen = false;
  (command.args ?? []).forEach((arg, index) => {
    const at = `${where}.args[${index}]`;
    if (arg.optional) optionalSeen = true;
    else if (optionalSeen) throw new Error(`${at}: a required argument cannot follow an optional one`);
    validateRule(arg, at);
  });
}

function validateRule(rule: ArgumentRule, where: string): void {
  switch (rule.kind) {
    case "literal":
      validateWord(rule.value, `${where}.value`);
      return;
    case "enum":
      if (!Array.isArray(rule.values) || rule.values.length === 0) throw new Error(`${where}.values: give at least one value`);
      rule.values.forEach((value, index) => validateWord(value, `${where}.values[${index}]`));
      return;
    case "pattern":
      validatePattern(rule, where);
      return;
    default:
      throw new Error(`${where}.kind: "${(rule as { kind: unknown }).kind}" is not one of literal, enum, pattern`);
  }
}

/** A fixed word must pass the validator's own checks, or it could never match. */
function validateWord(word: string, where: string): void {
  if (typeof word !== "string" || Token.isUnresolved(word)) throw new Error(`${where}: must be a plain string known at synth time`);
  if (!TOKEN.test(word)) throw new Error(`${where}: "${word}" has characters outside [${TOKEN_CHARACTERS}] (or is empty)`);
  if (word.startsWith("-")) throw new Error(`${where}: "${word}" starts with "-"; allow it as an option instead`);
  if (word.includes("..")) throw new Error(`${where}: "${word}" contains ".."; the validator refuses that everywhere`);
}

function validatePattern(rule: PatternRule, where: string): void {
  const source = rule.pattern;
  if (typeof source !== "string" || Token.isUnresolved(source) || source === "") {
    throw new Error(`${where}.pattern: give a non-empty regular expression known at synth time`);
  }
  // Outside this subset JavaScript and Python's re disagree (e.g. `\A` is "A" in one and an anchor in the other).
  if (/\(\?(?!:)/.test(source) || /\\(?![dwsDWSbB])[A-Za-z0-9]/.test(source)) {
    throw new Error(
      `${where}.pattern: /${source}/ uses lookaround, named groups, backreferences or letter escapes other than \\d \\w \\s \\b, ` +
        `which Python's re reads differently; use classes and (?:…) groups`,
    );
  }
  let regex: RegExp;
  try {
    regex = new RegExp(`^(?:${source})$`);
  } catch (error) {
    throw new Error(`${where}.pattern: /${source}/ is not a valid regular expression (${(error as Error).message})`);
  }
  if (rule.allowFreeText) return;
  const probe = FREE_TEXT_PROBES.find((text) => regex.test(text));
  if (probe !== undefined) {
    throw new Error(
      `${where}.pattern: /${source}/ also matches ${JSON.stringify(probe)}: free text (whitespace, shell metacharacters or non-ASCII). ` +
        `Tighten it to a character class such as [A-Za-z0-9_.@-]{1,64}, or set allowFreeText: true if that is really meant`,
    );
  }
}

/** The validator's JSON document, checked. */
export function allowListDocument(targetService: string, execUser: string | undefined, commands: AllowedCommand[]): AllowListDocument {
  validateAllowList(commands);
  return { version: ALLOW_LIST_VERSION, targetService, execUser: execUser ?? null, commands };
}

/** Nextcloud user and group ids as occ takes them, without spaces or quotes. */
export const NEXTCLOUD_ID_PATTERN = "[A-Za-z0-9_.@-]{1,64}";
/** A path of plain names (`..` is refused by the validator anyway); no leading dash. */
export const PLAIN_PATH_PATTERN = "/?[A-Za-z0-9_.@+][A-Za-z0-9_.@+-]{0,254}(?:/[A-Za-z0-9_.@+-]{1,255}){0,63}/?";

const nextcloudId: PatternRule = { kind: "pattern", pattern: NEXTCLOUD_ID_PATTERN };
const plainPath: PatternRule = { kind: "pattern", pattern: PLAIN_PATH_PATTERN };
const occOutput: OptionRule = { flag: "--output", value: { kind: "enum", values: ["plain", "json", "json_pretty"] } };

/** The seed's Nextcloud commands: `php occ status`, `php occ files:scan <user|--all>`, `php occ memories:index`. */
export function nextcloudCommands(): AllowedCommand[] {
  return [
    { prefix: ["php", "occ", "status"], options: [occOutput] },
    {
      prefix: ["php", "occ", "files:scan"],
      options: [{ flag: "--all" }, { flag: "--path", value: plainPath }, { flag: "--shallow" }, { flag: "--unscanned" }, occOutput],
      args: [{ ...nextcloudId, optional: true }],
    },
    {
      prefix: ["php", "occ", "memories:index"],
      options: [
        { flag: "--user", value: nextcloudId },
        { flag: "--folder", value: plainPath },
        { flag: "--group", value: nextcloudId },
        { flag: "--force" },
        { flag: "--retry" },
        { flag: "--skip-cleanup" },
      ],
    },
  ];
}

/** The seed's PhotoPrism commands: `photoprism index`, `photoprism import`, `photoprism status`. */
export function photoprismCommands(): AllowedCommand[] {
  return [
    { prefix: ["photoprism", "status"] },
    {
      prefix: ["photoprism", "index"],
      options: [{ flag: "--force" }, { flag: "--cleanup" }],
      args: [{ ...plainPath, optional: true }],
    },
    {
      prefix: ["photoprism", "import"],
      options: [{ flag: "--move" }, { flag: "--dest", value: plainPath }],
      args: [{ ...plainPath, optional: true }],
    },
  ];
}
