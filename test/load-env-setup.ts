import { loadDotenv } from '../src/config/load-dotenv';

/**
 * Gives unit tests the same environment the entry points read (`.env`, else `.env.example`) without starting
 * anything: jest's workers inherit the variables set here. Nothing in it dials a service.
 */
export default function loadEnvSetup(): void {
  loadDotenv();
}
