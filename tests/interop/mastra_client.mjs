// Drives Stowage's dev server with Mastra's own client, @mastra/client-js.
// Usage: node mastra_client.mjs <baseUrl> <gateFile>; prints one JSON object.
import { writeFileSync } from "node:fs";
import { MastraClient } from "@mastra/client-js";

const [baseUrl, gateFile] = process.argv.slice(2);
const client = new MastraClient({ baseUrl, retries: 0 });
const out = {};
const resourceId = "user-js";
const threadId = "thread-js";

const agents = await client.listAgents();
out.agentIds = Object.keys(agents).sort();
const assistant = client.getAgent("assistant");
out.details = await assistant.details();

// Threads: create, list, get, update
out.created = await client.createMemoryThread({
  agentId: "assistant", resourceId, threadId, title: "From client-js", metadata: { source: "js" },
});
out.listed = await client.listMemoryThreads({ resourceId, agentId: "assistant" });
const thread = client.getMemoryThread({ threadId, agentId: "assistant" });
out.got = await thread.get();
out.updated = await thread.update({ title: "Renamed by client-js", metadata: { step: 2 }, resourceId });

// Generate with memory, twice: the second answer is saved after the first
out.generated = await assistant.generate("hello from client-js", {
  memory: { thread: threadId, resource: resourceId },
});
out.generated2 = await assistant.generate([{ role: "user", content: "and again" }], {
  memory: { thread: threadId, resource: resourceId },
});

// Stream: chunks are consumed as they arrive; the gate opens after the first text chunk
const gated = client.getAgent("gated");
const response = await gated.stream("streamed words arrive one by one", {
  memory: { thread: "thread-stream", resource: resourceId },
});
const chunks = [];
let textBeforeGate = null;
await response.processDataStream({
  onChunk: async (chunk) => {
    chunks.push(chunk);
    if (chunk.type === "text-delta" && textBeforeGate === null) {
      textBeforeGate = chunk.payload.text;
      writeFileSync(gateFile, "open");
    }
  },
});
out.stream = {
  types: chunks.map((c) => c.type),
  text: chunks.filter((c) => c.type === "text-delta").map((c) => c.payload.text).join(""),
  textBeforeGate,
  runIds: [...new Set(chunks.map((c) => c.runId))],
};

// Messages and working memory
out.messages = await client.listThreadMessages(threadId, { agentId: "assistant" });
out.wmBefore = await client.getWorkingMemory({ agentId: "assistant", threadId, resourceId });
out.wmUpdate = await client.updateWorkingMemory({
  agentId: "assistant", threadId, resourceId, workingMemory: "# Name: Ada (from client-js)",
});
out.wmAfter = await client.getWorkingMemory({ agentId: "assistant", threadId, resourceId });

// Errors are MastraClientError with the status and our JSON body
try {
  await client.getMemoryThread({ threadId: "no-such-thread", agentId: "assistant" }).get();
  out.missing = "no error";
} catch (error) {
  out.missing = { status: error.status, body: error.body };
}

// Delete a second thread and see it gone
await client.createMemoryThread({ agentId: "assistant", resourceId, threadId: "thread-gone" });
out.deleted = await client.getMemoryThread({ threadId: "thread-gone", agentId: "assistant" })
  .delete();
out.afterDelete = await client.listMemoryThreads({ resourceId, agentId: "assistant" });

// Semantic recall: client-js searchMemory (GET /api/memory/search)
const recaller = client.getAgent("recaller");
for (const text of ["my cat is called Miso", "the weather is rainy today"]) {
  await recaller.generate(text, { memory: { thread: "thread-recall", resource: resourceId } });
}
out.search = await client.searchMemory({
  agentId: "recaller", resourceId, searchQuery: "what is my cat called",
});

process.stdout.write(JSON.stringify(out));
