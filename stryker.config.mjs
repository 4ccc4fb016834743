// @ts-check
/**
 * `npm run mutate`: Stryker mutates lib/ and constructs/ and runs the unit, synth and schema tests against each
 * mutant (docs/mutation.md has the last score and why each survivor lives). One mutant at a time: CI is a busy
 * 2-core machine.
 */
// A batch (`npm run mutate -- --mutate lib/rules.ts`) writes its report under its own name (MUTATE_REPORT=rules) and
// may run fewer test files (MUTATE_TESTS=unit/prop-rules,synth/ssh-proxy): fewer tests can only kill fewer mutants,
// so a batch's score is a floor of what the whole set scores.
const report = `reports/mutation/${process.env.MUTATE_REPORT ?? "mutation"}`;
const tests = process.env.MUTATE_TESTS ? process.env.MUTATE_TESTS.split(",").map((name) => `<rootDir>/__tests__/${name}.test.ts`) : ["<rootDir>/__tests__/{unit,synth,schema}/**/*.test.ts"];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: ["lib/**/*.ts", "constructs/**/*.ts"],
  testRunner: "jest",
  jest: {
    projectType: "custom",
    configFile: "jest.config.js",
    // scripts/stryker-bail-environment.js: after a mutant's first failing test its other tests are skipped;
    // scripts/stryker-unit-first-sequencer.js: the unit test files, quickest to fail, run first.
    config: { testMatch: tests, reporters: ["default"], testEnvironment: "./scripts/stryker-bail-environment.js", testSequencer: "./scripts/stryker-unit-first-sequencer.js" },
  },
  checkers: ["typescript"],
  tsconfigFile: "tsconfig.json",
  coverageAnalysis: "perTest",
  // A mutant of a module's top level (a constant) is covered by every test: its run would be the whole suite. They
  // are counted as ignored, not as killed or survived.
  ignoreStatic: true,
  concurrency: 1,
  // The synth tests that run the real terraform take tens of seconds; a mutant that hangs is still stopped.
  timeoutMS: 120000,
  dryRunTimeoutMinutes: 60,
  // .package.dev.json exists only while a test packs the package (npm pack's prepack/postpack).
  ignorePatterns: ["dist", "cdktf.out", "coverage", "bench", "/reports", "__tests__/vm", "sandbox/vm", ".package.dev.json", "*.tgz", "docs/mutation"],
  reporters: ["clear-text", "progress", "json", "html"],
  jsonReporter: { fileName: `${report}.json` },
  htmlReporter: { fileName: `${report}.html` },
  // Each mutant's result is kept in a committed file: a later run, of any batch, tests only the mutants whose code or
  // covering tests changed, and the reports show every batch run so far (docs/mutation.md).
  incremental: true,
  incrementalFile: "docs/mutation/stryker-incremental.json",
};
