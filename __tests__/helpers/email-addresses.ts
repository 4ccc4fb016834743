/**
 * Email addresses the EMAIL rule (lib/rules.ts) must accept and refuse, written by hand. The real-Dokploy suite
 * signs up with every accepted one, so the rule never lets through an address Dokploy's sign-up refuses.
 */
const LOCAL_64 = "l".repeat(64);
/** 63 + 1 + 63 + 1 + 57 + 4 = 189 characters: with a 64-character local part and the @, 254 in all. */
const DOMAIN_189 = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(57)}.com`;

export const ACCEPTED_EMAILS: ReadonlyArray<[string, string]> = [
  ["plain", "admin@example.com"],
  ["dots, dash, underscore and plus before the @", "ops.team-1_x+dokploy@example.com"],
  ["capitals and a subdomain", "Admin@Mail.Example.ORG"],
  ["digits in the domain", "a@1.example.io"],
  ["a 63-character label", `a@${"d".repeat(63)}.com`],
  ["254 characters in all", `${LOCAL_64}@${DOMAIN_189}`],
];

export const REFUSED_EMAILS: ReadonlyArray<[string, string]> = [
  ["no @", "nobody"],
  ["nothing before the @", "@example.com"],
  ["no dot in the domain", "a@example"],
  ["a one-letter top-level domain", "a@b.c"],
  ["a space", "a b@example.com"],
  ["a trailing newline", "a@example.com\n"],
  ["a tab", "a\t@example.com"],
  ["NUL", "a\u0000@example.com"],
  ["an ESC sequence", "\u001b[31ma@example.com"],
  ["DEL", "a\u007f@example.com"],
  ["a double quote", 'a"b@example.com'],
  ["a single quote", "a'b@example.com"],
  ["backticks", "a`id`@example.com"],
  ["a command substitution", "$(id)@example.com"],
  ["a shell variable", "a$HOME@example.com"],
  ["a Terraform template", "a${x}@example.com"],
  ["a Terraform directive", "a%{x}@example.com"],
  ["a semicolon", "a;b@example.com"],
  ["a pipe", "a|b@example.com"],
  ["a backslash", "a\\b@example.com"],
  ["angle brackets", "<a@example.com>"],
  ["a leading dot", ".a@example.com"],
  ["two dots", "a..b@example.com"],
  ["a dot before the @", "a.@example.com"],
  ["a label starting with a dash", "a@-example.com"],
  ["a label ending with a dash", "a@example-.com"],
  ["a trailing dot", "a@example.com."],
  ["an underscore in the domain", "a@exa_mple.com"],
  ["non-ASCII", "ä@example.com"],
  ["two @", "a@b@example.com"],
  ["a 64-character label", `a@${"d".repeat(64)}.com`],
  ["255 characters in all", `${LOCAL_64}l@${DOMAIN_189}`],
  ["a 300-character domain", `a@${"e".repeat(60)}.${"f".repeat(60)}.${"g".repeat(60)}.${"h".repeat(60)}.${"i".repeat(55)}.com`],
];
