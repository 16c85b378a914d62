// Operators in headless Chromium against a freshly started `registry-local
// serve` (free ports, temporary state, scratch database): an admin signs in
// through the user pool's form, enrols a person and watches the card turn
// indexed; a viewer sees people but no enrolment; signing out ends it all;
// a French browser gets the pages and the API's errors in French, and the
// language switch sticks;
// an admin erases the person, once confirmed, and nothing of them is left.
//
// Environment: see registry.mjs.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startRegistry, startBrowser, watchedPage as watched, fillSignInForm, dropPhoto, screenshot, imagesDir } from "./registry.mjs";

let registry;
let gatewayUrl;
/** E-mail → password of the first users `serve` created. */
let passwords;
let context;

before(async () => {
  registry = await startRegistry();
  gatewayUrl = registry.gateway;
  passwords = registry.passwords;
  assert.deepEqual(Object.keys(passwords).sort(), ["admin@registry.local", "viewer@registry.local"]);
  context = await startBrowser();
});

after(async () => {
  await context?.close();
  await registry?.stop();
});

const watchedPage = (expected) => watched(context, expected);

/** Signs in through the user pool's form from `path`, back on `path`. */
async function signIn(page, path, email) {
  await page.goto(`${gatewayUrl}${path}`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#username").waitFor({ timeout: 10_000 });
  assert.notEqual(new URL(page.url()).origin, gatewayUrl, "the form is the user pool's domain");
  await fillSignInForm(page, email, passwords[email]);
  // Back on the callback page, then where the sign-in began, without the code.
  await page.waitForURL((url) => url.origin === gatewayUrl && url.pathname === path && url.search === "", { timeout: 15_000 });
  await page.locator("#sign-out").waitFor({ state: "visible", timeout: 15_000 });
}

test("a wrong password is refused on the form", { timeout: 60_000 }, async () => {
  const page = await watchedPage();
  await page.goto(`${gatewayUrl}/faces`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.fill("#username", "admin@registry.local");
  await page.fill("#password", "Not-the-password-1");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "Incorrect username or password." }).waitFor();
  assert.notEqual(new URL(page.url()).origin, gatewayUrl, "still on the form");
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("an admin signs in, enrols, sees the face indexed and signs out", { timeout: 180_000 }, async () => {
  const page = await watchedPage({ "/api/faces": 401 });
  await signIn(page, "/upload", "admin@registry.local");
  assert.equal(await page.textContent("#who"), "admin@registry.local · admins");
  assert.ok(await page.getByRole("link", { name: "Enrol" }).isVisible());
  assert.equal(await page.evaluate(() => localStorage.length), 0, "nothing in local storage");

  await page.fill("#lastname", "Obama");
  await page.fill("#firstname", "Barack");
  await dropPhoto(page, "obama.jpg");
  assert.equal(await page.evaluate(() => document.getElementById("photo").files[0].name), "obama.jpg");
  assert.ok(await page.evaluate(() => document.getElementById("preview").naturalWidth > 0), "the preview shows the photo");
  await page.click("#submit");
  await page.locator("#status", { hasText: "indexed" }).waitFor({ timeout: 60_000 });
  assert.equal(await page.textContent("#message"), "");

  // The card shows the face, cut from the photo in the private bucket.
  const photo = page.waitForResponse((r) => r.url().includes("obama_barack.jpg") && r.request().method() === "GET", { timeout: 30_000 });
  await page.goto(`${gatewayUrl}/faces`);
  const card = page.locator('.card[data-key$=".obama_barack.jpg"][data-status="indexed"]');
  await card.waitFor({ timeout: 60_000 });
  assert.match(await card.innerText(), /Barack Obama/);
  assert.equal((await photo).status(), 200);
  const face = await card.locator(".photo").evaluate((node) => ({ image: node.style.backgroundImage, size: node.style.backgroundSize }));
  assert.match(face.image, /obama_barack\.jpg/);
  assert.notEqual(face.size, "cover", "cropped by the recorded face box");
  await screenshot(page, "faces-admin");

  // The person view opens from the card, by keyboard too, and closes with Escape.
  await card.getByRole("button", { name: "Open Barack Obama" }).focus();
  await page.keyboard.press("Enter");
  const view = page.getByRole("dialog", { name: "Barack Obama" });
  await view.waitFor();
  assert.match(await view.innerText(), /indexed[\s\S]*Photo[\s\S]*obama_barack\.jpg/);
  // Its history is the audit trail: the indexer's outcome, then the enrolment by the admin.
  await view.locator("#person-history li", { hasText: "enrolment by" }).waitFor();
  // Named by the e-mail the page's ID token proves.
  assert.match(await view.locator("#person-history").innerText(), /indexing \(indexed\) by the registry[\s\S]*enrolment by admin@registry\.local/);
  await page.waitForFunction(() => document.getElementById("person-photo").naturalWidth > 0);
  assert.equal(await page.locator("#person-box").isVisible(), true, "the face's box is drawn");
  await screenshot(page, "person-view");
  // An admin corrects the first name; the photo moves to a key of the new
  // name, where its face is indexed anew.
  await view.getByLabel("First name").fill("Barack Hussein");
  await view.getByRole("button", { name: "Save the names" }).click();
  const renamed = page.getByRole("dialog", { name: "Barack Hussein Obama" });
  await renamed.waitFor();
  assert.match(await renamed.innerText(), /\.obama_barack-hussein\.jpg/);
  assert.doesNotMatch(await renamed.innerText(), /obama_barack\.jpg/);
  await renamed.locator("#person-history li", { hasText: "rename by" }).waitFor();
  await page.keyboard.press("Escape");
  await renamed.waitFor({ state: "hidden" });
  const renamedCard = page.locator('.card[data-key$=".obama_barack-hussein.jpg"][data-status="indexed"]');
  await renamedCard.getByRole("button", { name: "Open Barack Hussein Obama" }).waitFor();
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, "faces-phone");
  await page.setViewportSize({ width: 1280, height: 800 });

  // Identify: another photo of him is found, with a box on his face; a
  // stranger is unknown.
  await page.getByRole("link", { name: "Identify" }).click();
  // (Again while his face is indexed anew under the new key.)
  await page.setInputFiles("#photo", path.join(imagesDir, "obama2.jpg"));
  const found = page.locator("#faces li", { hasText: "Barack Hussein Obama" });
  for (let attempt = 0; attempt < 30 && !(await found.count()); attempt++) {
    await page.getByRole("button", { name: "Identify", exact: true }).click();
    await page.locator("#faces li").first().waitFor({ timeout: 30_000 });
    if (!(await found.count())) await page.waitForTimeout(500);
  }
  await found.waitFor({ timeout: 30_000 });
  assert.equal(await page.locator("#boxes .box").count(), 1);
  await screenshot(page, "identify");
  await page.setInputFiles("#photo", path.join(imagesDir, "biden.jpg"));
  await page.getByRole("button", { name: "Identify", exact: true }).click();
  await page.locator("#faces li", { hasText: "Unknown" }).waitFor({ timeout: 30_000 });

  // The audit trail lists who did what, newest first: the searches first.
  await page.getByRole("link", { name: "Audit" }).click();
  const rows = page.locator("#entries tr");
  await rows.first().waitFor({ timeout: 10_000 });
  assert.match(await rows.first().innerText(), /search/);
  assert.ok(await page.locator("#entries tr", { hasText: "rename" }).count() > 0, "the rename");
  assert.ok(await page.locator("#entries tr", { hasText: "the registry" }).count() > 0, "the indexer's outcomes");
  await page.selectOption("#action", "enrolment");
  await page.getByRole("button", { name: "Show" }).click();
  await page.waitForFunction(() => [...document.querySelectorAll("#entries tr")].every((row) => row.textContent.includes("enrolment")));
  await screenshot(page, "audit");
  await page.goto(`${gatewayUrl}/faces`);
  await renamedCard.waitFor({ timeout: 30_000 });

  // Signing out revokes the refresh token and ends the session at the domain.
  const before = await page.evaluate(() => JSON.parse(sessionStorage.getItem("faceRegistrySession")));
  const config = await (await fetch(`${gatewayUrl}/auth/config`)).json();
  // Out through the domain's /logout and back to the page, loaded afresh.
  const back = page.waitForResponse((r) => r.url() === `${gatewayUrl}/faces` && r.request().resourceType() === "document");
  await page.getByRole("button", { name: "Sign out" }).click();
  await back;
  await page.waitForLoadState("load");
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/faces");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("faceRegistrySession")), null);
  assert.equal(await page.locator(".card").count(), 0);
  const refused = await page.evaluate(async () => (await api("/api/faces")).status);
  assert.equal(refused, 401, "the page is refused once signed out");
  const refresh = await fetch(config.tokenEndpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", client_id: config.clientId, refresh_token: before.refreshToken }),
  });
  assert.equal(refresh.status, 400, "the refresh token is revoked");
  // The domain forgot the browser: signing in again asks for the password.
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#password").waitFor({ timeout: 10_000 });
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("a viewer sees people but no enrolment", { timeout: 120_000 }, async () => {
  const page = await watchedPage();
  await signIn(page, "/faces", "viewer@registry.local");
  assert.equal(await page.textContent("#who"), "viewer@registry.local · viewers");
  await page.locator('.card[data-key$=".obama_barack-hussein.jpg"][data-status="indexed"]').waitFor({ timeout: 30_000 });
  assert.equal(await page.getByRole("link", { name: "Enrol" }).count(), 0, "no enrolment link");
  assert.equal(await page.getByRole("link", { name: "Audit" }).count(), 0, "no audit link");
  await page.getByRole("button", { name: "Open Barack Hussein Obama" }).click();
  const view = page.getByRole("dialog", { name: "Barack Hussein Obama" });
  await view.waitFor();
  assert.equal(await view.getByRole("button", { name: "Save the names" }).isVisible(), false, "no admin actions");
  assert.equal(await view.getByRole("button", { name: "Erase for good" }).isVisible(), false, "no erasure");
  await page.keyboard.press("Escape");
  await page.goto(`${gatewayUrl}/upload`);
  await page.locator("#admins-only").waitFor({ state: "visible" });
  assert.equal(await page.locator("#enrol").isVisible(), false, "no enrolment form");
  await screenshot(page, "upload-viewer");
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("in French: texts, statuses, figures, dates and the API's errors; the switch sticks", { timeout: 120_000 }, async () => {
  const french = await startBrowser({ locale: "fr-FR" });
  try {
    const page = await watched(french, { "/api/uploads": 400 });
    await page.goto(`${gatewayUrl}/upload`);
    assert.equal(await page.getAttribute("html", "lang"), "fr");
    assert.equal(await page.title(), "Inscrire une personne · Registre des visages");
    await page.getByRole("button", { name: "Se connecter" }).click();
    await fillSignInForm(page, "admin@registry.local", passwords["admin@registry.local"]);
    await page.waitForURL((url) => url.origin === gatewayUrl && url.pathname === "/upload" && url.search === "", { timeout: 15_000 });
    await page.getByRole("button", { name: "Se déconnecter" }).waitFor({ timeout: 15_000 });

    // The API answers in the page's language.
    await page.getByLabel("Nom", { exact: true }).fill("Curie");
    await page.getByLabel("Prénom", { exact: true }).fill("!!!");
    await dropPhoto(page, "obama.jpg");
    await page.getByRole("button", { name: "Inscrire", exact: true }).click();
    await page.locator("#message", { hasText: "le prénom n’a ni lettre ni chiffre dont former un nom de fichier" }).waitFor();

    // Statuses, the face's confidence and the dates as French writes them;
    // the names as typed.
    await page.getByRole("link", { name: "Personnes" }).click();
    const card = page.locator('.card[data-key$=".obama_barack-hussein.jpg"]');
    await card.locator(".badge", { hasText: "indexée" }).waitFor({ timeout: 30_000 });
    await card.getByRole("button", { name: "Ouvrir Barack Hussein Obama" }).click();
    const view = page.getByRole("dialog", { name: "Barack Hussein Obama" });
    await view.locator("#person-history li", { hasText: "indexation (indexée) par le registre" }).first().waitFor();
    const text = await view.innerText();
    // A space before the sign, as French writes it (no-break: narrow or not, by ICU version).
    assert.match(text, /Confiance du visage\s+\d{2,3},\d\s%/);
    assert.match(text, /\d{1,2} (janv|févr|mars|avr|mai|juin|juil|août|sept|oct|nov|déc)\.? \d{4}/);
    assert.match(text, /inscription par admin@registry\.local/);
    await screenshot(page, "person-view-fr");
    await page.keyboard.press("Escape");

    // The switch: English for this browser from then on, and back.
    await page.getByRole("button", { name: "English" }).click();
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    assert.equal(await page.getAttribute("html", "lang"), "en");
    await page.reload();
    await card.locator(".badge", { hasText: "indexed" }).waitFor({ timeout: 30_000 });
    await page.getByRole("button", { name: "Français" }).click();
    await page.getByRole("button", { name: "Se déconnecter" }).waitFor();
    assert.deepEqual(page.problems, []);
    await page.close();
  } finally {
    await french.close();
  }
});

test("an admin erases a person once confirmed, and nothing of them is shown", { timeout: 120_000 }, async () => {
  // The viewer's session at the domain ends with the browser's cookies.
  await context.clearCookies();
  const page = await watchedPage();
  await signIn(page, "/faces", "admin@registry.local");
  const card = page.locator('.card[data-key$=".obama_barack-hussein.jpg"]');
  await card.waitFor({ timeout: 30_000 });
  const photoUrl = await card.locator(".photo").evaluate((node) => JSON.parse(node.style.backgroundImage.slice(4, -1)));
  await card.getByRole("button", { name: "Open Barack Hussein Obama" }).click();
  const view = page.getByRole("dialog", { name: "Barack Hussein Obama" });
  await view.waitFor();
  // Not without the confirmation.
  await view.getByRole("button", { name: "Erase for good" }).click();
  assert.equal(await view.isVisible(), true, "nothing is erased unconfirmed");
  assert.equal(await card.count(), 1);
  await view.getByLabel("I confirm that this person is to be erased").check();
  await screenshot(page, "erase-confirm");
  await view.getByRole("button", { name: "Erase for good" }).click();
  await view.waitFor({ state: "hidden" });
  await page.locator("#notice", { hasText: "erased: 2 face(s) and 1 photo version(s) removed; none left." }).waitFor();
  await card.waitFor({ state: "detached", timeout: 10_000 });
  assert.notEqual((await fetch(photoUrl)).status, 200, "the photo is gone from the bucket");
  // The audit trail keeps the erasure, with no name; after it, the
  // listing the page showed next.
  await page.getByRole("link", { name: "Audit" }).click();
  const rows = page.locator("#entries tr");
  await rows.first().waitFor({ timeout: 10_000 });
  const newest = (await rows.allInnerTexts()).filter((row) => !/\tlisting\t/.test(row));
  assert.match(newest[0], /erasure/);
  assert.doesNotMatch(await page.locator("#entries").innerText(), /obama/i);
  await screenshot(page, "audit-erasure");
  assert.deepEqual(page.problems, []);
  await page.close();
});
