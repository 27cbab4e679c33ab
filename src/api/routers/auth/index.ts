import { router } from '../../trpc/trpc.js';
import { loginRoute, logoutRoute, meRoute, refreshRoute, registerRoute } from './auth.js';

export const authRouter = router({ register: registerRoute, login: loginRoute, refresh: refreshRoute, logout: logoutRoute, me: meRoute });
