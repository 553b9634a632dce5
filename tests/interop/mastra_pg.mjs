// Drives @mastra/pg (the pinned npm package) against a PostgreSQL database, for the
// Python interop tests: `node mastra_pg.mjs <command> <connection-url> [args...]`.
//   init                 create Mastra's tables and default indexes (PostgresStore.init)
//   write <thread> <res> save a thread with a title and metadata, and two messages
//   read <thread>        print {thread, messages, threads} as @mastra/pg reads them
// Output is one JSON document on stdout.
import { PostgresStore } from '@mastra/pg';

const [command, connectionString, ...args] = process.argv.slice(2);
const store = new PostgresStore({ id: 'stowage-interop', connectionString });

async function main() {
  await store.init();
  const memory = await store.getStore('memory');
  if (command === 'init') {
    return { ok: true };
  }
  if (command === 'write') {
    const [threadId, resourceId] = args;
    const createdAt = new Date('2025-04-01T10:00:00.250Z');
    await memory.saveThread({
      thread: {
        id: threadId,
        resourceId,
        title: 'Written by Mastra',
        metadata: { source: 'mastra', n: 1 },
        createdAt,
        updatedAt: createdAt,
      },
    });
    await memory.saveMessages({
      messages: [
        {
          id: `${threadId}-q`,
          threadId,
          resourceId,
          role: 'user',
          type: 'v2',
          createdAt: new Date('2025-04-01T10:00:01.000Z'),
          content: { format: 2, parts: [{ type: 'text', text: 'question from mastra' }] },
        },
        {
          id: `${threadId}-a`,
          threadId,
          resourceId,
          role: 'assistant',
          type: 'v2',
          createdAt: new Date('2025-04-01T10:00:02.500Z'),
          content: { format: 2, parts: [{ type: 'text', text: 'answer from mastra' }] },
        },
      ],
    });
    return { ok: true };
  }
  if (command === 'read') {
    const [threadId] = args;
    const thread = await memory.getThreadById({ threadId });
    const { messages } = await memory.listMessages({ threadId, perPage: false });
    const listed = await memory.listThreads({
      filter: { resourceId: thread?.resourceId },
      perPage: false,
    });
    return {
      thread,
      messages: messages.map((m) => ({
        id: m.id,
        threadId: m.threadId,
        resourceId: m.resourceId,
        role: m.role,
        createdAt: new Date(m.createdAt).toISOString(),
        content: m.content,
      })),
      threads: listed.threads.map((t) => t.id),
    };
  }
  throw new Error(`unknown command ${command}`);
}

try {
  const result = await main();
  process.stdout.write(JSON.stringify(result));
} finally {
  await store.close();
}
