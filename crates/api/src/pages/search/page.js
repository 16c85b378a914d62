"use strict";
// The load balancer passes at most 1 MB to a function: the photo is sent
// as a JPEG of at most MAX_SIDE pixels a side, smaller if it must be.
const MAX_SIDE = 1600;
const MAX_BYTES = 900 * 1024;

async function shrink(file) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  for (const quality of [0.9, 0.8, 0.65, 0.5]) {
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
    if (blob && blob.size <= MAX_BYTES) return blob;
  }
  throw new Error("the photo is too large even once shrunk");
}

function text(tag, value, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.textContent = value;
  return node;
}

function show(answer, imageUrl) {
  $("searched").src = imageUrl;
  const boxes = [];
  const items = [];
  answer.faces.forEach((face, index) => {
    const label = "Face " + (index + 1);
    const box = document.createElement("div");
    box.className = "box";
    Object.assign(box.style, {
      left: 100 * face.box.left + "%", top: 100 * face.box.top + "%",
      width: 100 * face.box.width + "%", height: 100 * face.box.height + "%",
    });
    box.appendChild(text("span", String(index + 1)));
    boxes.push(box);
    const item = document.createElement("li");
    item.appendChild(text("strong", label));
    if (face.unknown) item.appendChild(text("p", "Unknown: nobody in the registry is this close.", "unknown"));
    for (const match of face.matches) {
      const row = document.createElement("div");
      row.className = "match";
      const person = match.person;
      const photo = document.createElement("img");
      photo.alt = "Photo of " + person.firstname + " " + person.lastname;
      if (person.photoUrl) photo.src = person.photoUrl;
      row.append(photo, text("span", person.firstname + " " + person.lastname + " · " + match.similarity.toFixed(1) + " %"));
      item.appendChild(row);
    }
    items.push(item);
  });
  const skipped = (answer.notSearched || []).length;
  if (skipped) {
    items.push(text("li", skipped + (skipped === 1 ? " smaller face was" : " smaller faces were") +
      " not searched: crop the photo around the faces to identify.", "unknown"));
  }
  $("boxes").replaceChildren(...boxes);
  $("faces").replaceChildren(...items);
  $("result").hidden = false;
}

let shownUrl = null;
async function identify(file) {
  $("message").textContent = "";
  $("submit").disabled = true;
  try {
    const photo = await shrink(file);
    const response = await api("/api/search", { method: "POST", headers: { "Content-Type": "image/jpeg" }, body: photo });
    if (!response.ok) { $("result").hidden = true; $("message").textContent = await errorText(response); return; }
    if (shownUrl) URL.revokeObjectURL(shownUrl);
    shownUrl = URL.createObjectURL(photo);
    show(await response.json(), shownUrl);
  } catch (error) {
    $("message").textContent = "The search failed: " + error.message;
  } finally {
    $("submit").disabled = false;
  }
}

$("identify").addEventListener("submit", (event) => {
  event.preventDefault();
  if ($("photo").files[0]) identify($("photo").files[0]);
});
dropZone($("drop"), $("photo"), identify);
document.addEventListener("signed-in", () => { $("identify").hidden = false; });
