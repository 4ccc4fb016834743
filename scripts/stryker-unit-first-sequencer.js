/**
 * Jest's test order, for `npm run mutate` only: the unit test files run before the synth and schema ones. With the
 * bail environment (stryker-bail-environment.js) a mutant's run stops at its first failing test, and a unit test
 * that kills it fails in a second, where a synth test file that only passes builds whole clusters first. The
 * verdicts are the same in any order.
 */
const Sequencer = require("@jest/test-sequencer").default;

const rank = (test) => (test.path.includes("/__tests__/unit/") ? 0 : 1);

class UnitFirstSequencer extends Sequencer {
  async sort(tests) {
    // Array.prototype.sort is stable: jest's own order holds within each rank.
    return [...(await super.sort(tests))].sort((a, b) => rank(a) - rank(b));
  }
}

module.exports = UnitFirstSequencer;
