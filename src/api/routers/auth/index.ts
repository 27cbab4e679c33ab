import { router } from '../../trpc/trpc.js';
import { loginRoute, logoutRoute, meRoute, refreshRoute, registerRoute, siweNonceRoute, siweVerifyRoute } from './auth.js';

export const authRouter = router({ register: registerRoute, login: loginRoute, refresh: refreshRoute, logout: logoutRoute, me: meRoute, siweNonce: siweNonceRoute, siweVerify: siweVerifyRoute });
