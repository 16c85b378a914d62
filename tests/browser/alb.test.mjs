// An operator through the stack's load balancer (EnableAlb=true), in
// headless Chromium: the ALB's listener signs the admin in at the user
// pool (its session cookie), the page signs in for the API too, and the
// photo goes from the page straight to the bucket, whose CORS allows the
// ALB's origin (https://<AlbDomainName>, served here by the local ALB):
// the card turns indexed.
//
// Environment: see registry.mjs.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startRegistry, startBrowser, watchedPage, fillSignInForm, dropPhoto, screenshot } from "./registry.mjs";

let registry;
let context;

before(async () => {
  registry = await startRegistry([
    "EnableAlb=true",
    "AlbCertificateArn=arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    "AlbDomainName=registry.example.org",
  ]);
  assert.ok(registry.loadBalancer, "the banner names the load balancer");
  context = await startBrowser();
});

after(async () => {
  await context?.close();
  await registry?.stop();
});

test("an admin enrols a person through the load balancer", { timeout: 180_000 }, async () => {
  const alb = registry.loadBalancer;
  const page = await watchedPage(context);
  // The listener's authenticate-cognito: to the user pool's form, back
  // through /oauth2/idpresponse, then to the page.
  await page.goto(`${alb}/upload`);
  assert.notEqual(new URL(page.url()).origin, alb, "the form is the user pool's domain");
  await fillSignInForm(page, "admin@registry.local", registry.passwords["admin@registry.local"]);
  await page.waitForURL((url) => url.origin === alb && url.pathname === "/upload", { timeout: 15_000 });
  // The page's own sign-in, which the domain's session answers at once.
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => url.origin === alb && url.pathname === "/upload" && url.search === "", { timeout: 15_000 });
  await page.locator("#sign-out").waitFor({ state: "visible", timeout: 15_000 });
  assert.equal(await page.textContent("#who"), "admin@registry.local · admins");

  await page.fill("#lastname", "Obama");
  await page.fill("#firstname", "Barack");
  await dropPhoto(page, "obama.jpg");
  // The photo's PUT is cross-origin: from the ALB's origin to the bucket.
  const put = page.waitForResponse((r) => r.request().method() === "PUT", { timeout: 30_000 });
  await page.click("#submit");
  const answer = await put;
  assert.equal(answer.status(), 200);
  assert.equal((await answer.request().allHeaders())["origin"], alb);
  assert.equal((await answer.allHeaders())["access-control-allow-origin"], alb, "the bucket's CORS allows the ALB");
  await page.locator("#status", { hasText: "indexed" }).waitFor({ timeout: 60_000 });

  await page.goto(`${alb}/faces`);
  const card = page.locator('.card[data-key$=".obama_barack.jpg"][data-status="indexed"]');
  await card.waitFor({ timeout: 60_000 });
  assert.match(await card.innerText(), /Barack Obama/);
  await screenshot(page, "faces-alb");
  assert.deepEqual(page.problems, []);
  await page.close();
});
