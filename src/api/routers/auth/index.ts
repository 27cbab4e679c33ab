import { router } from '../../trpc/trpc.js';
import { meRoute } from './get-me.js';
import { loginRoute } from './login.js';
import { logoutRoute } from './logout.js';
import { refreshRoute } from './refresh-session.js';
import { registerRoute } from './register.js';
import { resendVerificationRoute } from './resend-verification.js';
import { siweNonceRoute } from './siwe-nonce.js';
import { siweVerifyRoute } from './siwe-verify.js';
import { verifyEmailRoute } from './verify-email.js';

export const authRouter = router({
  register: registerRoute,
  login: loginRoute,
  refresh: refreshRoute,
  logout: logoutRoute,
  me: meRoute,
  siweNonce: siweNonceRoute,
  siweVerify: siweVerifyRoute,
  verifyEmail: verifyEmailRoute,
  resendVerification: resendVerificationRoute,
});
