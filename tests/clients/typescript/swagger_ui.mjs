// Swagger UI's "Try it out", as a developer exploring the docs uses it, in
// headless Chromium (Debian's, driven by playwright-core): Authorize with
// a token, PATCH /users/{id}/profile through the page, and the bio really
// changes (it once went to /users/{id} and changed nothing). The token
// survives a reload (persistAuthorization).
// Usage: node swagger_ui.mjs BASE_URL

import { chromium } from "playwright-core";

const baseUrl = process.argv[2];
if (!baseUrl) throw new Error("usage: swagger_ui.mjs BASE_URL");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";

async function api(method, path, body, token) {
  const response = await fetch(new URL(path, baseUrl), {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

function expect(condition, what) {
  if (!condition) throw new Error(`expected: ${what}`);
}

const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;
const username = `swagger_${suffix}`;
const password = "a long and secret pass";
const user = await api("POST", "/users", { username, email: `${username}@example.com`, password });
expect(user.status === 201, `registered (${user.status})`);
const signedIn = await api("POST", "/auth/token", { username, password });
const token = signedIn.body.access_token;
expect(typeof token === "string", "signed in");

const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
});
try {
  const page = await browser.newPage();
  await page.goto(new URL("/docs/", baseUrl).href);

  // Authorize with the access token.
  await page.locator(".auth-wrapper .authorize").click();
  await page.locator(".modal-ux input[type=text]").fill(token);
  await page.locator(".modal-ux .auth-btn-wrapper .authorize").click();
  await page.locator(".modal-ux .btn-done").click();

  // PATCH /users/{id}/profile, through Try it out.
  const operation = page.locator("#operations-profiles-users_profile_partial_update");
  await operation.locator(".opblock-summary").click();
  await operation.locator(".try-out__btn").click();
  await operation.locator("tr[data-param-name=id] input").fill(String(user.body.id));
  const bio = `Edited in Swagger UI ${suffix}`;
  await operation.locator("textarea.body-param__text").fill(JSON.stringify({ bio }));
  await operation.locator(".execute").click();
  const status = operation.locator(".live-responses-table .response .response-col_status");
  await status.first().waitFor();
  const shown = (await status.first().innerText()).trim();
  expect(shown === "200", `Swagger UI shows 200, not ${shown}`);
  const url = await operation.locator(".request-url pre").innerText();
  expect(url.trim().endsWith(`/users/${user.body.id}/profile`), `the request went to the profile: ${url}`);

  const profile = await api("GET", `/users/${user.body.id}/profile`);
  expect(profile.body.bio === bio, `the bio changed (it is ${JSON.stringify(profile.body.bio)})`);

  // The token survives a reload.
  await page.reload();
  await page.locator(".auth-wrapper .authorize.locked").waitFor({ timeout: 10000 });
  console.log("swagger ui check passed: Try it out changed the bio; the token survived a reload");
} finally {
  await browser.close();
}
