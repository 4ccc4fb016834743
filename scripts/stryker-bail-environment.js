/**
 * Jest's node environment, for `npm run mutate` only: once a test fails while Stryker has a mutant active, the rest
 * of that jest run's tests are skipped. One failure already kills the mutant (Stryker bails the same way with its
 * other test runners; with jest it cannot, https://github.com/jestjs/jest/issues/11766), and the tests here build and
 * synthesize stacks. The dry run has no active mutant, so every test runs there and the coverage stays whole.
 */
const { TestEnvironment } = require("jest-environment-node");

const ACTIVE_MUTANT = "__STRYKER_ACTIVE_MUTANT__";
// The run (jest's global config: one object per run, shared by its test files in band) and mutant that failed a test.
let failed;

class StrykerBailEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.run = config.globalConfig;
  }

  async handleTestEvent(event) {
    const mutant = process.env[ACTIVE_MUTANT];
    if (mutant === undefined) return;
    if (event.name === "test_start" && failed?.run === this.run && failed.mutant === mutant) event.test.mode = "skip";
    if (event.name === "test_done" && event.test.errors.length > 0) failed = { run: this.run, mutant };
  }
}

module.exports = StrykerBailEnvironment;
