// The web UI's end-to-end script: Debian's Chromium driven by playwright-core against the
// server and Envoy that tests/ui/test_ui_e2e.py starts (nothing is downloaded: the browser is
// /usr/bin/chromium). Each step names what it checks; the first failure ends the run with a
// non-zero exit code and a screenshot of the page as it was.
//
// Environment: MEM0STACK_UI_URL (the gateway, e.g. http://127.0.0.1:8080/),
// MEM0STACK_UI_ADMIN_KEY, MEM0STACK_UI_USER_KEY (a key of user alice only),
// MEM0STACK_UI_SCREENSHOTS (where the docs' screenshots go), MEM0STACK_TEST_CHROMIUM.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.MEM0STACK_UI_URL ?? "http://127.0.0.1:8080/";
const adminKey = process.env.MEM0STACK_UI_ADMIN_KEY ?? "";
const userKey = process.env.MEM0STACK_UI_USER_KEY ?? "";
const shots = process.env.MEM0STACK_UI_SCREENSHOTS ?? "";
const executablePath = process.env.MEM0STACK_TEST_CHROMIUM ?? "/usr/bin/chromium";
const STEP_TIMEOUT_MS = 20_000;

/** One REST call through Envoy, as any API client would make it. */
async function rest(method, path, body, key = adminKey) {
  const response = await fetch(new URL(path, base), {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

async function screenshot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

const userDataDir = mkdtempSync(join(tmpdir(), "mem0stack-ui-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1280, height: 860 },
});
context.setDefaultTimeout(STEP_TIMEOUT_MS);
const page = context.pages()[0] ?? (await context.newPage());
const consoleErrors = [];
page.on("pageerror", (err) => consoleErrors.push(String(err)));

let failed = false;
let passed = 0;
async function step(name, body) {
  const started = Date.now();
  try {
    await body();
    passed += 1;
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    console.log(`FAIL ${name} (${Date.now() - started} ms)\n${err?.stack ?? err}`);
    if (shots) await page.screenshot({ path: join(tmpdir(), "mem0stack-ui-failure.png") }).catch(() => {});
    console.log(`page at failure: ${page.url()}; screenshot ${join(tmpdir(), "mem0stack-ui-failure.png")}`);
    failed = true;
    throw err;
  }
}

async function signIn(key, user) {
  await page.goto(base);
  await page.getByLabel("API key").fill(key);
  await page.getByLabel("User to open").fill(user);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function signOut() {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("API key").waitFor();
}

const row = (text) => page.locator("table.memories tbody tr", { hasText: text });

try {
  // alice starts empty (the script may run twice against one server while being developed).
  await rest("POST", "/v1/users/alice/memories:batchDelete", { confirm: true });
  await rest("POST", "/v1/users/alice/memories", { content: "Prefers window seats", categories: ["travel"] });
  await rest("POST", "/v1/users/alice/memories", { content: "Allergic to peanuts", categories: ["health"] });
  await rest("POST", "/v1/users/alice/memories", {
    content: "Lives in Lisbon",
    categories: ["home"],
    metadata: { source: "chat" },
  });

  await step("the page is served at / with its assets, the key is not in the URL", async () => {
    const response = await page.goto(base);
    check(response?.status() === 200, `GET / answered ${response?.status()}`);
    await page.getByRole("heading", { name: "mem0-stack" }).waitFor();
    await screenshot(page, "sign-in");
  });

  await step("a wrong key is refused with its reason", async () => {
    await signIn("m0s_not_a_key", "alice");
    await page.getByRole("alert").filter({ hasText: "UNAUTHENTICATED" }).or(page.getByRole("alert").filter({ hasText: "Unauthenticated" })).first().waitFor();
  });

  await step("sign in with the admin key opens alice's memories", async () => {
    await signIn(adminKey, "alice");
    await page.getByRole("heading", { name: "Memories of alice" }).waitFor();
    await row("Lives in Lisbon").waitFor();
    check(!page.url().includes(adminKey), "the key is in the URL");
    const stored = await page.evaluate(() => window.sessionStorage.getItem("mem0stack.apiKey"));
    check(stored === adminKey, "the key is not in session storage");
    const local = await page.evaluate(() => Object.keys(window.localStorage).length);
    check(local === 0, "something was written to local storage");
  });

  await step("a memory added through the API appears live", async () => {
    await page.locator('[data-state="live"]').waitFor();
    await rest("POST", "/v1/users/alice/memories", {
      content: "Drinks a flat white every morning",
      categories: ["food"],
    });
    await row("Drinks a flat white every morning").waitFor();
    await screenshot(page, "memories");
  });

  await step("the filter language narrows the table", async () => {
    await page.getByLabel("Filter", { exact: true }).fill('categories:"home"');
    await page.getByRole("button", { name: "Apply" }).click();
    await row("Lives in Lisbon").waitFor();
    await row("Allergic to peanuts").waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Clear" }).click();
    await row("Allergic to peanuts").waitFor();
  });

  await step("a bad filter shows its reason", async () => {
    await page.getByLabel("Filter", { exact: true }).fill("categories ===");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByRole("alert").filter({ hasText: "InvalidArgument" }).waitFor();
    await page.getByRole("button", { name: "Clear" }).click();
    await row("Allergic to peanuts").waitFor();
  });

  await step("semantic search ranks and shows scores", async () => {
    await page.getByLabel("Search", { exact: true }).fill("coffee in the morning");
    await page.getByLabel("Mode").selectOption({ label: "Semantic" });
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByRole("columnheader", { name: "Score" }).waitFor();
    const first = page.locator("table.memories tbody tr").first();
    await first.filter({ hasText: "flat white" }).waitFor();
    const score = Number(await first.locator("td.score").innerText());
    check(score > 0 && score <= 1, `score ${score}`);
    await screenshot(page, "search");
    await page.getByRole("button", { name: "Clear" }).click();
    await page.getByRole("columnheader", { name: "Score" }).waitFor({ state: "detached" });
  });

  await step("the detail shows the memory and its history", async () => {
    await row("Lives in Lisbon").getByRole("link").click();
    await page.getByRole("heading", { name: "Lives in Lisbon" }).waitFor();
    await page.locator(".revision", { hasText: "CREATE" }).waitFor();
    await page.getByText('"source": "chat"').waitFor();
  });

  await step("editing records a revision with its diff", async () => {
    await page.getByRole("button", { name: "Edit" }).click();
    await page.getByLabel("Content", { exact: true }).fill("Lives in Porto");
    await page.getByLabel("Categories (comma-separated)").fill("home, moved");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("heading", { name: "Lives in Porto" }).waitFor();
    const update = page.locator(".revision", { hasText: "UPDATE" });
    await update.locator("del", { hasText: "Lisbon" }).waitFor();
    await update.locator("ins", { hasText: "Porto" }).waitFor();
    await screenshot(page, "memory-detail");
  });

  await step("deleting asks first, then the memory is gone", async () => {
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    await page.getByRole("alertdialog").waitFor();
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.getByRole("alertdialog").waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    await page.getByRole("button", { name: "Delete memory" }).click();
    await page.getByRole("heading", { name: "Memories of alice" }).waitFor();
    await row("Allergic to peanuts").waitFor();
    check((await row("Lives in Porto").count()) === 0, "the deleted memory is still listed");
  });

  await step("bulk delete removes the selected memories", async () => {
    await row("Allergic to peanuts").getByRole("checkbox").check();
    await row("Prefers window seats").getByRole("checkbox").check();
    await page.getByRole("button", { name: "Delete selected (2)" }).click();
    await page.getByRole("alertdialog").getByRole("button", { name: "Delete" }).click();
    await page.getByText("Deleted 2 memories.").waitFor();
    await row("Allergic to peanuts").waitFor({ state: "detached" });
    check((await row("Prefers window seats").count()) === 0, "a bulk-deleted memory is listed");
    await row("flat white").waitFor();
  });

  await step("at phone width the table is still usable", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await row("flat white").getByRole("link").waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    check(width <= 400, `the page scrolls sideways at phone width (${width} px)`);
    await screenshot(page, "memories-phone");
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  await step("a user key cannot open another user's memories", async () => {
    await signOut();
    await signIn(userKey, "alice");
    await row("flat white").waitFor();
    await page.goto(`${base}#/users/bob/memories`);
    await page.getByRole("alert").filter({ hasText: "PermissionDenied" }).waitFor();
    await screenshot(page, "permission-denied");
  });

  check(consoleErrors.length === 0, `errors in the page: ${consoleErrors.join("; ")}`);
} catch {
  failed = true;
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(failed ? `${passed} passed, 1 failed` : `${passed} passed, 0 failed`);
process.exit(failed ? 1 : 0);
