import { App, DefaultTokenResolver, Fn, StringConcat, TerraformOutput, TerraformStack, TerraformVariable, Testing, Tokenization } from "cdktf";
import { escapeForExpression, escapeTerraformTemplate, joinLiteralAndTokens, jsonencodeWithTokens } from "../../lib/terraform-text";
import { ormStackJson } from "../../scripts/lib/orm-package";
import { applyAndReadOutputs, requireTerraform } from "../helpers/terraform";


const HARD_CASES: Record<string, string> = {
  interpolation: 'echo "${HOME}" and ${var.nothing}',
  directive: "%{ if true }yes%{ endif }",
  alreadyEscaped: "$${literal} and %%{literal}",
  dollars: "$$ and $$$ and a lone $ at the end $",
  percents: "100% and %%",
  quotes: `single ' double " backtick \``,
  backslashes: "C:\\path\\to \\n not a newline \\\" \\\\",
  crlf: "line one\r\nline two\r\n",
  tabsAndControls: "a\tb\u0001c\u001fd\u007f",
  unicode: "é ü 漢字 😀 \u2028 \u00a0",
  bashScript: '#!/usr/bin/env bash\nset -euo pipefail\nfor f in "${@}"; do echo "${f%%.*}" "$(( 1 + 2 ))"; done\narr=(${!x})\n',
  unclosed: "${ and %{ never closed",
};
const TWENTY_KB = Array.from({ length: 700 }, (_, i) => `line ${i}: \${VAR_${i}} %{x} $$ "q" \\ é\r\n`).join("").slice(0, 20480);

describe("escapeTerraformTemplate", () => {
  test("escapes only template markers", () => {
    expect(escapeTerraformTemplate("a ${b} %{c} $ % $$")).toBe("a $${b} %%{c} $ % $$");
  });

  test("does not collapse $$ in the escape (a replacement-string trap)", () => {
    expect(escapeTerraformTemplate("${")).toBe("$${");
  });
});

describe("escapeForExpression", () => {
  test("escapes what cdktf leaves alone inside an expression", () => {
    expect(escapeForExpression('"\\%{\r\t\u0001')).toBe('\\"\\\\%%{\\r\\t\\u0001');
  });
});

describe("joinLiteralAndTokens", () => {
  const stack = new TerraformStack(Testing.app(), "join");
  const value = new TerraformVariable(stack, "x", { type: "string" }).stringValue;
  const resolve = (text: string) => Tokenization.resolve(text, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });

  test("one value alone is that value, not a join of it", () => {
    expect(joinLiteralAndTokens([value])).toBe(value);
    expect(joinLiteralAndTokens(["", value, ""])).toBe(value);
  });

  test("text around a value in one part is split into its literal and the value", () => {
    expect(resolve(joinLiteralAndTokens([`url=${value}`]))).toBe('${join("", ["url=", var.x])}');
    expect(resolve(joinLiteralAndTokens([`a${value}b`, "c"]))).toBe('${join("", ["a", var.x, "b", "c"])}');
  });
});

describe("round trip through the real terraform binary", () => {
  beforeAll(() => {
    console.log(`using ${requireTerraform()}`);
  });

  test("every hard case comes back byte for byte, as a plain string, joined with a token, around a token in one text (as a file's content in base64), and inside jsonencode", () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "roundtrip");
    const empty = new TerraformVariable(stack, "empty", { type: "string", default: "" });
    const marker = new TerraformVariable(stack, "marker", { type: "string", default: "<value>" });
    const cases = { ...HARD_CASES, twentyKb: TWENTY_KB };
    for (const [name, text] of Object.entries(cases)) {
      new TerraformOutput(stack, `plain_${name}`, { value: escapeTerraformTemplate(text) });
      new TerraformOutput(stack, `joined_${name}`, { value: joinLiteralAndTokens([text, empty.stringValue, text]) });
      new TerraformOutput(stack, `embedded_${name}`, { value: Fn.base64encode(joinLiteralAndTokens([`${text}${marker.stringValue}${text}`])) });
      new TerraformOutput(stack, `json_${name}`, { value: jsonencodeWithTokens({ text, list: [text, empty.stringValue] }) });
    }
    const outputs = applyAndReadOutputs(ormStackJson(JSON.parse(Testing.synth(stack))));
    for (const [name, text] of Object.entries(cases)) {
      expect([name, outputs[`plain_${name}`].value]).toEqual([name, text]);
      expect([name, outputs[`joined_${name}`].value]).toEqual([name, text + text]);
      expect([name, Buffer.from(outputs[`embedded_${name}`].value as string, "base64").toString()]).toEqual([name, `${text}<value>${text}`]);
      expect([name, JSON.parse(outputs[`json_${name}`].value as string)]).toEqual([name, { text, list: [text, ""] }]);
    }
    expect(TWENTY_KB.length).toBe(20480);
  });

  test("an unescaped ${HOME} is exactly what terraform rejects (the trap the escaping avoids)", () => {
    const app = new App();
    const stack = new TerraformStack(app, "trap");
    new TerraformOutput(stack, "raw", { value: 'echo "${HOME}"' });
    expect(() => applyAndReadOutputs(ormStackJson(JSON.parse(Testing.synth(stack))))).toThrow(/Invalid reference|HOME/);
  });
});
