/** The texts of the mails the service sends. Plain text: every client shows it, and links stay intact. */
import type { MailMessage } from './mailer.js';

/** Where mail links point: the page that confirms an address (served by the API, src/api/verify-email-page.ts). */
const verifyEmailLink = (publicUrl: string, token: string) => `${publicUrl}/verify-email?token=${token}`;

export function verificationMail(input: {
  to: string;
  publicUrl: string;
  token: string;
  expiresAt: Date;
}): MailMessage {
  const api = input.publicUrl.replace(/\/+$/, '');
  return {
    to: input.to,
    subject: 'Confirm your email address',
    text: [
      'Confirm that this address is yours by opening this link:',
      '',
      verifyEmailLink(api, input.token),
      '',
      `or by sending the token to the API: POST ${api}/api/v1/auth/verify-email with {"token": "${input.token}"}`,
      '',
      `The link works once, until ${input.expiresAt.toISOString()}. If you did not create an account, ignore this mail.`,
    ].join('\n'),
  };
}

export function invitationMail(input: {
  to: string;
  publicUrl: string;
  token: string;
  organizationName: string;
  inviterName: string;
  role: string;
  expiresAt: Date;
}): MailMessage {
  const api = input.publicUrl.replace(/\/+$/, '');
  return {
    to: input.to,
    // Organization names are user input: no control characters in a header.
    subject: `Invitation to join ${input.organizationName.replace(/[\p{Cc}]+/gu, ' ').slice(0, 100)}`,
    text: [
      `${input.inviterName} invites you to join the organization "${input.organizationName}" as ${input.role}.`,
      '',
      `Sign in with this address (${input.to}, verified), then accept:`,
      `POST ${api}/api/v1/invitations/accept with {"token": "${input.token}"}`,
      `or decline: POST ${api}/api/v1/invitations/decline with the same token.`,
      '',
      `The invitation is valid until ${input.expiresAt.toISOString()}. If you do not know the sender, ignore this mail.`,
    ].join('\n'),
  };
}
