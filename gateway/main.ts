import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';
import { SluiceError } from './errors.ts';
import { startServices } from './start.ts';

/** `./sluice start`: the gateway with the embedded demo. */
async function main(): Promise<void> {
  const started = performance.now();
  const config = loadConfig();
  const services = await startServices(config);
  const app = await buildApp({ services, logger: true });
  const address = await app.listen({ port: config.port, host: config.host });
  app.log.info(
    `Sluice is ready on ${address} (data in ${config.dataDir}, started in ${Math.round(performance.now() - started)} ms)`,
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info(`${signal}: shutting down`);
    await app.close();
    await services.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  const message = err instanceof SluiceError ? `${err.code}: ${err.message}` : String(err);
  process.stderr.write(`sluice: could not start: ${message}\n`);
  process.exit(1);
});
