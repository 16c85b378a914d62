"use strict";
let nextCursor = null;

function cell(text, className) {
  const node = document.createElement("td");
  if (className) node.className = className;
  node.textContent = text;
  return node;
}

function row(entry) {
  const node = document.createElement("tr");
  // By e-mail; by subject for entries written before e-mails were recorded.
  const caller = entry.caller.email || entry.caller.username || entry.caller.subject;
  node.append(
    cell(when(entry.at)),
    cell(t("action." + entry.action)),
    cell(entry.personId === null ? "" : String(entry.personId)),
    cell(caller ? caller + (entry.caller.groups.length ? " (" + entry.caller.groups.join(", ") + ")" : "") : t("person.the_registry")),
    cell(JSON.stringify(entry.detail), "detail"),
  );
  return node;
}

async function load(reset) {
  $("message").textContent = "";
  const params = new URLSearchParams();
  for (const name of ["person", "action", "caller"]) {
    if ($(name).value.trim()) params.set(name, $(name).value.trim());
  }
  if (!reset && nextCursor) params.set("cursor", nextCursor);
  const response = await api("/api/audit?" + params.toString());
  if (!response.ok) {
    if (response.status !== 401) $("message").textContent = await errorText(response);
    return;
  }
  const page = await response.json();
  if (reset) $("entries").replaceChildren();
  for (const entry of page.items) $("entries").appendChild(row(entry));
  nextCursor = page.nextCursor;
  $("more").hidden = !nextCursor;
}

$("filters").addEventListener("submit", (event) => { event.preventDefault(); load(true); });
$("more").addEventListener("click", () => load(false));
document.addEventListener("signed-in", () => {
  const admin = groups().includes("admins");
  $("admins-only").hidden = admin;
  if (admin) {
    const person = new URLSearchParams(location.search).get("person");
    if (person) $("person").value = person;
    load(true);
  }
});
