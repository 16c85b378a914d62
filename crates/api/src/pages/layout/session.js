"use strict";
// The session every page shares. It signs in with the OAuth 2.0
// authorization code flow and PKCE at the authorization server the API
// names (GET /auth/config: the user pool's domain, in AWS and locally
// alike), keeps the tokens in sessionStorage, refreshes them a minute before
// they expire, and signs out by revoking the refresh token and ending the
// session at the domain. `api()` calls the API with the access token, and
// the ID token, by which the audit trail names the operator by e-mail. A page
// listens for "signed-in" on `document` to load what the caller may see.
const SESSION_KEY = "faceRegistrySession";
const PENDING_KEY = "faceRegistrySignIn";
// The client's callback and sign-out URL on this origin (template.yaml).
const CALLBACK_PATH = "/faces";
const $ = (id) => document.getElementById(id);
// The page's language (the registry chose it: the switch's cookie, else the
// browser's languages) and the scripts' texts in it.
const LANG = document.documentElement.lang;
const STRINGS = JSON.parse($("strings").textContent);
const LANG_COOKIE = "registry-lang";

// The text `key` in the page's language, `{name}` replaced by `args.name`.
function t(key, args = {}) {
  const text = STRINGS[key];
  if (text === undefined) throw new Error("no text " + key);
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in args ? String(args[name]) : whole));
}

// Numbers and dates as the language writes them ("98,0 %" in French).
const percentFormat = new Intl.NumberFormat(LANG, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
const dateFormat = new Intl.DateTimeFormat(LANG, { dateStyle: "medium", timeStyle: "short" });
const percent = (value) => percentFormat.format(Number(value) / 100);
const when = (iso) => dateFormat.format(new Date(iso));
const statusText = (status) => t("status." + status);
let signInConfig = null;
let refreshTimer = null;

function session() {
  try { return JSON.parse(sessionStorage.getItem(SESSION_KEY)); } catch (_) { return null; }
}

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(length) {
  const bytes = new Uint8Array(length);
  crypto.getRandomValues(bytes);
  return base64url(bytes);
}

// A token's claims, to show who is signed in (the API verifies the token itself).
function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (_) { return {}; }
}

function groups() {
  const current = session();
  return current ? claims(current.accessToken)["cognito:groups"] || [] : [];
}

async function loadConfig() {
  if (!signInConfig) {
    const response = await fetch("/auth/config");
    if (!response.ok) throw new Error(t("session.sign_in_unavailable", { status: response.status }));
    signInConfig = await response.json();
  }
  return signInConfig;
}

function formPost(url, fields) {
  return fetch(url, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields) });
}

async function tokenRequest(fields) {
  const config = await loadConfig();
  const response = await formPost(config.tokenEndpoint, Object.assign({ client_id: config.clientId }, fields));
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(t("session.sign_in_refused", { reason: body.error || response.status }));
  return body;
}

function showSession() {
  const current = session();
  const isAdmin = groups().includes("admins");
  $("signin").hidden = Boolean(current);
  $("sign-in").hidden = Boolean(current);
  $("sign-out").hidden = !current;
  for (const node of document.querySelectorAll("[data-role=admins]")) node.hidden = !isAdmin;
  if (!current) { $("who").textContent = ""; return; }
  const id = claims(current.idToken || "");
  const name = id.name || id.email || claims(current.accessToken).username || t("session.signed_in");
  $("who").textContent = name + " · " + (groups().join(", ") || t("session.no_group"));
}

function keep(tokens, previousRefreshToken) {
  const current = {
    accessToken: tokens.access_token,
    idToken: tokens.id_token,
    refreshToken: tokens.refresh_token || previousRefreshToken,
    expiresAt: Date.now() + tokens.expires_in * 1000,
  };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(current));
  scheduleRefresh(current);
  showSession();
}

function scheduleRefresh(current) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, Math.max(current.expiresAt - Date.now() - 60000, 5000));
}

function forget() {
  clearTimeout(refreshTimer);
  sessionStorage.removeItem(SESSION_KEY);
  showSession();
}

async function refresh() {
  const current = session();
  if (!current || !current.refreshToken) { forget(); return false; }
  try {
    keep(await tokenRequest({ grant_type: "refresh_token", refresh_token: current.refreshToken }), current.refreshToken);
    return true;
  } catch (_) { forget(); return false; }
}

async function signIn() {
  try {
    const config = await loadConfig();
    const state = randomText(16);
    const verifier = randomText(32);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({ state, verifier, returnTo: location.pathname }));
    const url = new URL(config.authorizationEndpoint);
    url.search = new URLSearchParams({
      response_type: "code", client_id: config.clientId, redirect_uri: location.origin + CALLBACK_PATH,
      scope: config.scope, state, code_challenge: base64url(new Uint8Array(digest)), code_challenge_method: "S256",
    }).toString();
    location.assign(url.toString());
  } catch (error) { $("signin-error").textContent = error.message; }
}

// Back from the authorization server with a code (or an error).
async function completeSignIn() {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return false;
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
  sessionStorage.removeItem(PENDING_KEY);
  history.replaceState(null, "", location.pathname);
  if (params.has("error")) throw new Error(t("session.sign_in_failed", { reason: params.get("error") }));
  if (!pending || pending.state !== params.get("state")) throw new Error(t("session.sign_in_mismatch"));
  keep(await tokenRequest({ grant_type: "authorization_code", code: params.get("code"), redirect_uri: location.origin + CALLBACK_PATH, code_verifier: pending.verifier }));
  if (pending.returnTo && pending.returnTo !== location.pathname) { location.replace(pending.returnTo); return true; }
  return false;
}

async function signOut() {
  const current = session();
  forget();
  try {
    // Behind the ALB this ends its session cookie; through the API it changes nothing.
    await fetch("/auth/sign-out", { method: "POST" });
    const config = await loadConfig();
    if (current && current.refreshToken) {
      await formPost(config.revocationEndpoint, { token: current.refreshToken, client_id: config.clientId });
    }
    const url = new URL(config.logoutEndpoint);
    url.search = new URLSearchParams({ client_id: config.clientId, logout_uri: location.origin + CALLBACK_PATH }).toString();
    location.assign(url.toString());
  } catch (error) { $("signin-error").textContent = error.message; }
}

async function api(path, options = {}) {
  const send = () => {
    // The API's error messages come in the page's language.
    const headers = Object.assign({ "Accept-Language": LANG }, options.headers || {});
    const current = session();
    if (current) headers["Authorization"] = "Bearer " + current.accessToken;
    if (current && current.idToken) headers["X-Id-Token"] = current.idToken;
    return fetch(path, Object.assign({}, options, { headers }));
  };
  let response = await send();
  if (response.status === 401 && session() && await refresh()) response = await send();
  if (response.status === 401) forget();
  return response;
}

// A drop zone for a file input: a file dropped on `zone` becomes the
// input's, then `chosen(file)` runs.
function dropZone(zone, input, chosen) {
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("over"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      chosen(event.dataTransfer.files[0]);
    }
  });
}

// Sends a photo where an upload ticket says (a presigned PUT). The browser
// sets Content-Length and Host itself; the other signed headers go as given.
async function sendPhoto(ticket, file) {
  const headers = {};
  for (const [name, value] of Object.entries(ticket.headers)) {
    if (name !== "content-length" && name !== "host") headers[name] = value;
  }
  const put = await fetch(ticket.uploadUrl, { method: ticket.method, headers, body: file });
  if (!put.ok) throw new Error(t("session.upload_failed", { status: put.status }));
}

async function errorText(response) {
  try { const body = await response.json(); return body.error.message; }
  catch (_) { return t("session.request_failed", { status: response.status }); }
}

$("sign-in").addEventListener("click", signIn);
// The other language, for this browser from now on: the registry reads the
// cookie before the browser's languages.
$("language").addEventListener("click", () => {
  const secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = LANG_COOKIE + "=" + $("language").dataset.lang + "; Path=/; Max-Age=31536000; SameSite=Lax" + secure;
  location.reload();
});
$("sign-out").addEventListener("click", signOut);

// Once the page's own script has run (and listens for "signed-in").
document.addEventListener("DOMContentLoaded", async () => {
  try {
    if (await completeSignIn()) return;
  } catch (error) { $("signin-error").textContent = error.message; }
  const current = session();
  if (current && current.expiresAt < Date.now() + 5000 && !(await refresh())) { showSession(); return; }
  showSession();
  if (session()) {
    scheduleRefresh(session());
    document.dispatchEvent(new Event("signed-in"));
  }
});
