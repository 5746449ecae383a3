import { readEnv } from '../config/env';
import { loadDotenv } from '../config/load-dotenv';
import { stackDown, stackUp } from './stack';

async function main(command: string | undefined): Promise<void> {
  loadDotenv();
  if (command === 'up') {
    await stackUp(readEnv());
  } else if (command === 'down') {
    const stopped = await stackDown();
    console.error(
      `[stack] ${stopped.length ? `stopped ${stopped.join(', ')}` : 'nothing this project started is running'}`,
    );
  } else {
    throw new Error('usage: stack-cli up|down');
  }
}

main(process.argv[2]).catch((error: unknown) => {
  console.error(`[stack] ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
