/**
 * Child-process entry of the benchmark gateway (see gateway-process.ts): the real gateway
 * (startServices + buildApp) on 127.0.0.1 with an ephemeral port, in its own process so load
 * generators and baselines in the parent do not share its event loop.
 *
 * argv[2]: JSON config overrides for loadConfig. With `SLUICE_BENCH_FRESH_RECORD=1` the usage
 * record and the control store of the (bench-owned) data directory are removed first, so every
 * run starts from an empty record and a full daily export quota.
 * Prints one line `SLUICE_BENCH_READY {"port", "tokens", "startMs"}`; stops on SIGTERM or when
 * stdin closes (the parent died).
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { buildApp } from '../gateway/app.ts';
import { signDemoToken } from '../gateway/auth.ts';
import { loadConfig } from '../gateway/config.ts';
import { ledgerDir } from '../gateway/ledger/cli.ts';
import { startServices } from '../gateway/start.ts';

const started = performance.now();
const overrides = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof loadConfig>[1];
const config = loadConfig({}, { logLevel: 'silent', ...overrides });
if (process.env.SLUICE_BENCH_FRESH_RECORD === '1') {
  await rm(ledgerDir(config.dataDir), { recursive: true, force: true });
  await rm(path.join(config.dataDir, 'control.json'), { force: true });
}
const services = await startServices(config);
const app = await buildApp({ services });
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : 0;
const tokens = {
  alice: await signDemoToken(config, 'alice'),
  bob: await signDemoToken(config, 'bob'),
  reggie: await signDemoToken(config, 'reggie'),
};
process.stdout.write(
  `SLUICE_BENCH_READY ${JSON.stringify({ port, tokens, startMs: performance.now() - started })}\n`,
);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await app.close();
  await services.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
