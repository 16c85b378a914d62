"use strict";
function show(person) {
  $("result").hidden = false;
  $("person").textContent = person.firstname + " " + person.lastname + " (" + person.key + ")";
  $("status").textContent = statusText(person.status);
  $("status").className = "badge " + person.status;
  $("reason").textContent = person.statusReason || "";
}

// Follows the person until the indexer has decided: indexed or rejected.
async function follow(personId) {
  for (let i = 0; i < 120; i++) {
    const response = await api("/api/faces/" + encodeURIComponent(personId));
    if (response.ok) {
      const person = await response.json();
      show(person);
      if (person.status !== "pending") return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  $("message").textContent = t("upload.still_pending");
}

let previewUrl = null;
function preview() {
  const file = $("photo").files[0];
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = file ? URL.createObjectURL(file) : null;
  $("preview").hidden = !file;
  if (previewUrl) $("preview").src = previewUrl; else $("preview").removeAttribute("src");
}

$("photo").addEventListener("change", preview);
dropZone($("drop"), $("photo"), preview);

document.addEventListener("signed-in", () => {
  $("admins-only").hidden = groups().includes("admins");
});

$("enrol").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("message").textContent = "";
  const file = $("photo").files[0];
  if (!file) return;
  $("submit").disabled = true;
  try {
    // A key per enrolment: were the request sent twice, one person.
    const response = await api("/api/uploads", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify({ lastname: $("lastname").value, firstname: $("firstname").value, contentType: file.type, contentLength: file.size }),
    });
    $("result").hidden = false;
    if (!response.ok) { $("message").textContent = await errorText(response); return; }
    const ticket = await response.json();
    $("status").textContent = t("upload.uploading");
    $("status").className = "badge pending";
    await sendPhoto(ticket, file);
    await follow(ticket.personId);
  } catch (error) {
    $("message").textContent = t("common.request_failed", { reason: error.message });
  } finally {
    $("submit").disabled = false;
  }
});
