/**
 * A jest reporter that prints, after the run, where the time went: each test group (the folder under __tests__)
 * with its files, tests and the summed run time of its files, then the plain closing line CI reads
 * ("jest: N passed, N failed, N skipped"). Plain JavaScript because jest loads reporters without transforming them.
 */
const path = require("path");

class GroupTimesReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
    this.groups = new Map();
    this.startedAt = Date.now();
  }

  onTestResult(test, result) {
    const relative = path.relative(path.join(this.rootDir, "__tests__"), result.testFilePath);
    const name = relative.split(path.sep)[0];
    const group = this.groups.get(name) ?? { files: 0, tests: 0, failed: 0, ms: 0 };
    group.files += 1;
    group.tests += result.numPassingTests + result.numFailingTests + result.numPendingTests;
    group.failed += result.numFailingTests + (result.testExecError ? 1 : 0);
    group.ms += result.perfStats.end - result.perfStats.start;
    this.groups.set(name, group);
  }

  onRunComplete(_contexts, results) {
    const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`.padStart(9);
    const lines = ["", "== test time by group (summed file run times)"];
    for (const [name, group] of [...this.groups].sort((a, b) => b[1].ms - a[1].ms)) {
      const failed = group.failed ? `, ${group.failed} failed` : "";
      lines.push(`  ${name.padEnd(12)} ${seconds(group.ms)}   ${group.files} files, ${group.tests} tests${failed}`);
    }
    lines.push(`  ${"wall clock".padEnd(12)} ${seconds(Date.now() - this.startedAt)}`);
    lines.push(`jest: ${results.numPassedTests} passed, ${results.numFailedTests + results.numRuntimeErrorTestSuites} failed, ${results.numPendingTests} skipped`);
    process.stdout.write(`${lines.join("\n")}\n`);
  }
}

module.exports = GroupTimesReporter;
