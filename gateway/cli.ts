import { signDemoToken } from './auth.ts';
import { loadConfig } from './config.ts';
import { DEMO_USERS } from './demo-control.ts';
import { runLedgerCli } from './ledger/cli.ts';

/** `./sluice token <user>` and `./sluice ledger ...`. */
async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const config = loadConfig();
  if (command === 'token') {
    const user = rest[0];
    if (!user || !(DEMO_USERS as readonly string[]).includes(user)) {
      process.stderr.write(`usage: ./sluice token <${DEMO_USERS.join('|')}>\n`);
      return 2;
    }
    // The token alone on the last line, so $(./sluice token alice) works.
    process.stdout.write(`${await signDemoToken(config, user)}\n`);
    return 0;
  }
  if (command === 'ledger') return runLedgerCli(rest, config.dataDir);
  process.stderr.write(`sluice: unknown command ${command ?? ''}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`sluice: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
