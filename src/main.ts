import { ConfigError, loadConfig, type Config } from './config.ts';
import { StartupRefusedError } from './errors.ts';
import { createLogger } from './lib/logger.ts';
import { startServer } from './server.ts';

async function main(): Promise<void> {
  let config: Readonly<Config>;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(78);
    }
    throw error;
  }
  const logger = createLogger(config.server.logLevel);
  let server;
  try {
    server = await startServer(config, { logger });
  } catch (error) {
    const refusal = refusalOf(error, config);
    if (refusal === undefined) throw error;
    console.error(`switchboard: ${refusal}`);
    process.exit(1);
  }
  logger.info({ url: server.url, dataDir: config.server.dataDir }, 'switchboard started');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/**
 * The one-line reason when start-up stopped for something an operator fixes: another process on
 * the data directory, a database newer than this code, the port taken. (Errors of the embedded
 * store come from its thread by name.)
 */
function refusalOf(error: unknown, config: Readonly<Config>): string | undefined {
  const { name, message, code } = error as { name?: string; message?: string; code?: string };
  if (error instanceof StartupRefusedError || name === 'StartupRefusedError' || name === 'SchemaTooNewError')
    return message;
  if (name === 'StoreUnavailableError')
    return `storage refuses writes at start-up (${message}); a full disk? Free space and start again`;
  if (code === 'EADDRINUSE')
    return `port ${config.server.port} on ${config.server.host} is already in use (another Switchboard?); set PORT to a free one`;
  return undefined;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
