"use strict";
// The session every page shares: the bearer token in sessionStorage, the
// sign-in form, and `api()` for calls that carry it. A page listens for the
// "signed-in" event on `document` to load what the token lets it see.
const TOKEN_KEY = "faceRegistryToken";
const $ = (id) => document.getElementById(id);

function token() { return sessionStorage.getItem(TOKEN_KEY); }

function showSignIn(show) { $("signin").hidden = !show; $("who").textContent = show ? "" : "signed in"; }

function signedIn(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
  showSignIn(false);
  document.dispatchEvent(new Event("signed-in"));
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token()) headers["Authorization"] = "Bearer " + token();
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) { sessionStorage.removeItem(TOKEN_KEY); showSignIn(true); }
  return response;
}

async function errorText(response) {
  try { const body = await response.json(); return body.error.message; }
  catch (_) { return "request failed with status " + response.status; }
}

$("use-token").addEventListener("click", () => {
  const value = $("token").value.trim();
  if (value) { $("token").value = ""; signedIn(value); }
});

// The local runtime issues tokens itself; behind API Gateway this route is absent.
for (const button of document.querySelectorAll("#dev-signin button")) {
  button.addEventListener("click", async () => {
    const response = await fetch("/local/token", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ group: button.dataset.group }) });
    if (response.ok) signedIn((await response.json()).token);
  });
}

showSignIn(!token());
fetch("/local/token", { method: "GET" }).then((r) => { $("dev-signin").hidden = !r.ok; }).catch(() => {});
