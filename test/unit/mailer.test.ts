import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createMailer } from '../../src/mail/mailer.js';
import { verificationMail } from '../../src/mail/messages.js';
import { startMailbox, type Mailbox } from '../helpers/mail.js';

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const message = verificationMail({
  to: 'dev@example.test',
  publicUrl: 'http://127.0.0.1:8080',
  token: `evt_${'a'.repeat(43)}`,
  expiresAt: new Date('2030-01-01T00:00:00Z'),
});

describe('mail transport from the configuration', () => {
  let mailbox: Mailbox;
  beforeAll(async () => {
    mailbox = await startMailbox();
  });
  afterAll(async () => mailbox?.close());

  it('sends over SMTP_URL from MAIL_FROM', async () => {
    const mailer = createMailer(
      loadConfig({ SMTP_URL: mailbox.url, MAIL_FROM: 'Ops <ops@example.test>' }),
      pino({ level: 'silent' }),
    );
    expect(mailer.transport).toBe('smtp');
    await mailer.send(message);
    mailer.close();
    const received = await mailbox.waitFor('dev@example.test');
    expect(received).toMatchObject({
      from: 'ops@example.test',
      to: ['dev@example.test'],
      subject: 'Confirm your email address',
    });
    expect(received.text).toContain(`http://127.0.0.1:8080/verify-email?token=evt_${'a'.repeat(43)}`);
  });

  it('in development without SMTP_URL, logs the mail with its link instead of sending it', async () => {
    const { logger, lines } = capturingLogger();
    const mailer = createMailer(loadConfig({}), logger);
    expect(mailer.transport).toBe('log');
    await mailer.send(message);
    expect(lines).toEqual([
      expect.objectContaining({
        component: 'mail',
        to: 'dev@example.test',
        text: expect.stringContaining('/verify-email?token=evt_'),
      }),
    ]);
  });

  it('refuses to run in production without SMTP_URL, and refuses a URL that is not SMTP', () => {
    expect(() => createMailer(loadConfig({ NODE_ENV: 'production' }), pino({ level: 'silent' }))).toThrow(ConfigError);
    expect(() => createMailer(loadConfig({ NODE_ENV: 'production' }), pino({ level: 'silent' }))).toThrow(
      /SMTP_URL: required in production/,
    );
    expect(() => loadConfig({ SMTP_URL: 'http://mail.example.com' })).toThrow(
      /SMTP_URL: must be an smtp:\/\/ or smtps:\/\/ URL/,
    );
  });
});
