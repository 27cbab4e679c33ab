/**
 * The page a verification mail links to (`/verify-email?token=…`). Opening it changes nothing — mail scanners that
 * fetch links must not use up the token — the button posts the token to POST /api/v1/auth/verify-email. Static: the
 * token is read by the script from the address bar, never written into the HTML by the server.
 */
import { createHash } from 'node:crypto';

const SCRIPT = `const token = new URLSearchParams(location.search).get('token') || '';
const out = document.getElementById('out');
document.getElementById('go').addEventListener('click', async (e) => {
  e.target.disabled = true;
  try {
    const res = await fetch('/api/v1/auth/verify-email', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    const body = await res.json().catch(() => ({}));
    out.textContent = res.ok ? 'Your email address ' + body.email + ' is confirmed.' : (body.message || 'This link does not work.');
  } catch { out.textContent = 'The server could not be reached; try again.'; e.target.disabled = false; }
});`;

const HTML = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Confirm your email address</title>
<style>body{font-family:system-ui,sans-serif;margin:3rem auto;max-width:32rem}button{font-size:1rem;padding:.5rem 1rem}</style>
</head><body><h1>Confirm your email address</h1><p><button id="go">Confirm</button></p><p id="out" role="status"></p>
<script>${SCRIPT}</script></body></html>`;

export const VERIFY_EMAIL_PAGE_PATH = '/verify-email';

export const verifyEmailPage = {
  html: HTML,
  headers: {
    'content-type': 'text/html; charset=utf-8',
    // Only this page's own script, and requests to this origin; the token stays out of Referer headers.
    'content-security-policy': `default-src 'none'; script-src 'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'; style-src 'unsafe-inline'; connect-src 'self'`,
    'referrer-policy': 'no-referrer',
  },
};
