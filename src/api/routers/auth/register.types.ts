import { z } from 'zod';
import { usernameSchema } from '../../../auth/accounts.js';
import { authPost, ZSessionResponse } from './schema.js';

export const registerMeta = authPost('/auth/register', 'Create an account (with a personal organization) and sign in');
export const ZRegisterRequest = z.object({
  username: usernameSchema,
  email: z.email('must be an email address').max(320),
  password: z.string().min(8, 'must be at least 8 characters').max(1024),
});
export const ZRegisterResponse = ZSessionResponse;
