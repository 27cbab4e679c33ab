/**
 * Membership by consent (issue 10, item 10): verified email addresses through a one-time link mailed over SMTP, and
 * invitations that only the signed-in owner of the verified invited address can accept. The mails go through a real
 * SMTP server on a free local port; the tests take the links from them as a person would.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInvitation } from '../../src/auth/invitations.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import {
  code,
  INVITATION_TOKEN,
  joinByInvitation,
  startTestApi,
  VERIFY_TOKEN,
  verifyByMail,
  type ApiCaller,
  type TestApi,
} from '../helpers/api.js';
import { extract } from '../helpers/mail.js';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

let n = 0;
async function account(options: { verified?: boolean } = {}) {
  n++;
  const email = `person${n}_${Date.now()}@example.test`;
  const username = `person${n}_${Date.now() % 100000}`;
  const session = await (
    await api.caller({}, `10.20.0.${n}`)
  ).auth.register({ username, email, password: 'correct horse battery' });
  const as = await api.caller({ authorization: `Bearer ${session.accessToken}` }, `10.21.0.${n}`);
  if (options.verified) await verifyByMail(api, email);
  return { ...session, username, email, as, organizationId: session.organizationId! };
}

const memberIds = async (caller: ApiCaller, organizationId: string) =>
  (await caller.organizations.members({ organizationId })).items.map((m) => m.userId);
const membershipRows = async (organizationId: string) =>
  (
    await db.pool.query('SELECT user_id, role FROM organization_members WHERE organization_id = $1 ORDER BY user_id', [
      organizationId,
    ])
  ).rows;

describe('adding a member without their consent', () => {
  it('POST /organizations/{id}/members no longer adds whoever registered an email, nor names them', async () => {
    const owner = await account();
    const someone = await account();
    const res = await fetch(`${api.server.url}/api/v1/organizations/${owner.organizationId}/members`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email: someone.email, role: 'admin' }),
    });
    const body = await res.text();
    expect(res.status).toBe(404);
    expect(body).not.toContain(someone.username);
    expect(await membershipRows(owner.organizationId)).toEqual([]);
  });
});

describe('email verification by a mailed one-time link', () => {
  it('registration mails a link; following it (REST) sets the flag; the link works once', async () => {
    const user = await account();
    expect((await user.as.auth.me({})).user.emailVerified).toBe(false);
    const mail = await api.mailbox.waitFor(user.email);
    expect(mail).toMatchObject({ from: 'no-reply@example.test', subject: 'Confirm your email address' });
    const link = extract(mail, /(http:\S+\/verify-email\?token=evt_\S+)/);
    const token = new URL(link).searchParams.get('token')!;
    expect(link.startsWith(api.services.publicUrl)).toBe(true);
    // Opening the link (or a mail scanner fetching it) shows the confirmation page and uses up nothing.
    const page = await fetch(`${api.server.url}${new URL(link).pathname}${new URL(link).search}`);
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    expect(await page.text()).toContain('/api/v1/auth/verify-email');
    expect((await user.as.auth.me({})).user.emailVerified).toBe(false);

    const verify = () =>
      fetch(`${api.server.url}/api/v1/auth/verify-email`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      });
    const first = await verify();
    expect([first.status, await first.json()]).toEqual([200, { verified: true, email: user.email }]);
    expect((await user.as.auth.me({})).user.emailVerified).toBe(true);
    // Only the hash is stored.
    const stored = (
      await db.pool.query('SELECT token_hash FROM email_verification_tokens WHERE user_id = $1', [user.userId])
    ).rows;
    expect(stored).toEqual([{ token_hash: createHash('sha256').update(token).digest('hex') }]);

    const again = await verify();
    expect(again.status).toBe(401);
    expect(((await again.json()) as { message: string }).message).toMatch(/already used/);
    expect(await code(user.as.auth.resendVerification({}))).toBe('CONFLICT');
  });

  it('an expired link and a replaced link are refused; resending is limited per account', async () => {
    const user = await account();
    const anon = await api.caller({}, '10.22.0.1');
    const firstToken = extract(await api.mailbox.waitFor(user.email, 1), VERIFY_TOKEN);
    const resent = await user.as.auth.resendVerification({});
    expect(resent).toMatchObject({ sent: true, email: user.email });
    const secondToken = extract(await api.mailbox.waitFor(user.email, 2), VERIFY_TOKEN);
    expect(secondToken).not.toBe(firstToken);
    // The newer link replaces the older one.
    await expect(anon.auth.verifyEmail({ token: firstToken })).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
      message: expect.stringMatching(/not valid/),
    });

    await db.pool.query(
      `UPDATE email_verification_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1`,
      [user.userId],
    );
    await expect(anon.auth.verifyEmail({ token: secondToken })).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
      message: expect.stringMatching(/expired/),
    });
    expect((await user.as.auth.me({})).user.emailVerified).toBe(false);

    await user.as.auth.resendVerification({});
    await user.as.auth.resendVerification({});
    expect(await code(user.as.auth.resendVerification({}))).toBe('TOO_MANY_REQUESTS');
    // Registration's mail and three resends: the refused call sent nothing.
    await api.mailbox.waitFor(user.email, 4);
    expect(api.mailbox.to(user.email)).toHaveLength(4);
    await verifyByMail(api, user.email, 4);
    expect((await user.as.auth.me({})).user.emailVerified).toBe(true);

    expect(await code(anon.auth.verifyEmail({ token: 'evt_not-a-token' }))).toBe('BAD_REQUEST');
  });
});

describe('invitations', () => {
  it('only the signed-in user with the verified invited address can accept; nothing is added before', async () => {
    const owner = await account();
    const org = (await owner.as.organizations.create({ name: 'Consent', slug: `consent-${Date.now()}` })).id;
    const invitee = await account();
    const stranger = await account({ verified: true });

    const invitation = await owner.as.organizations.invite({
      organizationId: org,
      email: invitee.email.toUpperCase(),
      role: 'member',
    });
    // The inviter learns nothing about the address: the same answer as for an address nobody registered.
    const unknown = await owner.as.organizations.invite({
      organizationId: org,
      email: `nobody_${Date.now()}@example.test`,
      role: 'member',
    });
    expect(Object.keys(invitation).sort()).toEqual(Object.keys(unknown).sort());
    expect(invitation).toMatchObject({ email: invitee.email, role: 'member', status: 'pending' });
    expect(JSON.stringify(invitation)).not.toContain(invitee.username);
    expect(JSON.stringify(invitation)).not.toMatch(/inv_/);

    const mail = await api.mailbox.waitFor(invitee.email, 2);
    expect(mail.subject).toBe('Invitation to join Consent');
    const token = extract(mail, INVITATION_TOKEN);

    // Not a member until they accept.
    expect(await memberIds(owner.as, org)).toEqual([owner.userId]);
    expect(await code(invitee.as.triggers.list({ organizationId: org }))).toBe('FORBIDDEN');
    // Someone else, even verified, cannot use the token; the invitee cannot before verifying.
    expect(await code(stranger.as.organizations.acceptInvitation({ token }))).toBe('NOT_FOUND');
    await expect(invitee.as.organizations.acceptInvitation({ token })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringMatching(/verify your email/),
    });
    expect(await membershipRows(org)).toEqual([]);
    // API keys cannot accept for anyone.
    const key = await stranger.as.apiKeys.create({
      organizationId: stranger.organizationId,
      name: 'k',
      permissions: ['admin'],
    });
    expect(await code((await api.caller({ 'x-api-key': key.key })).organizations.acceptInvitation({ token }))).toBe(
      'FORBIDDEN',
    );

    await verifyByMail(api, invitee.email);
    expect(await invitee.as.organizations.acceptInvitation({ token })).toEqual({
      userId: invitee.userId,
      username: expect.any(String),
      email: invitee.email,
      role: 'member',
    });
    expect(await membershipRows(org)).toEqual([{ user_id: invitee.userId, role: 'member' }]);
    expect(await code(invitee.as.triggers.list({ organizationId: org }))).toBe('OK');
    // Single use.
    expect(await code(invitee.as.organizations.acceptInvitation({ token }))).toBe('NOT_FOUND');
    const statuses = Object.fromEntries(
      (await owner.as.organizations.invitations({ organizationId: org })).items.map((i) => [i.id, i.status]),
    );
    expect(statuses).toEqual({ [invitation.id]: 'accepted', [unknown.id]: 'pending' });
  });

  it('declined, revoked, replaced and expired invitations cannot be accepted', async () => {
    const owner = await account();
    const org = (await owner.as.organizations.create({ name: 'Ends', slug: `ends-${Date.now()}` })).id;
    const invitee = await account({ verified: true });
    let mails = api.mailbox.to(invitee.email).length;
    const nextToken = async () => extract(await api.mailbox.waitFor(invitee.email, ++mails), INVITATION_TOKEN);

    await owner.as.organizations.invite({ organizationId: org, email: invitee.email, role: 'viewer' });
    const declined = await nextToken();
    expect(await invitee.as.organizations.declineInvitation({ token: declined })).toEqual({
      declined: true,
      organizationId: org,
    });
    expect(await code(invitee.as.organizations.acceptInvitation({ token: declined }))).toBe('NOT_FOUND');

    const revokedInvitation = await owner.as.organizations.invite({
      organizationId: org,
      email: invitee.email,
      role: 'viewer',
    });
    const revoked = await nextToken();
    expect(
      await owner.as.organizations.revokeInvitation({ organizationId: org, invitationId: revokedInvitation.id }),
    ).toMatchObject({ status: 'revoked' });
    expect(
      await code(owner.as.organizations.revokeInvitation({ organizationId: org, invitationId: revokedInvitation.id })),
    ).toBe('NOT_FOUND');
    expect(await code(invitee.as.organizations.acceptInvitation({ token: revoked }))).toBe('NOT_FOUND');

    await owner.as.organizations.invite({ organizationId: org, email: invitee.email, role: 'viewer' });
    const replaced = await nextToken();
    await owner.as.organizations.invite({ organizationId: org, email: invitee.email, role: 'member' });
    const newest = await nextToken();
    expect(await code(invitee.as.organizations.acceptInvitation({ token: replaced }))).toBe('NOT_FOUND');

    await db.pool.query(
      `UPDATE organization_invitations SET expires_at = now() - interval '1 second' WHERE organization_id = $1`,
      [org],
    );
    expect(await code(invitee.as.organizations.acceptInvitation({ token: newest }))).toBe('NOT_FOUND');
    expect(await membershipRows(org)).toEqual([]);
  });

  it('only admins and the owner of the organization invite, never above their own role, never into another organization', async () => {
    const owner = await account();
    const org = (await owner.as.organizations.create({ name: 'Roles', slug: `roles-${Date.now()}` })).id;
    const admin = await account();
    const member = await account();
    await joinByInvitation(api, owner.as, org, admin, 'admin');
    await joinByInvitation(api, owner.as, org, member, 'member');
    const other = await account();
    const otherOrg = other.organizationId;
    const pending = await other.as.organizations.invite({
      organizationId: otherOrg,
      email: 'someone@example.test',
      role: 'viewer',
    });
    const invitationsBefore = (await db.pool.query('SELECT count(*)::int AS n FROM organization_invitations')).rows[0]
      .n;

    expect(
      await code(member.as.organizations.invite({ organizationId: org, email: 'x@example.test', role: 'viewer' })),
    ).toBe('FORBIDDEN');
    expect(await code(member.as.organizations.invitations({ organizationId: org }))).toBe('FORBIDDEN');
    // Another organization's admin: no invitation into it, no view of its invitations, no revoking them.
    expect(
      await code(admin.as.organizations.invite({ organizationId: otherOrg, email: 'x@example.test', role: 'viewer' })),
    ).toBe('FORBIDDEN');
    expect(await code(admin.as.organizations.invitations({ organizationId: otherOrg }))).toBe('FORBIDDEN');
    expect(await code(admin.as.organizations.revokeInvitation({ organizationId: org, invitationId: pending.id }))).toBe(
      'NOT_FOUND',
    );
    expect((await db.pool.query('SELECT count(*)::int AS n FROM organization_invitations')).rows[0].n).toBe(
      invitationsBefore,
    );
    expect((await other.as.organizations.invitations({ organizationId: otherOrg })).items.map((i) => i.status)).toEqual(
      ['pending'],
    );

    // An admin may invite up to admin; the rule is the domain's, whatever the caller's route.
    expect(
      await admin.as.organizations.invite({ organizationId: org, email: 'peer@example.test', role: 'admin' }),
    ).toMatchObject({ role: 'admin' });
    await expect(
      createInvitation(db.pool, {
        organizationId: org,
        email: 'up@example.test',
        role: 'admin',
        inviterRole: 'member',
        invitedBy: member.userId,
      }),
    ).rejects.toMatchObject({ code: 'forbidden', message: expect.stringMatching(/above your own/) });
    expect(
      await code(
        owner.as.organizations.invite({ organizationId: org, email: 'x@example.test', role: 'owner' as 'admin' }),
      ),
    ).toBe('BAD_REQUEST');
  });
});

describe('when the mail server cannot be reached', () => {
  it('registration still succeeds; a resend and an invitation answer 503 and leave nothing behind', async () => {
    const down = await startTestApi(db);
    await down.mailbox.close();
    try {
      const email = `unmailed_${Date.now()}@example.test`;
      const session = await (
        await down.caller({}, '10.30.0.1')
      ).auth.register({ username: `unmailed${Date.now() % 100000}`, email, password: 'correct horse battery' });
      const as = await down.caller({ authorization: `Bearer ${session.accessToken}` }, '10.30.0.2');
      expect((await as.auth.me({})).user).toMatchObject({ email, emailVerified: false });
      const tokens = async () =>
        (
          await db.pool.query('SELECT count(*)::int AS n FROM email_verification_tokens WHERE user_id = $1', [
            session.userId,
          ])
        ).rows[0].n;
      expect(await tokens()).toBe(0);

      await expect(as.auth.resendVerification({})).rejects.toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        message: expect.stringMatching(/could not be sent/),
      });
      expect(await tokens()).toBe(0);
      await expect(
        as.organizations.invite({
          organizationId: session.organizationId!,
          email: 'friend@example.test',
          role: 'viewer',
        }),
      ).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: expect.stringMatching(/nothing was created/) });
      expect(
        (
          await db.pool.query('SELECT count(*)::int AS n FROM organization_invitations WHERE organization_id = $1', [
            session.organizationId,
          ])
        ).rows[0].n,
      ).toBe(0);
    } finally {
      await down.close();
    }
  });
});
