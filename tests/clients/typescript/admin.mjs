// The admin site as staff use it, in headless Chromium (Debian's, driven
// by playwright-core), with the database read after each action:
// sign in (a non-staff user is refused), search, open a user, change the
// bio, upload a picture and see its thumbnail, try to make the user staff
// as staff (refused) and as a superuser (done), see the history, delete
// with the confirmation page, sign out; a POST without its CSRF token is
// refused; every input has a label; the list reads at 375 px without a
// page-wide horizontal scroll; the pages work with the keyboard.
// Usage: node admin.mjs BASE_URL DATABASE_FILE SUPERUSER PASSWORD [SCREENSHOT_DIR]

import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { deflateSync } from "node:zlib";
import { chromium } from "playwright-core";

const [baseUrl, databaseFile, rootName, rootPassword, shots] = process.argv.slice(2);
if (!rootPassword) throw new Error("usage: admin.mjs BASE_URL DATABASE_FILE SUPERUSER PASSWORD [SCREENSHOT_DIR]");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
if (shots) mkdirSync(shots, { recursive: true });

function expect(condition, what) {
  if (!condition) throw new Error(`expected: ${what}`);
}

/** Rows of a query on the SQLite database, read behind the server's back. */
function sql(query) {
  const out = execFileSync("python3", [
    "-c",
    "import json, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.row_factory = sqlite3.Row; " +
      "print(json.dumps([dict(r) for r in c.execute(sys.argv[2])]))",
    databaseFile,
    query,
  ]);
  return JSON.parse(out.toString());
}

async function api(method, path, body, token) {
  const response = await fetch(new URL(path, baseUrl), {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: response.status === 204 ? null : await response.json() };
}

/** A small RGB PNG (a gradient with a disc), made here. */
function portraitPng(size = 160) {
  const rows = [];
  for (let y = 0; y < size; y++) {
    const row = [0];
    for (let x = 0; x < size; x++) {
      const inside = (x - size / 2) ** 2 + (y - size / 2.6) ** 2 < (size / 4) ** 2;
      row.push(inside ? 240 : 40 + x, inside ? 190 : 90 + y / 2, inside ? 150 : 160);
    }
    rows.push(Buffer.from(row));
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buffer) => {
    let c = 0xffffffff;
    for (const byte of buffer) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (kind, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(kind), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([length, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

// The accounts: a superuser (made with `portrait createsuperuser`), a staff
// member and a plain user, through the API.
const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const password = "a long and secret pass";
const root = await api("POST", "/auth/token", { username: rootName, password: rootPassword });
expect(root.status === 200, `the superuser signs in (${root.status})`);
const staffName = `staff_${suffix}`;
const targetName = `target_${suffix}`;
const staffUser = await api("POST", "/users", { username: staffName, email: `${staffName}@example.com`, password });
const target = await api("POST", "/users", { username: targetName, email: `${targetName}@example.com`, password });
expect(staffUser.status === 201 && target.status === 201, "users registered");
const promoted = await api("PATCH", `/users/${staffUser.body.id}`, { is_staff: true }, root.body.access_token);
expect(promoted.status === 200, `staff made (${promoted.status})`);
const targetId = target.body.id;
const row = () => sql(`SELECT u.is_staff, u.username, p.bio, p.image FROM users u JOIN profiles p ON p.user_id = u.id WHERE u.id = ${targetId}`)[0];

const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
});

async function everyInputIsLabelled(page, where) {
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input:not([type=hidden]), textarea, select")]
      .filter((input) => input.labels.length === 0)
      .map((input) => input.name),
  );
  expect(unlabelled.length === 0, `every input on ${where} has a label (not: ${unlabelled})`);
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

async function signIn(page, username, secret) {
  await page.goto(new URL("/admin/", baseUrl).href);
  expect(page.url().includes("/admin/login/"), `sent to sign in (${page.url()})`);
  await everyInputIsLabelled(page, "the sign-in page");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(secret);
  // The keyboard alone: Enter in the password field sends the form.
  await page.getByLabel("Password").press("Enter");
  await page.waitForLoadState();
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();

  // A user who is not staff is refused.
  await signIn(page, targetName, password);
  expect(await page.getByText("correct username and password for a staff account").isVisible(), "non-staff refused");
  await shot(page, "login");

  // Staff sign in, search and open the user.
  await signIn(page, staffName, password);
  expect(await page.locator("h1").innerText() === "Select user to change", "the change list");
  await page.getByLabel("Search users by username").fill(targetName);
  await page.getByRole("button", { name: "Search" }).click();
  await page.waitForLoadState();
  expect(await page.getByRole("link", { name: targetName }).count() === 1, "the search finds the user");
  expect(await page.getByRole("link", { name: rootName, exact: true }).count() === 0, "and only matching users");
  await page.getByRole("link", { name: targetName }).click();
  await page.waitForLoadState();
  expect((await page.locator("h1").innerText()).includes(targetName), "the change form");
  await everyInputIsLabelled(page, "the change form");

  // Change the bio.
  const bio = `Changed in Chromium ${suffix}`;
  await page.getByLabel("Bio").fill(bio);
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForLoadState();
  expect(await page.getByText("The user was changed successfully.").isVisible(), "saved");
  expect(row().bio === bio, `the bio is in the database (${row().bio})`);

  // Upload a picture and see it, and its thumbnail in the list.
  await page.getByLabel("New picture").setInputFiles({ name: "portrait.png", mimeType: "image/png", buffer: portraitPng() });
  await page.getByRole("button", { name: "Upload picture" }).click();
  await page.waitForLoadState();
  const stored = row().image;
  expect(stored.startsWith("profile_pics/"), `a picture stored (${stored})`);
  const picture = page.locator("img.picture");
  expect((await picture.getAttribute("src")).includes(stored), "the page shows the new picture");
  expect(await picture.evaluate((img) => img.complete && img.naturalWidth > 0), "the picture loads");
  await shot(page, "change");

  // Staff may not make anyone staff: a readable message, nothing changed.
  await page.getByLabel("Staff status").check();
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForLoadState();
  expect(await page.getByText("Only a superuser may change is_staff.").isVisible(), "refused as staff");
  expect(row().is_staff === 0, "still not staff");

  await page.goto(new URL(`/admin/users/?q=${targetName}`, baseUrl).href);
  const thumb = page.locator("img.thumb").first();
  expect(await thumb.evaluate((img) => img.complete && img.naturalWidth === 64), "the 64 px thumbnail loads");
  await shot(page, "users");

  // A POST without the CSRF token, with the session's cookie: refused.
  const forged = await page.request.post(new URL(`/admin/users/${targetId}/change/`, baseUrl).href, {
    form: { username: targetName, email: "forged@example.com", bio: "forged", is_active: "on" },
    maxRedirects: 0,
  });
  expect(forged.status() === 403, `a CSRF-less POST is 403 (${forged.status()})`);
  expect(row().bio === bio, "and changed nothing");

  // Sign out: the session row is gone.
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForLoadState();
  expect(await page.locator("h1").innerText() === "Logged out", "signed out");
  expect(sql(`SELECT COUNT(*) AS n FROM admin_sessions WHERE user_id = ${staffUser.body.id}`)[0].n === 0, "no session left");

  // The superuser makes the user staff, reads the history, deletes.
  await signIn(page, rootName, rootPassword);
  await page.goto(new URL(`/admin/users/${targetId}/change/`, baseUrl).href);
  await page.getByLabel("Staff status").check();
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForLoadState();
  expect(row().is_staff === 1, "made staff by the superuser");
  await page.getByRole("link", { name: "History" }).click();
  await page.waitForLoadState();
  const history = await page.locator("table").innerText();
  for (const line of ["Changed bio.", "Changed picture.", "Changed staff status.", staffName, rootName]) {
    expect(history.includes(line), `the history shows ${line}`);
  }
  await shot(page, "history");
  await page.goto(new URL(`/admin/users/${targetId}/change/`, baseUrl).href);
  await page.getByRole("link", { name: "Delete this user" }).click();
  await page.waitForLoadState();
  const confirmation = await page.locator("main").innerText();
  expect(confirmation.includes("Profile:") && confirmation.includes(stored.split("-")[0]), "the confirmation lists the profile and the files");
  await shot(page, "delete");
  await page.getByRole("button", { name: "Yes, I’m sure" }).click();
  await page.waitForLoadState();
  expect(await page.getByText("was deleted successfully").isVisible(), "deleted");
  expect(sql(`SELECT COUNT(*) AS n FROM users WHERE id = ${targetId}`)[0].n === 0, "the user row is gone");
  expect(sql(`SELECT COUNT(*) AS n FROM profiles WHERE user_id = ${targetId}`)[0].n === 0, "the profile row is gone");
  expect(sql(`SELECT COUNT(*) AS n FROM admin_log WHERE object_id = ${targetId} AND action = 'delete'`)[0].n === 1, "the deletion is recorded");

  // 375 px wide: the page itself does not scroll sideways (the table may, in its box).
  await page.setViewportSize({ width: 375, height: 740 });
  await page.goto(new URL("/admin/users/", baseUrl).href);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width <= 375, `readable at 375 px (page width ${width})`);
  await shot(page, "users-375");

  // The keyboard: Tab from the top reaches the skip link, then the controls.
  await page.keyboard.press("Tab");
  expect(await page.evaluate(() => document.activeElement?.textContent) === "Skip to content", "the skip link comes first");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForLoadState();
  console.log("admin site in Chromium: sign-in, search, change, upload, staff rules, history, delete, CSRF, 375 px: all passed");
} finally {
  await browser.close();
}
