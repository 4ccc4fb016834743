// Runs the TypeScript sources of the tooling (npm run package, status, bench) without a build step: each .ts file is
// transpiled once (TypeScript's transpileModule, no type check: `npm run typecheck` does that) and the JavaScript is
// kept in dist/.transpiled, keyed by the sha256 of the source and the compiler options, so later runs
// load plain JavaScript. Use: node -r ./scripts/register.js scripts/package-orm.ts
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");
const cacheDir = path.join(root, "dist", ".transpiled");
const options = { module: "commonjs", target: "ES2022", esModuleInterop: true, resolveJsonModule: true, inlineSourceMap: true };
const optionsKey = JSON.stringify(options);
let typescript;

require.extensions[".ts"] = (module, filename) => {
  const source = fs.readFileSync(filename, "utf8");
  const key = crypto.createHash("sha256").update(optionsKey).update("\0").update(filename).update("\0").update(source).digest("hex");
  const cached = path.join(cacheDir, `${key}.js`);
  let code;
  try {
    code = fs.readFileSync(cached, "utf8");
  } catch {
    typescript ??= require("typescript");
    code = typescript.transpileModule(source, { fileName: filename, compilerOptions: options }).outputText;
    fs.mkdirSync(cacheDir, { recursive: true });
    const partial = `${cached}.${process.pid}`;
    fs.writeFileSync(partial, code);
    fs.renameSync(partial, cached);
  }
  module._compile(code, filename);
};
