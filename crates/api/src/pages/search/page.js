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
  throw new Error(t("search.too_large"));
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
    const label = t("search.face", { number: index + 1 });
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
    if (face.unknown) item.appendChild(text("p", t("search.unknown"), "unknown"));
    for (const match of face.matches) {
      const row = document.createElement("div");
      row.className = "match";
      const person = match.person;
      const photo = document.createElement("img");
      const name = person.firstname + " " + person.lastname;
      photo.alt = t("person.photo_of", { name });
      if (person.photoUrl) photo.src = person.photoUrl;
      row.append(photo, text("span", name + " · " + percent(match.similarity)));
      item.appendChild(row);
    }
    items.push(item);
  });
  const skipped = (answer.notSearched || []).length;
  if (skipped) {
    const key = new Intl.PluralRules(LANG).select(skipped) === "one" ? "search.not_searched.one" : "search.not_searched.other";
    items.push(text("li", t(key, { count: skipped }), "unknown"));
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
    $("message").textContent = t("search.failed", { reason: error.message });
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
