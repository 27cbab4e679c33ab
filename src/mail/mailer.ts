/**
 * Outgoing mail (email verification links, invitations). One transport per process, chosen by the configuration:
 * SMTP through nodemailer when SMTP_URL is set; otherwise, outside production, the message is written to the log so
 * that a developer can follow the link. Production without SMTP_URL refuses to start: nobody could verify an address.
 */
import nodemailer from 'nodemailer';
import { ConfigError, type Config } from '../config.js';
import type { Logger } from '../logger.js';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  /** 'smtp' sends; 'log' only writes the message to the log (development). */
  readonly transport: 'smtp' | 'log';
  /** Sends the message; rejects when the SMTP server refuses it or cannot be reached in time. */
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** An unreachable mail server must not hold a request for minutes (nodemailer's defaults). */
const SMTP_TIMEOUTS_MS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 } as const;

export function createMailer(config: Pick<Config, 'mail' | 'nodeEnv'>, logger: Logger): Mailer {
  const log = logger.child({ component: 'mail' });
  const { smtpUrl, from } = config.mail;
  if (!smtpUrl) {
    if (config.nodeEnv === 'production') {
      throw new ConfigError([
        'SMTP_URL: required in production (email verification and invitation mails are sent through it)',
      ]);
    }
    return {
      transport: 'log',
      async send(message) {
        log.info(
          { to: message.to, subject: message.subject, text: message.text },
          'mail not sent (SMTP_URL is not set); its text follows',
        );
      },
      close() {},
    };
  }
  const smtp = nodemailer.createTransport({ url: smtpUrl, ...SMTP_TIMEOUTS_MS });
  return {
    transport: 'smtp',
    async send(message) {
      const info = await smtp.sendMail({ from, to: message.to, subject: message.subject, text: message.text });
      log.debug({ to: message.to, subject: message.subject, messageId: info.messageId }, 'mail sent');
    },
    close() {
      smtp.close();
    },
  };
}
