// What a front-end developer does with portrait through a client generated
// by openapi-typescript and called through openapi-fetch, compiled with
// `tsc --strict`: every answer is also checked against the document (see
// check.ts). Usage: node out/scenario.js BASE_URL DOCUMENT PICTURE MAX_UPLOAD_BYTES

import { readFileSync } from "node:fs";
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";
import { DocumentCheck } from "./check.js";

type Problem = components["schemas"]["Problem"];
type UserBody = components["schemas"]["UserBody"];

const [baseUrl, documentPath, picturePath, maxUploadText] = process.argv.slice(2);
if (!baseUrl || !documentPath || !picturePath || !maxUploadText) {
  throw new Error("usage: scenario.js BASE_URL DOCUMENT PICTURE MAX_UPLOAD_BYTES");
}
const maxUploadBytes = Number(maxUploadText);
const document = new DocumentCheck(documentPath);
const picture = new Uint8Array(readFileSync(picturePath));

function expect(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`expected: ${what}`);
}

const isJson = (type: string | null) => /^application\/([a-z.+-]*\+)?json/.test(type ?? "");

// Every answer the client gets is checked against the document.
const againstTheDocument: Middleware = {
  async onResponse({ request, response, schemaPath }) {
    const type = response.headers.get("content-type");
    const body = isJson(type) ? await response.clone().json() : undefined;
    document.check(schemaPath, request.method, response.status, type, body);
    return undefined;
  },
};

let accessToken: string | undefined;
const withToken: Middleware = {
  onRequest({ request }) {
    if (accessToken && !request.headers.has("Authorization")) {
      request.headers.set("Authorization", `Bearer ${accessToken}`);
    }
    return request;
  },
};

const client = createClient<paths>({ baseUrl });
client.use(withToken, againstTheDocument);
const anonymousClient = createClient<paths>({ baseUrl });
anonymousClient.use(againstTheDocument);

function problem(error: unknown, status: number, response: Response): Problem {
  expect(response.status === status, `status ${status}, got ${response.status}`);
  expect(
    (response.headers.get("content-type") ?? "").startsWith("application/problem+json"),
    `a problem+json ${status}`,
  );
  const body = error as Problem;
  expect(body.status === status && typeof body.detail === "string", `a Problem body for ${status}`);
  return body;
}

const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;
const username = `ts_${suffix}`;
const password = "a long and secret pass";

// Register, and the problems registration can answer.
const registered = await client.POST("/users", {
  body: { username, email: `${username}@example.com`, password },
});
expect(registered.response.status === 201 && registered.data !== undefined, "201 on register");
const me: UserBody = registered.data;
expect(me.username === username && me.email === `${username}@example.com`, "own view has email");
expect(me.profile.image.is_default, "a new profile shows the default picture");
expect(registered.response.headers.get("location") === `/users/${me.id}`, "Location of the new user");

const taken = await client.POST("/users", {
  body: { username: username.toUpperCase(), email: `other_${suffix}@example.com`, password },
});
expect(problem(taken.error, 409, taken.response).errors?.["username"] !== undefined, "409 names username");

const invalid = await client.POST("/users", {
  body: { username: `x_${suffix}`, email: "not an address", password },
});
expect(problem(invalid.error, 422, invalid.response).errors?.["email"] !== undefined, "422 names email");

const badToken = await client.POST("/users", {
  body: { username: `y_${suffix}`, email: `y_${suffix}@example.com`, password },
  headers: { Authorization: "Bearer not.a.token" },
});
problem(badToken.error, 401, badToken.response);
expect(badToken.response.headers.get("www-authenticate") === "Bearer", "WWW-Authenticate: Bearer");

// Sign in.
const signedIn = await client.POST("/auth/token", { body: { username, password } });
expect(signedIn.data !== undefined, "200 on sign-in");
expect(signedIn.data.token_type === "Bearer", "a Bearer token");
expect(signedIn.response.headers.get("cache-control") === "no-store", "tokens are not cached");
accessToken = signedIn.data.access_token;

const wrong = await client.POST("/auth/token", { body: { username, password: "not the password" } });
problem(wrong.error, 401, wrong.response);

// Profile read and bio edit.
const own = await client.GET("/profile");
expect(own.data?.user_id === me.id, "GET /profile is mine");
const bio = `Paints birds ${suffix}`;
const edited = await client.PATCH("/users/{id}/profile", {
  params: { path: { id: me.id } },
  body: { bio },
});
expect(edited.data?.bio === bio, "the bio changed");
const anonymous = await anonymousClient.GET("/users/{id}/profile", {
  params: { path: { id: me.id } },
});
expect(anonymous.data?.bio === bio, "anyone reads the new bio");
const tooLong = await client.PATCH("/users/{id}/profile", {
  params: { path: { id: me.id } },
  body: { bio: "x".repeat(501) },
});
expect(problem(tooLong.error, 422, tooLong.response).errors?.["bio"] !== undefined, "422 names bio");

// Picture upload: the generated type of a `format: binary` part is
// `string`; the Blob goes through a FormData of our own (docs/api.md).
function upload(bytes: Uint8Array<ArrayBuffer>, name: string) {
  return client.PUT("/profile/picture", {
    body: { image: "" },
    bodySerializer() {
      const form = new FormData();
      form.append("image", new Blob([bytes]), name);
      return form;
    },
  });
}
const uploaded = await upload(picture, "me.jpg");
expect(uploaded.data !== undefined && !uploaded.data.image.is_default, "200 with the new picture");
const pictureUrl = uploaded.data.image.url;
const media = await fetch(new URL(pictureUrl, baseUrl));
document.check(document.templateOf(new URL(pictureUrl, baseUrl).pathname), "GET", media.status, media.headers.get("content-type"), undefined);
const stored = new Uint8Array(await media.arrayBuffer());
expect(media.status === 200 && stored[0] === 0xff && stored[1] === 0xd8, "the stored picture is a JPEG");

const text = await upload(new TextEncoder().encode("just some text, not a picture"), "a.txt");
problem(text.error, 415, text.response);
const tooBig = await upload(new Uint8Array(maxUploadBytes + 1), "big.jpg");
problem(tooBig.error, 413, tooBig.response);
const truncated = await upload(picture.subarray(0, Math.floor(picture.length / 2)), "half.jpg");
expect(problem(truncated.error, 422, truncated.response).errors?.["image"] !== undefined, "422 names image");

// Refresh: a new pair, and the new access token works.
const refreshed = await client.POST("/auth/refresh", {
  body: { refresh_token: signedIn.data.refresh_token },
});
expect(refreshed.data !== undefined, "200 on refresh");
accessToken = refreshed.data.access_token;
const notRefresh = await client.POST("/auth/refresh", { body: { refresh_token: accessToken } });
problem(notRefresh.error, 401, notRefresh.response);

// More users, then pagination in both modes and search.
const others: number[] = [];
for (const n of [1, 2, 3]) {
  const other = await anonymousClient.POST("/users", {
    body: { username: `ts_page${n}_${suffix}`, email: `page${n}_${suffix}@example.com`, password },
  });
  expect(other.data !== undefined, "another user registered");
  others.push(other.data.id);
}
const query = (url: string | null | undefined, name: string) =>
  url ? (new URL(url).searchParams.get(name) ?? undefined) : undefined;

const firstPage = await client.GET("/users", { params: { query: { limit: 2 } } });
expect(firstPage.data !== undefined && "count" in firstPage.data, "a limit/offset page");
expect(firstPage.data.count >= 4 && firstPage.data.results.length === 2, "count and a full page");
expect(firstPage.data.previous === null && typeof firstPage.data.next === "string", "next, no previous");
const offset = Number(query(firstPage.data.next, "offset"));
const secondPage = await client.GET("/users", { params: { query: { limit: 2, offset } } });
expect(secondPage.data !== undefined && "count" in secondPage.data, "the second page");
expect(secondPage.data.results[0]!.id > firstPage.data.results[1]!.id, "ordered by id");

async function cursorPage(cursor: string) {
  const page = await client.GET("/users", { params: { query: { limit: 2, cursor, search: suffix } } });
  expect(page.data !== undefined && !("count" in page.data), "a cursor page has no count");
  return page.data;
}
const seen: number[] = [];
let cursor: string | undefined = "";
while (cursor !== undefined) {
  const page = await cursorPage(cursor);
  seen.push(...page.results.map((user) => user.id));
  cursor = query(page.next, "cursor");
}
expect(
  JSON.stringify(seen) === JSON.stringify([me.id, ...others]),
  `cursor pages walk every match once, in order: ${JSON.stringify(seen)}`,
);
const search = await client.GET("/users", { params: { query: { search: `PAGE2_${suffix}` } } });
expect(search.data !== undefined && "count" in search.data, "a search page");
expect(search.data.count === 1 && search.data.results[0]!.id === others[1], "search is a case-insensitive substring");
const tampered = await client.GET("/users", { params: { query: { cursor: "forged" } } });
problem(tampered.error, 400, tampered.response);

// Picture delete: back on the default; the old file is gone.
const reset = await client.DELETE("/profile/picture");
expect(reset.data?.image.is_default === true, "back on the default picture");
const gone = await fetch(new URL(pictureUrl, baseUrl));
document.check(document.templateOf(new URL(pictureUrl, baseUrl).pathname), "GET", gone.status, gone.headers.get("content-type"), await gone.json());
expect(gone.status === 404, "the old picture file is removed");

// Account delete.
for (const id of others) {
  const other = await client.DELETE("/users/{id}", { params: { path: { id } } });
  problem(other.error, 403, other.response);
}
const deleted = await client.DELETE("/users/{id}", { params: { path: { id: me.id } } });
expect(deleted.response.status === 204, "204 on delete");
const afterwards = await client.GET("/users/{id}", { params: { path: { id: me.id } } });
problem(afterwards.error, 401, afterwards.response);
accessToken = undefined;
const missing = await client.GET("/users/{id}", { params: { path: { id: me.id } } });
problem(missing.error, 404, missing.response);

console.log(`typescript scenario passed: ${document.checked} answers checked against the document`);
