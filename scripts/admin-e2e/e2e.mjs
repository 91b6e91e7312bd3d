// The admin page in a real browser (Debian's Chromium, driven by playwright-core), against
// the `admin` example on a real PostgreSQL: see scripts/admin_e2e.sh, which starts them.
//
// Environment: FREE and PRO (the page for a Free and a Pro tenant), GOOD and GOOD_LOG (a
// receiver answering 200 and the file it logs requests to), HOSTILE (a receiver answering
// with a script), SHOTS (where the screenshots go).
import crypto from "node:crypto";
import fs from "node:fs";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const [FREE, PRO, GOOD, GOOD_LOG, HOSTILE, SHOTS] = [
  "FREE", "PRO", "GOOD", "GOOD_LOG", "HOSTILE", "SHOTS",
].map(env);

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? "ok" : "FAILED"} - ${what}`);
  if (!ok) failures += 1;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
await context.grantPermissions(["clipboard-read", "clipboard-write"]);
const page = await context.newPage();
let dialogs = 0;
page.on("dialog", (d) => { dialogs += 1; d.dismiss(); });

const rowOf = (text) => page.locator("#webhooks tbody tr").filter({ hasText: text });

try {
  // --- Free plan: three webhooks, each secret shown once, then the limit notice.
  await page.goto(FREE);
  check((await page.textContent(".usage")).includes("0 of 3 webhook slots in use"), "the usage counter starts at 0 of 3");
  const secrets = [];
  for (let i = 0; i < 3; i += 1) {
    const secret = await page.inputValue("#secret");
    check(/^[A-Za-z0-9]{32}$/.test(secret), `webhook ${i + 1}: a 32-character key is pre-filled`);
    if (i === 0) {
      await page.click("#add [data-copy=secret]");
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      check(copied === secret, "the copy button puts the key on the clipboard");
      await page.click("text=Regenerate");
      const again = await page.inputValue("#secret");
      check(again !== secret && again.length === 32, "Regenerate pre-fills another key");
      secrets.push(again);
    } else {
      secrets.push(secret);
    }
    await page.fill("#url", `${GOOD}?n=${i}`);
    if (i === 0) {
      await page.check("#add input[name=all]");
      const checked = await page.locator("#add input[name=events]:checked").count();
      const total = await page.locator("#add input[name=events]").count();
      check(checked === total && total === 56, `Select all checks all ${total} events`);
    } else {
      await page.check('#add input[value="sales.transaction.completed"]');
    }
    await page.click("#add button[type=submit]");
    await page.waitForURL(/notice=added/);
    const html = await page.content();
    check(!secrets.some((s) => html.includes(s)), `webhook ${i + 1}: no secret on the page after saving`);
    check((await rowOf(`?n=${i}`).count()) === 1, `webhook ${i + 1} appears in the table`);
  }
  check(await page.isVisible("#limit"), "at 3 webhooks the limit notice shows");
  check((await page.locator("#add").count()) === 0, "the Add New Webhook form is replaced by it");
  check((await page.textContent(".usage")).includes("3 of 3 webhook slots in use"), "the counter says 3 of 3");
  check((await rowOf("?n=1").textContent()).includes("Never"), "Last Triggered says Never before any delivery");
  await page.screenshot({ path: `${SHOTS}/admin-list.png`, fullPage: true });

  // --- Edit keeps the secret: after changing the events, Test is signed with the first key.
  await rowOf("?n=0").getByRole("link", { name: "Edit" }).click();
  await page.uncheck("#edit input[name=all]");
  await page.check('#edit input[value="course.member.completed"]');
  await page.click("#edit button[type=submit]");
  await page.waitForURL(/notice=saved/);
  check((await rowOf("?n=0").textContent()).includes("course.member.completed"), "the edited events show as badges");
  const before = fs.existsSync(GOOD_LOG) ? fs.readFileSync(GOOD_LOG, "utf8").trim().split("\n").filter(Boolean).length : 0;
  await rowOf("?n=0").getByRole("button", { name: "Test" }).click();
  await page.waitForURL(/notice=test-/);
  check((await page.textContent("[role=status]")).includes("Test delivered: the endpoint answered 200"), "Test reaches the loopback receiver, and says what it answered");
  const lines = fs.readFileSync(GOOD_LOG, "utf8").trim().split("\n").filter(Boolean);
  check(lines.length === before + 1, "the receiver got exactly one request");
  const last = JSON.parse(lines[lines.length - 1]);
  const body = Buffer.from(last.body, "base64");
  const expected = crypto.createHmac("sha256", secrets[0]).update(body).digest("hex");
  check(last.headers["x-learnomy-signature"] === expected, "after the edit, the request still verifies with the secret shown at creation");
  check(JSON.parse(body.toString()).type === "webhook.test", "the test payload is a webhook.test event");
  check(!(await rowOf("?n=0").textContent()).includes("Never"), "Last Triggered is set after the test");

  // --- Pro plan: the Delivery Log, a hostile response rendered as text, Delete.
  await page.goto(PRO);
  check((await page.textContent(".usage")).includes("no limit"), "the Pro plan has no limit");
  for (const url of [`${GOOD}?pro=1`, HOSTILE]) {
    await page.fill("#url", url);
    await page.check("#add input[name=all]");
    await page.click("#add button[type=submit]");
    await page.waitForURL(/notice=added/);
  }
  await rowOf("?pro=1").getByRole("button", { name: "Test" }).click();
  await page.waitForURL(/notice=test-delivered/);
  await rowOf("?pro=1").getByRole("link", { name: "Delivery Log" }).click();
  const good = await page.textContent("#log tbody tr");
  check(good.includes("200") && good.includes("delivered"), "the test appears in the Delivery Log (200, delivered)");

  await page.goto(PRO);
  await rowOf(HOSTILE).getByRole("button", { name: "Test" }).click();
  await page.waitForURL(/notice=test-failed/);
  check((await page.textContent("[role=status]")).includes("answered 500"), "a failed Test says what the endpoint answered");
  await rowOf(HOSTILE).getByRole("link", { name: "Delivery Log" }).click();
  const excerpt = await page.textContent("#log td.excerpt");
  check(excerpt.includes("<script>window.pwned=1;alert(1)</script>"), "the hostile response excerpt is shown as text");
  check(dialogs === 0 && (await page.evaluate(() => window.pwned === undefined)), "and never runs");
  await page.screenshot({ path: `${SHOTS}/admin-log.png`, fullPage: true });

  // --- Health, filters, an attempt's detail, and Recover and Resend from the filtered log.
  check(await page.isVisible("#health svg#chart"), "the health panel draws the last 24 hours as an SVG chart");
  check((await page.locator("#chart g.bar").count()) === 24, "one bar an hour");
  check((await page.locator("#chart g.bar").last().getAttribute("data-failures")) === "1", "this hour's bar counts the failed test");
  check((await page.textContent("#success-rate")).includes("0.0 %"), "the success rate says 0.0 %");
  check(/\d+ ms \/ \d+ ms/.test(await page.textContent("#latency")), "p50 / p95 latency in ms");
  const logUrl = page.url().split("?")[0];
  const filtered = `${logUrl}?type=webhook.test&result=gave_up`;
  await page.fill("#type", "webhook.test");
  await page.selectOption("#result", "gave_up");
  await page.click("#filter button[type=submit]");
  await page.waitForURL(/result=gave_up/);
  check((await page.locator("#log tbody tr").count()) === 1, "filtered by type and result: the failed test alone");
  await page.selectOption("#result", "delivered");
  await page.click("#filter button[type=submit]");
  await page.waitForURL(/result=delivered/);
  check((await page.textContent("#empty")).includes("No attempt matches"), "no delivered attempt: the filter says so");
  await page.goto(filtered);
  await page.locator("#log tbody tr").first().getByRole("link", { name: "Details" }).click();
  await page.waitForURL(/attempt\?delivery=/);
  check((await page.textContent("#response")).includes("500"), "the attempt's detail shows its status");
  check((await page.textContent("#excerpt")).includes("<script>window.pwned=1"), "and the response excerpt, as text");
  check(/^\d+ ms$/.test((await page.textContent("#duration")).trim()), "and its duration");
  const headers = await page.textContent("#headers");
  check(headers.includes("content-type") && headers.includes("application/json"), "and the request headers");
  check(!headers.toLowerCase().includes("x-learnomy-signature"), "minus the signature");
  check(dialogs === 0 && (await page.evaluate(() => window.pwned === undefined)), "the excerpt never runs there either");

  const attemptsOfTest = async () => {
    await page.goto(`${logUrl}?type=webhook.test`);
    return page.locator("#log tbody tr").count();
  };
  const waitForAttempts = async (n) => {
    for (let i = 0; i < 50; i += 1) {
      if ((await attemptsOfTest()) >= n) return true;
      await page.waitForTimeout(200);
    }
    return false;
  };
  await page.goto(filtered);
  const hourAgo = new Date(Date.now() - 3600 * 1000).toISOString().slice(0, 16);
  await page.fill("#since", hourAgo);
  await page.click("#recover button[type=submit]");
  await page.waitForURL(/notice=recovered-/);
  check((await page.textContent("[role=status]")).includes("1 failed deliveries sent again"), "Recover from the filtered log takes up the failed test");
  check(await waitForAttempts(2), "and the worker attempts it again: a new attempt in the log");
  await page.screenshot({ path: `${SHOTS}/admin-health.png`, fullPage: true });
  await page.locator("#log tbody tr").first().getByRole("link", { name: "Details" }).click();
  await page.waitForURL(/attempt\?delivery=/);
  await page.click("form[action$='/resend'] button[type=submit]");
  await page.waitForURL(/notice=resent/);
  check(await waitForAttempts(3), "Resend from an attempt's detail: another attempt in the log");

  await page.goto(PRO);
  await rowOf(HOSTILE).getByRole("link", { name: "Delete" }).click();
  check((await page.textContent("h1")).includes("Delete webhook?"), "Delete asks for a confirmation");
  await page.click("#confirm-delete button[type=submit]");
  await page.waitForURL(/notice=deleted/);
  check((await rowOf(HOSTILE).count()) === 0, "Delete removes the row");
  check((await rowOf("?pro=1").count()) === 1, "and only that row");
} catch (e) {
  console.log(`FAILED - ${e.stack || e}`);
  failures += 1;
} finally {
  await browser.close();
}
if (failures > 0) {
  console.log(`${failures} check(s) failed`);
  process.exit(1);
}
console.log("all checks passed");
