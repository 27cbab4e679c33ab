/**
 * The child processes `npm start` runs (embedded Postgres, the Temporal dev server, anvil) live in their own process
 * groups, so a supervisor that dies without shutting down (SIGKILL, a crash, a terminal closed mid-shutdown) leaves
 * them running, holding their ports. The supervisor records itself and each child in `<DATA_DIR>/supervisor.json`;
 * the next start stops the children a dead supervisor left behind, and refuses to start next to a live one.
 * A process counts as the recorded one only while its command line is the recorded one (pids get reused).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from './logger.js';
import { sleep } from './indexer/rpc.js';

interface RecordedProcess {
  pid: number;
  args: string;
}

interface RecordedChild extends RecordedProcess {
  name: string;
  /** The signal that stops it cleanly (Postgres: SIGINT, a fast shutdown). */
  signal: NodeJS.Signals;
}

interface SupervisorRecord {
  supervisor: RecordedProcess;
  children: RecordedChild[];
}

/** The command line of a running process, or undefined when there is none with this pid. */
function commandLineOf(pid: number): string | undefined {
  try {
    const out = execFileSync('ps', ['-o', 'args=', '-p', String(pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return out === '' ? undefined : out;
  } catch {
    return undefined; // ps exits 1 when the pid does not exist
  }
}

const isRecordedProcess = (p: RecordedProcess) => commandLineOf(p.pid) === p.args;

async function stopProcess(child: RecordedChild, log: Logger): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(child.pid, s);
    } catch {
      // already gone
    }
  };
  signal(child.signal);
  for (let waited = 0; isRecordedProcess(child); waited += 100) {
    if (waited === 15_000) {
      log.warn({ child: child.name, pid: child.pid }, `${child.name} did not stop on ${child.signal}; killing it`);
      signal('SIGKILL');
    }
    await sleep(100);
  }
}

export class ChildProcessFile {
  private constructor(
    private readonly file: string,
    private readonly record: SupervisorRecord,
  ) {}

  /**
   * Takes the data directory for this supervisor: stops what a dead supervisor left running there (and logs which),
   * fails when a live one uses it, and records this process.
   */
  static async claim(dataDir: string, logger: Logger): Promise<ChildProcessFile> {
    const log = logger.child({ component: 'child-processes' });
    const file = path.join(dataDir, 'supervisor.json');
    mkdirSync(dataDir, { recursive: true });
    let previous: SupervisorRecord | undefined;
    if (existsSync(file)) {
      try {
        previous = JSON.parse(readFileSync(file, 'utf8')) as SupervisorRecord;
      } catch (err) {
        log.warn({ err, file }, 'unreadable supervisor file; ignoring it');
      }
    }
    if (previous && previous.supervisor.pid !== process.pid && isRecordedProcess(previous.supervisor)) {
      throw new Error(
        `another npm start (pid ${previous.supervisor.pid}) is running on the data directory ${dataDir}; stop it first, or set DATA_DIR to another directory`,
      );
    }
    for (const child of previous?.children ?? []) {
      if (!isRecordedProcess(child)) continue;
      log.warn(
        { child: child.name, pid: child.pid, previousSupervisor: previous!.supervisor.pid },
        `stopping the ${child.name} (pid ${child.pid}) left running by a previous npm start that did not shut down`,
      );
      await stopProcess(child, log);
      log.info({ child: child.name, pid: child.pid }, `stopped the leftover ${child.name}`);
    }
    const own = new ChildProcessFile(file, {
      supervisor: { pid: process.pid, args: commandLineOf(process.pid) ?? '' },
      children: [],
    });
    own.write();
    return own;
  }

  /** Records a child this supervisor started. */
  track(name: string, pid: number | undefined, signal: NodeJS.Signals = 'SIGTERM'): void {
    if (pid === undefined) return;
    const args = commandLineOf(pid);
    if (args === undefined) return;
    this.record.children = [...this.record.children.filter((c) => c.name !== name), { name, pid, args, signal }];
    this.write();
  }

  /** After a complete shutdown: nothing is left to stop. */
  remove(): void {
    rmSync(this.file, { force: true });
  }

  private write() {
    writeFileSync(this.file, `${JSON.stringify(this.record, null, 2)}\n`);
  }
}
