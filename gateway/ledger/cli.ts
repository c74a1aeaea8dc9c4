/**
 * `./sluice ledger <command>`: offline checks of the usage record, read-only (safe while the
 * gateway runs; a line being written is ignored as an unfinished tail).
 *
 *   verify [--checkpoint FILE] [--key FILE] [--dir DIR]
 *       Re-reads and re-hashes the whole record. Without --checkpoint, checks against the
 *       latest checkpoint the ledger stored itself; a checkpoint a regulator saved earlier
 *       (from `ledger checkpoint` or GET /v1/audit/checkpoint) is the stronger check.
 *   checkpoint [--dir DIR]
 *       Prints the latest stored checkpoint as JSON, for safekeeping.
 *
 * Exit codes: 0 intact, 1 integrity problem, 2 usage or I/O error.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { JWK } from 'jose';
import type { Checkpoint } from './checkpoint.ts';
import { PUBLIC_KEY_FILE, parseCheckpoint, readPublicKey } from './checkpoint.ts';
import { CHECKPOINTS_FILE, RECORDS_FILE, readLatestCheckpoint } from './file-store.ts';
import { describeProblem, verifyFile } from './verify.ts';

export const LEDGER_SUBDIR = 'ledger';

/** Where the gateway keeps its usage record inside the data directory. */
export function ledgerDir(dataDir: string): string {
  return join(dataDir, LEDGER_SUBDIR);
}

export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

const consoleOutput: CliOutput = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

const USAGE = [
  'usage: sluice ledger verify [--checkpoint FILE] [--key FILE] [--dir DIR]',
  '       sluice ledger checkpoint [--dir DIR]',
].join('\n');

class UsageError extends Error {}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`cannot read the ${what} file ${path}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`the ${what} file ${path} is not JSON`);
  }
}

async function verifyCommand(
  dir: string,
  values: { checkpoint?: string; key?: string },
  io: CliOutput,
): Promise<number> {
  const recordsPath = join(dir, RECORDS_FILE);
  if (!(await exists(recordsPath))) throw new UsageError(`no usage record at ${recordsPath}`);

  let publicKey: JWK | undefined;
  if (values.key !== undefined) publicKey = (await readJson(values.key, 'key')) as JWK;
  else publicKey = await readPublicKey(dir).catch(() => undefined);

  let checkpoint: Checkpoint | undefined;
  let source: string;
  if (values.checkpoint !== undefined) {
    try {
      checkpoint = parseCheckpoint(await readJson(values.checkpoint, 'checkpoint'));
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`${values.checkpoint} is not a Sluice checkpoint`);
    }
    source = values.checkpoint;
  } else {
    const path = join(dir, CHECKPOINTS_FILE);
    checkpoint = (await exists(path)) ? (await readLatestCheckpoint(path)).checkpoint : undefined;
    source = 'the latest checkpoint stored with the log';
  }
  if (checkpoint !== undefined && publicKey === undefined) {
    throw new UsageError(
      `no public key to check the checkpoint with (${join(dir, PUBLIC_KEY_FILE)} or --key)`,
    );
  }

  io.out(`usage record: ${recordsPath}`);
  const result = await verifyFile(recordsPath, { checkpoint, publicKey });
  if (!result.ok) {
    io.out(`FAILED: ${describeProblem(result.problem)}`);
    return 1;
  }
  io.out(`OK: ${result.size} entries intact, root ${result.root}`);
  if (result.checkpoint !== undefined) {
    io.out(
      `checkpoint: ${result.checkpoint.size} entries signed ${result.checkpoint.timestamp} by key ${checkpoint!.kid} (${source}): signature valid, log consistent`,
    );
  } else {
    io.out(
      'no checkpoint: the log is consistent in itself, but only a checkpoint kept elsewhere can show a wholesale rewrite',
    );
  }
  if (result.tornTailBytes) {
    io.out(
      `note: ignored ${result.tornTailBytes} bytes after the last complete entry (a write in progress or cut short)`,
    );
  }
  return 0;
}

async function checkpointCommand(dir: string, io: CliOutput): Promise<number> {
  const path = join(dir, CHECKPOINTS_FILE);
  const latest = (await exists(path)) ? (await readLatestCheckpoint(path)).checkpoint : undefined;
  if (latest === undefined) {
    io.err('no checkpoint stored yet (the gateway signs one periodically and at shutdown)');
    return 1;
  }
  io.out(JSON.stringify(latest, null, 2));
  return 0;
}

/**
 * Runs `sluice ledger <args>` against the usage record in `dataDir` (or `--dir`). Prints the
 * result and returns the exit code; never throws.
 */
export async function runLedgerCli(
  args: readonly string[],
  dataDir: string,
  io: CliOutput = consoleOutput,
): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        checkpoint: { type: 'string' },
        key: { type: 'string' },
        dir: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [command, ...rest] = positionals;
    if (values.help || command === 'help') {
      io.out(USAGE);
      return 0;
    }
    if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`);
    const dir = values.dir ?? ledgerDir(dataDir);
    switch (command) {
      case 'verify':
        return await verifyCommand(dir, values, io);
      case 'checkpoint':
        return await checkpointCommand(dir, io);
      default:
        throw new UsageError(
          command === undefined ? 'missing command' : `unknown command ${command}`,
        );
    }
  } catch (err) {
    if (err instanceof UsageError || (err instanceof TypeError && 'code' in err)) {
      io.err(`sluice ledger: ${err.message}`);
      io.err(USAGE);
    } else {
      io.err(`sluice ledger: ${err instanceof Error ? err.message : String(err)}`);
    }
    return 2;
  }
}
