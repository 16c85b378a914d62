// Enrols a person through the pages in headless Chromium against a freshly
// started `registry-local serve` (free ports, temporary state, scratch
// database), then watches the card reach `indexed` on /faces.
//
// Environment: DATABASE_URL and DATABASE_TLS_CA (required), REGISTRY_LOCAL_BIN (the built
// binary), FACE_ENGINE_MODELS_DIR and REGISTRY_TEST_IMAGES (default to
// .local/models and .local/test-images), CHROMIUM (default /usr/bin/chromium).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, mkdir, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const binary = process.env.REGISTRY_LOCAL_BIN ?? path.join(root, "target/debug/registry-local");
const modelsDir = process.env.FACE_ENGINE_MODELS_DIR ?? path.join(root, ".local/models");
const imagesDir = process.env.REGISTRY_TEST_IMAGES ?? path.join(root, ".local/test-images");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const artifactsDir = path.join(root, ".local/artifacts");

let server;
let serverExit;
let gatewayUrl;
let stateDir;
let profileDir;
let context;

/** Starts the registry and resolves with the gateway URL it prints. */
function startRegistry() {
  server = spawn(binary, [
    "--state-dir", stateDir,
    "--template", path.join(root, "template.yaml"),
    "serve",
    "--gateway-listen", "127.0.0.1:0",
    "--s3-listen", "127.0.0.1:0",
    "--engine-listen", "127.0.0.1:0",
    "--secrets-listen", "127.0.0.1:0",
    "--models-dir", modelsDir,
    "--scratch-database",
  ], { env: process.env, stdio: ["ignore", "pipe", "pipe"] });
  serverExit = new Promise((resolve) => server.once("exit", (code, signal) => resolve({ code, signal })));
  let stderr = "";
  server.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => reject(new Error("registry-local did not start within 120 s\n" + stderr)), 120_000);
    server.stdout.on("data", (chunk) => {
      stdout += chunk;
      const match = stdout.match(/^\s*Gateway\s+(http:\/\/127\.0\.0\.1:\d+)\s*$/m);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    serverExit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`registry-local exited (code ${code}, signal ${signal}) before starting:\n${stderr}`));
    });
  });
}

before(async () => {
  assert.ok(process.env.DATABASE_URL, "DATABASE_URL is not set: run `make test-e2e` (it starts the database)");
  assert.ok(existsSync(binary), `${binary} is missing: build it with cargo build -p registry-local`);
  assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: install Debian's chromium`);
  assert.ok(existsSync(path.join(imagesDir, "obama.jpg")), "test photos are missing: run `make test-images`");
  stateDir = await mkdtemp(path.join(tmpdir(), "registry-browser-state-"));
  profileDir = await mkdtemp(path.join(tmpdir(), "registry-browser-profile-"));
  gatewayUrl = await startRegistry();
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await context?.close();
  if (server && server.exitCode === null) {
    server.kill("SIGINT");
    const { code } = await serverExit;
    assert.equal(code, 0, "registry-local stops cleanly on SIGINT");
  }
  for (const dir of [stateDir, profileDir]) {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
});

test("enrol through the pages and see the card indexed", { timeout: 180_000 }, async () => {
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  // Failed loads are checked by URL below; the browser's own favicon probe may 404.
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on("response", (response) => {
    if (response.status() >= 400 && new URL(response.url()).pathname !== "/favicon.ico") {
      problems.push(`HTTP ${response.status()} for ${response.request().method()} ${response.url()}`);
    }
  });

  await page.goto(`${gatewayUrl}/upload`);
  const signIn = page.locator('#dev-signin button[data-group="admins"]');
  await signIn.waitFor({ state: "visible", timeout: 10_000 });
  await signIn.click();
  await page.locator("#signin").waitFor({ state: "hidden" });

  await page.fill("#lastname", "Obama");
  await page.fill("#firstname", "Barack");
  await page.setInputFiles("#photo", path.join(imagesDir, "obama.jpg"));
  await page.click("#submit");
  await page.locator("#status", { hasText: "indexed" }).waitFor({ timeout: 60_000 });
  assert.equal(await page.textContent("#message"), "");

  await page.goto(`${gatewayUrl}/faces`);
  const card = page.locator('.card[data-key="obama_barack.jpg"][data-status="indexed"]');
  await card.waitFor({ timeout: 60_000 });
  assert.match(await card.innerText(), /Barack/);
  // The photo is served from the private bucket through its presigned URL.
  await page.waitForFunction(() => {
    const img = document.querySelector('.card[data-key="obama_barack.jpg"] img');
    return img && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 15_000 });

  await mkdir(artifactsDir, { recursive: true });
  const screenshot = path.join(artifactsDir, "browser-faces.png");
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);
  assert.deepEqual(problems, []);
});
