"use strict";
let nextCursor = null;
let shown = 0;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

// The face, cut out of the photo by the box the indexer recorded (ratios of
// the photo's width and height); the whole photo while there is no box.
function face(person) {
  const node = element("div", "photo");
  node.setAttribute("role", "img");
  node.setAttribute("aria-label", t("faces.face_of", { name: person.firstname + " " + person.lastname }));
  if (!person.photoUrl) { node.classList.add("empty"); return node; }
  node.style.backgroundImage = "url(" + JSON.stringify(person.photoUrl) + ")";
  const box = person.faceBox;
  if (box && box.width > 0 && box.height > 0 && box.width < 1 && box.height < 1) {
    node.style.backgroundSize = (100 / box.width) + "% " + (100 / box.height) + "%";
    node.style.backgroundPosition = (100 * box.left / (1 - box.width)) + "% " + (100 * box.top / (1 - box.height)) + "%";
  } else {
    node.style.backgroundSize = "cover";
    node.style.backgroundPosition = "center";
  }
  return node;
}

function card(person) {
  const node = element("article", "card");
  node.dataset.key = person.key;
  node.dataset.status = person.status;
  // The face opens the person view (a button: keyboard and screen readers too).
  const open = element("button", "open");
  open.type = "button";
  open.setAttribute("aria-label", t("faces.open", { name: person.firstname + " " + person.lastname }));
  open.appendChild(face(person));
  open.addEventListener("click", () => showPerson(person.id));
  node.appendChild(open);
  const body = element("div", "body");
  const name = element("h2", "name", person.firstname + " " + person.lastname);
  body.appendChild(name);
  body.appendChild(element("span", "badge " + person.status, statusText(person.status)));
  if (person.possibleDuplicate) {
    body.appendChild(element("span", "badge duplicate", t("faces.duplicate_of", { id: person.possibleDuplicate.personId })));
  }
  if (person.statusReason) body.appendChild(element("div", "reason", person.statusReason));
  const details = element("details", "more");
  details.appendChild(element("summary", null, t("faces.details")));
  details.appendChild(element("div", "key", t("faces.photo_line", { key: person.key })));
  if (person.identity) details.appendChild(element("div", "identity", t("faces.face_line", { id: person.identity })));
  if (person.faceConfidence) details.appendChild(element("div", "identity", t("faces.confidence_line", { confidence: percent(person.faceConfidence) })));
  details.appendChild(element("div", "identity", t("faces.enrolled_line", { when: when(person.createdAt) })));
  body.appendChild(details);
  node.appendChild(body);
  return node;
}

// The person view: the whole photo with the face's box, what the registry
// knows of the person, and when it changed.
async function showPerson(id) {
  const response = await api("/api/faces/" + encodeURIComponent(id));
  if (!response.ok) { $("message").textContent = await errorText(response); return; }
  const person = await response.json();
  const name = person.firstname + " " + person.lastname;
  $("person-name").textContent = name;
  $("person-status").textContent = statusText(person.status);
  $("person-status").className = "badge " + person.status;
  $("person-reason").textContent = person.statusReason || "";
  $("person-photo").alt = t("person.photo_of", { name });
  if (person.photoUrl) $("person-photo").src = person.photoUrl; else $("person-photo").removeAttribute("src");
  const box = person.faceBox;
  $("person-box").hidden = !box;
  if (box) {
    Object.assign($("person-box").style, {
      left: 100 * box.left + "%", top: 100 * box.top + "%", width: 100 * box.width + "%", height: 100 * box.height + "%",
    });
  }
  const facts = [[t("person.person"), String(person.id)], [t("person.photo"), person.key]];
  if (person.identity) facts.push([t("person.face"), person.identity]);
  if (person.faceConfidence) facts.push([t("person.face_confidence"), percent(person.faceConfidence)]);
  $("person-facts").replaceChildren(...facts.flatMap(([term, value]) => [element("dt", null, term), element("dd", null, value)]));
  const duplicate = person.possibleDuplicate;
  $("person-duplicate").hidden = !duplicate;
  if (duplicate) {
    $("duplicate-text").textContent = t("person.duplicate_text", { similarity: percent(duplicate.similarity), id: duplicate.personId });
  }
  $("person-history").replaceChildren(...await personHistory(person));
  $("rename-lastname").value = person.lastname;
  $("rename-firstname").value = person.firstname;
  $("person-view").dataset.id = String(person.id);
  if (!$("person-view").open) { $("person-message").textContent = ""; $("person-view").showModal(); }
  return person;
}

// The person's history: the audit trail for admins (who did what, when),
// the record's own dates for viewers.
async function personHistory(person) {
  const line = (what, at) => element("li", null, t("person.history_line", { when: when(at), what }));
  if (groups().includes("admins")) {
    const response = await api("/api/audit?limit=20&person=" + encodeURIComponent(person.id));
    if (response.ok) {
      const trail = await response.json();
      return trail.items.map((entry) => {
        const who = entry.caller.email || entry.caller.username || entry.caller.subject || t("person.the_registry");
        const action = t("action." + entry.action);
        const what = entry.detail && entry.detail.status
          ? t("person.action_outcome_by", { action, outcome: statusText(entry.detail.status), who })
          : t("person.action_by", { action, who });
        return line(what, entry.at);
      });
    }
  }
  const lines = [line(t("person.enrolled"), person.createdAt)];
  if (person.updatedAt !== person.createdAt) lines.push(line(t("person.last_changed", { status: statusText(person.status) }), person.updatedAt));
  return lines.reverse();
}

// Admins correct a person's names, or send a new photo of them (its face
// replaces the old one once indexed).
$("person-rename").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("person-message").textContent = "";
  const id = $("person-view").dataset.id;
  const response = await api("/api/faces/" + encodeURIComponent(id), {
    method: "PATCH",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ lastname: $("rename-lastname").value, firstname: $("rename-firstname").value }),
  });
  if (!response.ok) { $("person-message").textContent = await errorText(response); return; }
  await showPerson(id);
  load(true);
});

// An admin resolves a possible duplicate: "same person" clears the flag
// (the extra record is then erased), "different people" clears it for good.
$("person-duplicate").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("person-message").textContent = "";
  const id = $("person-view").dataset.id;
  const response = await api("/api/faces/" + encodeURIComponent(id) + "/duplicate", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ resolution: event.submitter.value }),
  });
  if (!response.ok) { $("person-message").textContent = await errorText(response); return; }
  await showPerson(id);
  load(true);
});

// The right of access: everything the registry holds about the person, as
// one JSON file.
$("person-export").addEventListener("click", async () => {
  $("person-message").textContent = "";
  const id = $("person-view").dataset.id;
  const response = await api("/api/faces/" + encodeURIComponent(id) + "/export", { method: "POST" });
  if (!response.ok) { $("person-message").textContent = await errorText(response); return; }
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = "person-" + id + ".json";
  link.click();
  URL.revokeObjectURL(url);
});

$("person-replace").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("person-message").textContent = "";
  const id = $("person-view").dataset.id;
  const file = $("replace-photo").files[0];
  if (!file) return;
  try {
    const response = await api("/api/faces/" + encodeURIComponent(id) + "/photo", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ contentType: file.type, contentLength: file.size }),
    });
    if (!response.ok) { $("person-message").textContent = await errorText(response); return; }
    await sendPhoto(await response.json(), file);
    $("replace-photo").value = "";
    // Followed until the indexer has decided.
    for (let i = 0; i < 120; i++) {
      const person = await showPerson(id);
      if (!person || person.status !== "pending") break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    load(true);
  } catch (error) {
    $("person-message").textContent = t("common.request_failed", { reason: error.message });
  }
});

// Erasure, once confirmed: the view closes and the page says what the
// receipt says was removed and checked.
$("person-erase").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("person-message").textContent = "";
  const id = $("person-view").dataset.id;
  const response = await api("/api/faces/" + encodeURIComponent(id), { method: "DELETE" });
  if (!response.ok) { $("person-message").textContent = await errorText(response); return; }
  const receipt = await response.json();
  $("erase-confirm").checked = false;
  $("person-view").close();
  $("notice").textContent = t("faces.erased", {
    id: receipt.personId, faces: receipt.removed.faceIds.length, versions: receipt.removed.photoVersions,
  });
  load(true);
});

$("person-close").addEventListener("click", () => $("person-view").close());

function query(cursor, limit) {
  const params = new URLSearchParams();
  const filter = $("status-filter").value;
  if (filter === "duplicates") params.set("duplicates", "true");
  else if (filter) params.set("status", filter);
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
  $("filters").hidden = false;
}

$("search").addEventListener("click", () => load(true));
$("q").addEventListener("keydown", (event) => { if (event.key === "Enter") load(true); });
$("status-filter").addEventListener("change", () => load(true));
$("more").addEventListener("click", () => load(false));
document.addEventListener("signed-in", () => load(true));

// Pending cards turn indexed or rejected within seconds: refresh while any is shown.
setInterval(() => {
  if (session() && document.querySelector('.card[data-status="pending"]')) load(true);
}, 2000);
