import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildTemporalCli, GoBuildProgress, TEMPORAL_CLI_MODULE } from '../../src/dev/temporal-cli';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-cli-build-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A stand-in for `go` that prints what `go install -v` prints, slowly, then writes (or not) the binary. */
function fakeGo(name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\necho "args: $*" > "${file}.args"\n${body}\n`);
  fs.chmodSync(file, 0o755);
  return file;
}

describe('GoBuildProgress', () => {
  it('counts module downloads and compiled packages, and names each step once as it starts', () => {
    const progress = new GoBuildProgress();
    expect(progress.take('go: downloading github.com/temporalio/cli v1.5.1')).toBe(
      'downloading Go modules (once; cached afterwards)',
    );
    expect(progress.take('go: downloading go.temporal.io/server v1.29.0')).toBeUndefined();
    expect(progress.take('internal/goarch')).toBe('compiling packages');
    expect(progress.take('go.temporal.io/server/common/log')).toBeUndefined();
    expect(progress.take('# go.temporal.io/server/broken')).toBeUndefined();
    expect(progress.take('broken/x.go:12:3: undefined: y')).toBeUndefined();
    expect(progress.summary(130_000)).toBe(
      '2m 10s: 2 modules downloaded, 2 packages compiled (last: go.temporal.io/server/common/log)',
    );
    expect(new GoBuildProgress().summary(4_400)).toBe(
      '4s: nothing downloaded or compiled yet (resolving, reading the build cache or linking)',
    );
  });
});

describe('buildTemporalCli', () => {
  it('logs what go does and the elapsed time while it builds, then where the binary is', async () => {
    const binDir = path.join(dir, 'bin-ok');
    fs.mkdirSync(binDir);
    const go = fakeGo(
      'go-ok',
      [
        'echo "go: downloading github.com/temporalio/cli v1.5.1" >&2',
        'echo "go: downloading go.temporal.io/server v1.29.0" >&2',
        'sleep 0.4',
        'for p in internal/goarch runtime go.temporal.io/server/common; do echo "$p" >&2; done',
        'sleep 0.4',
        'printf "#!/bin/sh\\n" > "$GOBIN/temporal"; chmod +x "$GOBIN/temporal"',
      ].join('\n'),
    );
    const lines: string[] = [];
    const built = await buildTemporalCli(go, binDir, (line) => lines.push(line), { tickMs: 150 });
    expect(built).toBe(path.join(binDir, 'temporal'));
    expect(fs.readFileSync(`${go}.args`, 'utf8').trim()).toBe(`args: install -v ${TEMPORAL_CLI_MODULE}`);
    expect(lines[0]).toContain(`building the Temporal CLI (${TEMPORAL_CLI_MODULE}) into ${binDir}`);
    expect(lines).toContainEqual(
      expect.stringMatching(/^downloading Go modules \(once; cached afterwards\) \(\d+s: 1 modules/),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^compiling packages \(\d+s: 2 modules downloaded, 1 packages compiled/),
    );
    // The ticks: elapsed time and counts while it runs.
    const ticks = lines.filter((line) => line.startsWith('still building the Temporal CLI, '));
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    expect(lines.at(-1)).toMatch(
      /^built the Temporal CLI in \d+s: 2 modules downloaded, 3 packages compiled \(last: go.temporal.io\/server\/common\)$/,
    );
  });

  it("a failed build names go's exit and ends with its last output", async () => {
    const binDir = path.join(dir, 'bin-fail');
    fs.mkdirSync(binDir);
    const go = fakeGo('go-fail', 'echo "# go.temporal.io/x" >&2\necho "x.go:1:1: syntax error" >&2\nexit 1');
    const lines: string[] = [];
    await expect(buildTemporalCli(go, binDir, (line) => lines.push(line), { tickMs: 1_000 })).rejects.toThrow(
      /^building the Temporal CLI failed \(go exited with 1\):\n# go.temporal.io\/x\nx.go:1:1: syntax error\n$/,
    );
  });

  it('a build that outlives its timeout is killed and says so', async () => {
    const binDir = path.join(dir, 'bin-slow');
    fs.mkdirSync(binDir);
    const go = fakeGo('go-slow', 'exec sleep 30');
    await expect(buildTemporalCli(go, binDir, () => undefined, { timeoutMs: 300 })).rejects.toThrow(
      'building the Temporal CLI failed (timed out after 0.3 s)',
    );
  });
});
