"use strict";
let nextCursor = null;
let shown = 0;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function card(person) {
  const node = element("article", "card");
  node.dataset.key = person.key;
  node.dataset.status = person.status;
  const photo = element("img", "photo");
  photo.alt = "Photo of " + person.firstname + " " + person.lastname;
  if (person.photoUrl) photo.src = person.photoUrl;
  photo.addEventListener("error", () => photo.removeAttribute("src"));
  node.appendChild(photo);
  const body = element("div", "body");
  body.appendChild(element("div", "name", person.firstname + " " + person.lastname));
  body.appendChild(element("span", "badge " + person.status, person.status));
  body.appendChild(element("div", "key", person.key));
  if (person.identity) body.appendChild(element("div", "identity", "Face " + person.identity));
  if (person.statusReason) body.appendChild(element("div", "reason", person.statusReason));
  node.appendChild(body);
  return node;
}

function query(cursor, limit) {
  const params = new URLSearchParams();
  if ($("status-filter").value) params.set("status", $("status-filter").value);
  if ($("q").value.trim()) params.set("q", $("q").value.trim());
  if (cursor) params.set("cursor", cursor);
  if (limit) params.set("limit", String(limit));
  return "/api/faces?" + params.toString();
}

async function load(reset) {
  $("message").textContent = "";
  const limit = reset ? Math.min(Math.max(shown, 24), 100) : 24;
  const response = await api(query(reset ? null : nextCursor, limit));
  if (!response.ok) {
    if (response.status !== 401) $("message").textContent = await errorText(response);
    return;
  }
  const page = await response.json();
  if (reset) { $("cards").replaceChildren(); shown = 0; }
  for (const person of page.items) $("cards").appendChild(card(person));
  shown += page.items.length;
  nextCursor = page.nextCursor;
  $("more").hidden = !nextCursor;
}

$("search").addEventListener("click", () => load(true));
$("q").addEventListener("keydown", (event) => { if (event.key === "Enter") load(true); });
$("status-filter").addEventListener("change", () => load(true));
$("more").addEventListener("click", () => load(false));
document.addEventListener("signed-in", () => load(true));

// Pending cards turn indexed or rejected within seconds: refresh while any is shown.
setInterval(() => {
  if (token() && document.querySelector('.card[data-status="pending"]')) load(true);
}, 2000);

if (token()) load(true);
