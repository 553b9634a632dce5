// Drives Mastra Studio in headless Chromium through every page the issue names, in one
// browser session, and prints what it saw as JSON (tests/studio/test_studio.py asserts).
//
// Usage: node drive.mjs <studioUrl> <apiUrl> <chromium> <screenshotDir>
// Never downloads a browser: playwright-core launches the given executable.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const [studioUrl, apiUrl, executablePath, shots] = process.argv.slice(2);
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const ERROR_TEXTS = ["Failed to load", "Something went wrong", "Unable to load", "Mastra instance URL"];
const userDataDir = fs.mkdtempSync(path.join(shots, ".profile-"));
fs.mkdirSync(shots, { recursive: true });

const result = { steps: {}, apiErrors: [], idleRequests: null, idleByRoute: {} };
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath, args: FLAGS, viewport: { width: 1400, height: 900 },
});
const page = context.pages()[0] ?? (await context.newPage());
let counting = null;
page.on("request", (request) => {
  if (counting && request.url().startsWith(apiUrl)) {
    counting.push(`${request.method()} ${new URL(request.url()).pathname}`);
  }
});
page.on("response", (response) => {
  const url = response.url();
  if (url.startsWith(apiUrl) && response.status() >= 400) {
    result.apiErrors.push(`${response.status()} ${response.request().method()} ${new URL(url).pathname}`);
  }
});

const bodyText = async () => (await page.locator("body").innerText()).slice(0, 20000);
const errorsShown = (text) => ERROR_TEXTS.filter((e) => text.includes(e));

async function step(name, run) {
  const record = { ok: false };
  result.steps[name] = record;
  try {
    Object.assign(record, await run());
    record.ok = true;
  } catch (error) {
    record.error = String(error?.message ?? error).slice(0, 500);
  }
  record.errorsShown = errorsShown(await bodyText().catch(() => ""));
  await page.screenshot({ path: path.join(shots, `${name}.png`) }).catch(() => {});
}

async function visit(route, ready) {
  await page.goto(studioUrl + route);
  if (ready) await page.getByText(ready, { exact: false }).first().waitFor({ timeout: 20000 });
  else await page.waitForLoadState("networkidle", { timeout: 20000 }).catch(() => {});
}

const message = `hello from the studio test ${Date.now()}`;

await step("load", async () => {
  await visit("/agents", "Agents");
  await page.waitForLoadState("networkidle", { timeout: 20000 }).catch(() => {});
  return { url: page.url() };
});

await step("agents", async () => {
  await page.locator('a[href*="/agents/assistant"]').first().waitFor({ timeout: 20000 });
  return { links: await page.locator('a[href*="/agents/assistant"]').count() };
});

await step("chat", async () => {
  await visit("/agents/assistant/chat/new");
  const box = page.locator("textarea").first();
  await box.waitFor({ timeout: 20000 });
  await box.fill(message);
  await box.press("Enter");
  await page.getByText(`Echo: ${message}`).first().waitFor({ timeout: 30000 });
  return { reply: `Echo: ${message}` };
});

await step("reload", async () => {
  await page.waitForTimeout(1500); // let the URL settle on the new thread
  const threadUrl = page.url();
  await page.reload();
  await page.getByText(`Echo: ${message}`).first().waitFor({ timeout: 20000 });
  const text = await bodyText();
  const threadLinks = await page.locator('a[href*="/threads/"]').count();
  return {
    threadUrl,
    userMessage: text.includes(message) && text.split(message).length - 1 >= 2,
    threadLinks,
  };
});

await step("memory", async () => {
  await page.getByText("Last Messages").first().waitFor({ timeout: 20000 });
  const text = await bodyText();
  return { lastMessages: text.includes("Last Messages"), unable: text.includes("Unable to load memory") };
});

await step("idle", async () => {
  counting = [];
  await page.waitForTimeout(20000);
  const seen = counting;
  counting = null;
  for (const line of seen) result.idleByRoute[line] = (result.idleByRoute[line] ?? 0) + 1;
  result.idleRequests = seen.length;
  return { requests: seen.length };
});

await step("traces", async () => {
  // The run's row shows the chat message as its input preview.
  await visit("/observability", message);
  return { listed: (await bodyText()).includes(message) };
});

await step("trace-detail", async () => {
  await page.getByText(message).first().click();
  await page.getByText("memory: save").first().waitFor({ timeout: 20000 });
  const text = await bodyText();
  return { spans: ["agent run: 'assistant'", "memory: recall", "llm: 'local/echo'", "memory: save"]
    .filter((s) => text.includes(s)) };
});

await step("metrics", async () => {
  await visit("/metrics", "Total Agent Runs");
  await page.waitForLoadState("networkidle", { timeout: 20000 }).catch(() => {});
  const card = async (title) => {
    const text = await page.getByText(title, { exact: true }).first()
      .locator("xpath=ancestor::*[self::div][2]").innerText();
    return Number((text.split("\n").find((line) => /^[\d,.]+$/.test(line.trim())) ?? "NaN").replace(/,/g, ""));
  };
  return { runs: await card("Total Agent Runs"), tokens: await card("Total Tokens") };
});

for (const [name, route, ready] of [["logs", "/logs", "Logs"], ["workflows", "/workflows", "Workflows"],
  ["scorers", "/scorers", "Scorers"], ["tools", "/tools", "Tools"]]) {
  await step(name, async () => {
    await visit(route, ready);
    await page.waitForLoadState("networkidle", { timeout: 20000 }).catch(() => {});
    await page.waitForTimeout(1000);
    return {};
  });
}

await context.close();
fs.rmSync(userDataDir, { recursive: true, force: true });
console.log(JSON.stringify(result));
