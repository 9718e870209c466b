// The web UI's end-to-end script: Debian's Chromium driven by playwright-core against the
// server and Envoy that tests/ui/test_ui_e2e.py starts (nothing is downloaded: the browser is
// /usr/bin/chromium). Each step names what it checks; the first failure ends the run with a
// non-zero exit code and a screenshot of the page as it was.
//
// Environment: MEM0STACK_UI_URL (the gateway, e.g. http://127.0.0.1:8080/),
// MEM0STACK_UI_ADMIN_KEY, MEM0STACK_UI_USER_KEY (a key of user alice only),
// MEM0STACK_UI_SCREENSHOTS (where the docs' screenshots go), MEM0STACK_TEST_CHROMIUM.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
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
  await rest("POST", "/v1/users/dave:erase", {});
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

  await step("the graph shows the entities the LLM extracted; a relation leads to its memories", async () => {
    await page.goto(`${base}#/users/carol/graph`);
    await page.getByRole("heading", { name: "Graph of carol" }).waitFor();
    await page.getByRole("button", { name: "Memories behind Dana lives_in Lisbon" }).click();
    await page.getByRole("heading", { name: "Dana lives_in Lisbon" }).waitFor();
    await page.locator(".selection-memories a", { hasText: "Dana lives in Lisbon" }).waitFor();
    // The same through the canvas: a click on the works_at edge.
    const at = await page.evaluate(() => {
      const cy = window.mem0stackGraph;
      const edge = cy.edges().filter((e) => e.data("label") === "works_at")[0];
      const mid = edge.renderedMidpoint();
      const box = cy.container().getBoundingClientRect();
      return { x: box.left + mid.x, y: box.top + mid.y };
    });
    await page.mouse.click(at.x, at.y);
    await page.getByRole("heading", { name: /works_at Acme$/ }).waitFor();
    await page.locator(".selection-memories a", { hasText: "Works at Acme" }).waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, "graph");
    await page.locator(".selection-memories a", { hasText: "Works at Acme" }).click();
    await page.getByRole("heading", { name: "Works at Acme as an engineer" }).waitFor();
    await page.locator("ul.relations li", { hasText: "works_at" }).waitFor();
  });

  await step("export downloads the memories; importing them into another user skips repeats", async () => {
    await page.goto(`${base}#/users/alice/transfer`);
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export", exact: true }).click(),
    ]);
    const file = join(userDataDir, "export.jsonl");
    await download.saveAs(file);
    const lines = readFileSync(file, "utf8").trim().split("\n");
    check(lines.length === 1 && JSON.parse(lines[0]).content === "Drinks a flat white every morning", `export: ${lines}`);
    await page.getByText("1 memories exported").waitFor();
    await page.goto(`${base}#/users/dave/transfer`);
    await page.getByLabel("JSON-lines file (a mem0-stack or mem0 export)").setInputFiles(file);
    await page.getByRole("button", { name: "Import into dave" }).click();
    await page.locator(".import-summary", { hasText: "1 imported, 0 skipped" }).waitFor();
    await screenshot(page, "import-export");
    await page.getByRole("button", { name: "Import into dave" }).click();
    await page.locator(".import-summary", { hasText: "0 imported, 1 skipped" }).waitFor();
    await page.goto(`${base}#/users/dave/memories`);
    await row("flat white").waitFor();
  });

  await step("an admin creates a key, sees its secret once, and revokes it", async () => {
    await page.goto(`${base}#/admin/keys`);
    await page.getByRole("heading", { name: "API keys" }).waitFor();
    await page.getByLabel("Role").selectOption({ label: "User: only the users named below" });
    await page.getByLabel("Users (comma-separated)").fill("erin");
    await page.getByLabel("Label").fill("e2e-temporary");
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = (await page.getByTestId("new-key-secret").innerText()).trim();
    check(secret.startsWith("m0s_"), `the secret shown is ${secret}`);
    await rest("GET", "/v1/users/erin/memories", undefined, secret);
    // The key's id is the public part of the secret, m0s_{id}_{secret}.
    const id = secret.split("_")[1];
    const keyRow = page.getByRole("row", { name: new RegExp(`^${id} `) });
    await keyRow.waitFor();
    await screenshot(page, "admin-keys");
    await page.getByRole("button", { name: "I have copied it" }).click();
    check((await page.getByTestId("new-key-secret").count()) === 0, "the secret is still shown");
    await keyRow.getByRole("button", { name: /^Revoke / }).click();
    await page.getByRole("button", { name: "Revoke key" }).click();
    await keyRow.waitFor({ state: "detached" });
    await page.getByLabel("Show revoked keys").check();
    await keyRow.waitFor();
    check((await keyRow.getByRole("button").count()) === 0, "a revoked key offers Revoke");
    let refused = false;
    for (let i = 0; i < 50 && !refused; i++) {
      // Each server caches a verified key briefly (MEM0STACK_AUTH_CACHE_S).
      refused = await rest("GET", "/v1/users/erin/memories", undefined, secret).then(() => false, () => true);
      if (!refused) await new Promise((r) => setTimeout(r, 200));
    }
    check(refused, "the revoked key still works");
  });

  await step("users with their counts, usage charts and the server status", async () => {
    await page.goto(`${base}#/admin/users`);
    const carol = page.getByRole("row", { name: /carol/ });
    await carol.waitFor();
    check((await carol.locator("td.number").first().innerText()) === "2", "carol's active memories");
    await page.goto(`${base}#/admin/usage`);
    await page.getByLabel("User", { exact: true }).last().fill("carol");
    await page.getByRole("button", { name: "Show" }).click();
    await page.locator("figure.usage-chart").nth(2).waitFor();
    await page.locator("figure.usage-chart .recharts-bar-rectangle").first().waitFor();
    // carol's conversation went through the LLM: her tokens are counted.
    const tokens = await page.locator(".card", { hasText: "LLM tokens" }).locator("dd").innerText();
    check(tokens !== "0 + 0", `carol's LLM tokens: ${tokens}`);
    await screenshot(page, "admin-usage");
    await page.goto(`${base}#/admin/status`);
    await page.locator(".card", { hasText: "Graph memory" }).filter({ hasText: "on" }).waitFor();
    await page.locator(".card", { hasText: "LLM" }).filter({ hasText: "fake-model" }).first().waitFor();
    await screenshot(page, "admin-status");
  });

  await step("a user key cannot open another user's memories", async () => {
    await signOut();
    await signIn(userKey, "alice");
    await row("flat white").waitFor();
    await page.goto(`${base}#/users/bob/memories`);
    await page.getByRole("alert").filter({ hasText: "PermissionDenied" }).waitFor();
    await screenshot(page, "permission-denied");
    await page.goto(`${base}#/admin/keys`);
    await page.getByRole("alert").filter({ hasText: "PermissionDenied" }).first().waitFor();
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
