import { router } from '../../trpc/trpc.js';
import {
  loginRoute,
  logoutRoute,
  meRoute,
  refreshRoute,
  registerRoute,
  resendVerificationRoute,
  siweNonceRoute,
  siweVerifyRoute,
  verifyEmailRoute,
} from './auth.js';

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
