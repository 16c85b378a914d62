// What the browser tests share: a freshly started `registry-local serve`
// (free ports, temporary state, scratch database), headless Chromium, and
// pages that record what goes wrong.
//
// Environment: DATABASE_URL and DATABASE_TLS_CA (required), REGISTRY_LOCAL_BIN (the built
// binary), FACE_ENGINE_MODELS_DIR and REGISTRY_TEST_IMAGES (default to
// .local/models and .local/test-images), CHROMIUM (default /usr/bin/chromium).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, mkdir, readFile, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const binary = process.env.REGISTRY_LOCAL_BIN ?? path.join(root, "target/debug/registry-local");
const modelsDir = process.env.FACE_ENGINE_MODELS_DIR ?? path.join(root, ".local/models");
export const imagesDir = process.env.REGISTRY_TEST_IMAGES ?? path.join(root, ".local/test-images");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const artifactsDir = path.join(root, ".local/artifacts");

/** The registry `serve`s with `parameters` (KEY=VALUE), every port free.
 * Resolves with its banner's URLs (`gateway`, `loadBalancer`), the first
 * users' `passwords` by e-mail, and `stop()`. */
export async function startRegistry(parameters = []) {
  assert.ok(process.env.DATABASE_URL, "DATABASE_URL is not set: run `make test-e2e` (it starts the database)");
  assert.ok(existsSync(binary), `${binary} is missing: build it with cargo build -p local-runtime`);
  assert.ok(existsSync(path.join(imagesDir, "obama.jpg")), "test photos are missing: run `make test-images`");
  const stateDir = await mkdtemp(path.join(tmpdir(), "registry-browser-state-"));
  const any = "127.0.0.1:0";
  const server = spawn(binary, [
    "--state-dir", stateDir,
    "--template", path.join(root, "template.yaml"),
    "serve",
    ...["gateway", "s3", "engine", "secrets", "sign-in", "alb", "lambda", "sqs"].flatMap((what) => [`--${what}-listen`, any]),
    "--models-dir", modelsDir,
    "--scratch-database",
    // Last: it takes every value that follows.
    ...(parameters.length ? ["--parameter-overrides", ...parameters] : []),
  ], { env: process.env, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise((resolve) => server.once("exit", (code, signal) => resolve({ code, signal })));
  let stderr = "";
  server.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const banner = await new Promise((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => reject(new Error("registry-local did not start within 120 s\n" + stderr)), 120_000);
    server.stdout.on("data", (chunk) => {
      stdout += chunk;
      // The banner is whole once it says how to stop.
      if (stdout.includes("Ctrl-C stops.")) {
        clearTimeout(timer);
        resolve(stdout);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`registry-local exited (code ${code}, signal ${signal}) before starting:\n${stderr}`));
    });
  });
  const url = (label) => banner.match(new RegExp(`^\\s*${label}\\s+(http://127\\.0\\.0\\.1:\\d+)\\s`, "m"))?.[1];
  const passwords = {};
  for (const [, email, file] of banner.matchAll(/^\s+(\S+@registry\.local)\s+(\S+)\s*$/gm)) {
    passwords[email] = (await readFile(file, "utf8")).trim();
  }
  return {
    gateway: url("Gateway"),
    loadBalancer: url("Load balancer"),
    passwords,
    async stop() {
      if (server.exitCode === null) {
        server.kill("SIGINT");
        const { code } = await exited;
        assert.equal(code, 0, "registry-local stops cleanly on SIGINT");
      }
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** Headless Chromium with a profile of its own, speaking `locale` (its
 * Accept-Language and Intl's default); `close()` removes it. */
export async function startBrowser({ locale = "en-US" } = {}) {
  assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: install Debian's chromium`);
  const profileDir = await mkdtemp(path.join(tmpdir(), "registry-browser-profile-"));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    locale,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const close = context.close.bind(context);
  context.close = async () => {
    await close();
    await rm(profileDir, { recursive: true, force: true });
  };
  return context;
}

/** A page that records what goes wrong: script errors and failed requests
 * other than `expected` (path → status). */
export async function watchedPage(context, expected = {}) {
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (error) => page.problems.push(`page error: ${error.message}`));
  // Failed loads are checked by URL below; the browser's own favicon probe may 404.
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      page.problems.push(`console: ${message.text()}`);
    }
  });
  page.on("response", (response) => {
    const where = new URL(response.url()).pathname;
    if (response.status() >= 400 && where !== "/favicon.ico" && expected[where] !== response.status()) {
      page.problems.push(`HTTP ${response.status()} for ${response.request().method()} ${response.url()}`);
    }
  });
  return page;
}

/** The user pool's form, filled in and sent. */
export async function fillSignInForm(page, email, password) {
  await page.locator("#username").waitFor({ timeout: 10_000 });
  await page.fill("#username", email);
  await page.fill("#password", password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** A photo dropped on the enrolment form, as from a file manager. */
export async function dropPhoto(page, name) {
  const photoBytes = (await readFile(path.join(imagesDir, name))).toString("base64");
  const dropped = await page.evaluateHandle(([base64, file]) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], file, { type: "image/jpeg" }));
    return transfer;
  }, [photoBytes, name]);
  await page.dispatchEvent("#drop", "drop", { dataTransfer: dropped });
  await page.locator("#preview").waitFor({ state: "visible" });
}

export async function screenshot(page, name) {
  await mkdir(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `browser-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
}
