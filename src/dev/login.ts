/**
 * `npm run login`: the login command (src/login.ts) with `--sandbox` available, which
 * starts the embedded sandbox for the sign-in. The sandbox is loaded only for `--sandbox`,
 * so a real login never builds its synthetic data.
 */
import { loginCommand } from '../login.ts';

void loginCommand({ sandbox: async (redirectUri) => (await import('./login-sandbox.ts')).startLoginSandbox(redirectUri) });
