// Drives @mastra/libsql (the pinned npm package) against a SQLite file, for the Python
// interop tests: `node mastra_libsql.mjs <command> <db-file> <json-args>`.
//   write {threads, messages, resources, runs, spans, scores}
//                                   save them through Mastra's own store
//   read {resourceId, threadIds, runs, traceIds, scoreRunIds}
//                                   print what Mastra reads back
// Dates travel as ISO strings; output is one JSON document on stdout.
import { LibSQLStore } from '@mastra/libsql';

const [command, file, rawArgs] = process.argv.slice(2);
const args = JSON.parse(rawArgs ?? '{}');
const store = new LibSQLStore({ id: 'stowage-interop', url: `file:${file}` });

async function write(memory, workflows, observability, scores) {
  for (const t of args.threads ?? []) {
    await memory.saveThread({
      thread: { ...t, createdAt: new Date(t.createdAt), updatedAt: new Date(t.updatedAt) },
    });
  }
  if (args.messages?.length) {
    await memory.saveMessages({
      messages: args.messages.map((m) => ({ ...m, createdAt: new Date(m.createdAt) })),
    });
  }
  for (const r of args.resources ?? []) {
    await memory.updateResource(r);
  }
  for (const run of args.runs ?? []) {
    await workflows.persistWorkflowSnapshot(run);
  }
  for (const span of args.spans ?? []) {
    await observability.createSpan({
      span: {
        ...span,
        startedAt: new Date(span.startedAt),
        endedAt: span.endedAt ? new Date(span.endedAt) : undefined,
      },
    });
  }
  for (const score of args.scores ?? []) {
    await scores.saveScore(score);
  }
  return { ok: true };
}

async function read(memory, workflows, observability, scores) {
  const threads = await memory.listThreads({
    filter: { resourceId: args.resourceId },
    perPage: false,
    orderBy: { field: 'createdAt', direction: 'ASC' },
  });
  const messages = {};
  const byId = {};
  for (const threadId of args.threadIds ?? []) {
    byId[threadId] = await memory.getThreadById({ threadId });
    const page = await memory.listMessages({ threadId, perPage: false });
    messages[threadId] = page.messages;
  }
  const resource = await memory.getResourceById({ resourceId: args.resourceId });
  const runs = {};
  for (const { workflowName, runId } of args.runs ?? []) {
    runs[runId] = {
      snapshot: await workflows.loadWorkflowSnapshot({ workflowName, runId }),
      run: await workflows.getWorkflowRunById({ workflowName, runId }),
    };
  }
  const traces = {};
  for (const traceId of args.traceIds ?? []) {
    traces[traceId] = await observability.getTrace({ traceId });
  }
  const scoresByRun = {};
  for (const runId of args.scoreRunIds ?? []) {
    scoresByRun[runId] = await scores.listScoresByRunId({
      runId,
      pagination: { page: 0, perPage: 100 },
    });
  }
  return {
    threads: threads.threads, total: threads.total, byId, messages, resource, runs, traces,
    scores: scoresByRun,
  };
}

async function main() {
  await store.init();
  const memory = await store.getStore('memory');
  const workflows = await store.getStore('workflows');
  const observability = await store.getStore('observability');
  const scores = await store.getStore('scores');
  if (command === 'write') return write(memory, workflows, observability, scores);
  if (command === 'read') return read(memory, workflows, observability, scores);
  throw new Error(`unknown command ${command}`);
}

main()
  .then((out) => {
    process.stdout.write(JSON.stringify(out));
    process.exit(0);
  })
  .catch((err) => {
    console.error(err?.stack ?? String(err));
    if (err?.cause) console.error('cause:', err.cause?.stack ?? String(err.cause));
    process.exit(1);
  });
