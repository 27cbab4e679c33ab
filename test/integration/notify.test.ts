import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { feedbackEvent, insertEvent } from '../helpers/fixtures.js';

let db: TestDatabase;
let listener: pg.Client;
beforeAll(async () => {
  db = await createTestDatabase();
  listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  await listener.query('LISTEN new_event');
});
afterAll(async () => {
  await listener?.end();
  await db?.drop();
});

function nextNotifications(count: number): Promise<pg.Notification[]> {
  return new Promise((resolve, reject) => {
    const received: pg.Notification[] = [];
    const timer = setTimeout(
      () => reject(new Error(`only ${received.length} of ${count} notifications arrived`)),
      10_000,
    );
    const onNotification = (n: pg.Notification) => {
      received.push(n);
      if (received.length === count) {
        clearTimeout(timer);
        listener.off('notification', onNotification);
        resolve(received);
      }
    };
    listener.on('notification', onNotification);
  });
}

it('notifies new_event with the event id, at commit and not before', async () => {
  const arriving = nextNotifications(2);
  const client = await db.pool.connect();
  let early = false;
  const markEarly = () => (early = true);
  try {
    await client.query('BEGIN');
    listener.on('notification', markEarly);
    await insertEvent(client, feedbackEvent({ block_number: 1, log_index: 3 }));
    await insertEvent(client, feedbackEvent({ block_number: 1, log_index: 4 }));
    await new Promise((r) => setTimeout(r, 200));
    expect(early, 'notified before commit').toBe(false);
    listener.off('notification', markEarly);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  const notifications = await arriving;
  expect(notifications.map((n) => [n.channel, n.payload])).toEqual([
    ['new_event', '31337-1-3'],
    ['new_event', '31337-1-4'],
  ]);
});

it('does not notify for a rolled-back insert', async () => {
  let received = 0;
  const count = () => received++;
  listener.on('notification', count);
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await insertEvent(client, feedbackEvent({ block_number: 2 }));
    await client.query('ROLLBACK');
  } finally {
    client.release();
  }
  // A committed insert afterwards proves the channel is live, so the silence before it means something.
  const after = nextNotifications(1);
  await insertEvent(db.pool, feedbackEvent({ block_number: 3 }));
  expect((await after)[0]!.payload).toBe('31337-3-0');
  listener.off('notification', count);
  expect(received).toBe(1);
});
