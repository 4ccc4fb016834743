/**
 * A jest reporter that prints, after the run, where the time went: each test group (the folder under __tests__)
 * with its files, tests, the summed run time of its files and the CPU the whole machine used meanwhile, then the
 * plain closing line CI reads ("jest: N passed, N failed, N skipped"). The CPU figure is the machine's (/proc/stat),
 * so it holds what a file's servers, daemons and virtual machines did too, and anything else running then (in
 * `npm test`, the suites that run beside the rest: scripts/test-all.sh). Measured alone, cores busy well under 2
 * mean a group mostly waits, and could run beside another. Plain JavaScript because
 * jest loads reporters without transforming them.
 */
const fs = require("fs");
const path = require("path");

const SLOWEST_FILES = 12;
/** Clock ticks per second of /proc/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU seconds the machine has been busy since boot (everything but idle and iowait), or undefined off Linux. */
function busySeconds() {
  try {
    const [, ...fields] = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
    const ticks = fields.map(Number);
    const total = ticks.reduce((sum, value) => sum + value, 0);
    return (total - ticks[3] - ticks[4]) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

class GroupTimesReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
    this.groups = new Map();
    this.startedAt = Date.now();
    this.busyAtStart = new Map();
    this.files = [];
  }

  onTestStart(test) {
    this.busyAtStart.set(test.path, busySeconds());
  }

  onTestResult(test, result) {
    const relative = path.relative(path.join(this.rootDir, "__tests__"), result.testFilePath);
    const name = relative.split(path.sep)[0];
    const group = this.groups.get(name) ?? { files: 0, tests: 0, failed: 0, ms: 0, cpuSeconds: 0 };
    group.files += 1;
    group.tests += result.numPassingTests + result.numFailingTests + result.numPendingTests;
    group.failed += result.numFailingTests + (result.testExecError ? 1 : 0);
    group.ms += result.perfStats.end - result.perfStats.start;
    const before = this.busyAtStart.get(test.path);
    const after = busySeconds();
    const cpuSeconds = before !== undefined && after !== undefined ? after - before : 0;
    group.cpuSeconds += cpuSeconds;
    this.groups.set(name, group);
    this.files.push({ name: relative, ms: result.perfStats.end - result.perfStats.start, cpuSeconds });
  }

  onRunComplete(_contexts, results) {
    const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`.padStart(9);
    const cpu = (entry) => `cpu ${seconds(entry.cpuSeconds * 1000)} (${entry.ms > 0 ? (entry.cpuSeconds / (entry.ms / 1000)).toFixed(2) : "-"} cores)`;
    const lines = ["", "== test time by group (summed file run times; machine CPU meanwhile, and cores busy on average)"];
    for (const [name, group] of [...this.groups].sort((a, b) => b[1].ms - a[1].ms)) {
      const failed = group.failed ? `, ${group.failed} failed` : "";
      lines.push(`  ${name.padEnd(12)} ${seconds(group.ms)}   ${cpu(group)}   ${group.files} files, ${group.tests} tests${failed}`);
    }
    lines.push(`== the ${SLOWEST_FILES} slowest files`);
    for (const file of [...this.files].sort((a, b) => b.ms - a.ms).slice(0, SLOWEST_FILES)) {
      lines.push(`  ${seconds(file.ms)}   ${cpu(file)}   ${file.name}`);
    }
    lines.push(`  ${"wall clock".padEnd(12)} ${seconds(Date.now() - this.startedAt)}`);
    lines.push(`jest: ${results.numPassedTests} passed, ${results.numFailedTests + results.numRuntimeErrorTestSuites} failed, ${results.numPendingTests} skipped`);
    process.stdout.write(`${lines.join("\n")}\n`);
  }
}

module.exports = GroupTimesReporter;
