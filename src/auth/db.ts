/** Small database helpers shared by the auth services. */

/** The constraint a unique violation (23505) hit, or undefined for any other error. */
export function uniqueViolation(err: unknown): string | undefined {
  const e = err as { code?: string; constraint?: string } | undefined;
  return e?.code === '23505' ? (e.constraint ?? '') : undefined;
}

const SLUG_MAX_BASE = 48;

/** A slug (organizations.slug: ^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$) derived from any text. */
export function slugify(text: string): string {
  const slug = text
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, SLUG_MAX_BASE)
    .replace(/-+$/g, '');
  return slug || 'user';
}
