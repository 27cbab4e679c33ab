import { z } from 'zod';
import { authPost, ZSessionResponse } from './schema.js';

export const loginMeta = authPost('/auth/login', 'Sign in with email and password');
export const ZLoginRequest = z.object({
  email: z.email('must be an email address').max(320),
  password: z.string().min(1).max(1024),
});
export const ZLoginResponse = ZSessionResponse;
