// The form generated from a task kind's declaration: its values as a request body (defaults left out),
// reset and example, images (file input, drag and drop, preview), sliders beside number boxes, and the
// declared ranges (two parameters, low <= high) whose sliders never cross.
import { chatWidget } from "./chat.js";
import { $, $$ } from "./dom.js";

const fileToDataUri = (file) => new Promise((resolve, reject) => {
  const reader = new FileReader();
  reader.onload = () => resolve(reader.result);
  reader.onerror = () => reject(reader.error);
  reader.readAsDataURL(file);
});

async function urlToDataUri(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  return fileToDataUri(await response.blob());
}

// decl: the page's declaration; form: the <form>; changed(): called when the request changes.
export function sandboxForm(decl, form, changed) {
  const images = {}; // param name -> data URI of the chosen image
  const input = (name) => form.elements.namedItem(name);
  const slider = (name) => $(`[data-slider-for="${name}"]`);
  const chats = {}; // param name -> its conversation control (a `messages` parameter)
  $$("[data-chat]", form).forEach((root) => { chats[root.dataset.chat] = chatWidget(root, () => changed()); });

  function readValue(p) {
    if (p.type === "image") return images[p.name] || null;
    if (p.type === "messages") return chats[p.name] ? chats[p.name].messages() : p.initial;
    const field = input(p.name);
    if (!field) return p.initial;
    if (p.type === "boolean") return field.checked;
    const raw = field.value;
    if (p.type === "integer" || p.type === "number") {
      if (raw.trim() === "") return p.required ? "" : null;
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw;
    }
    if (p.type === "string_list") return raw.trim() === "" ? null : raw.trim();
    if (raw === "" && p.nullable) return null;
    return raw;
  }

  // The value the server will use: the form's, else the declared default.
  function effectiveValue(name) {
    const p = decl.params.find((q) => q.name === name);
    if (!p) return undefined;
    const value = readValue(p);
    return value === null || value === "" ? p.default : value;
  }

  // The body holds only the parameters that differ from their defaults (and the required ones).
  function requestBody(model) {
    const body = {};
    for (const p of decl.params) {
      if (p.hidden) continue;
      const value = readValue(p);
      if (p.required) {
        if (value !== null && value !== "") body[p.name] = value;
      } else if (value !== null && value !== p.default) {
        body[p.name] = value;
      }
    }
    if (model && model !== decl.default_model) body.model = model;
    return body;
  }

  function setImage(name, dataUri) {
    if (dataUri) images[name] = dataUri; else delete images[name];
    const zone = $(`[data-drop="${name}"]`);
    if (!zone) return;
    const preview = $(".sb-preview", zone);
    preview.hidden = !dataUri;
    if (dataUri) preview.src = dataUri; else { preview.removeAttribute("src"); $("input", zone).value = ""; }
  }

  function setValue(p, value) {
    if (p.type === "image") { setImage(p.name, value); return; }
    if (p.type === "messages") { if (chats[p.name]) chats[p.name].set(value); return; }
    const field = input(p.name);
    if (!field) return;
    if (p.type === "boolean") field.checked = Boolean(value);
    else field.value = value === null || value === undefined ? "" : value;
    if (slider(p.name) && field.value !== "") slider(p.name).value = field.value;
  }

  function reset() {
    for (const p of decl.params) setValue(p, p.required ? "" : p.initial);
    showRanges();
    changed();
  }

  async function useExample() {
    reset();
    for (const p of decl.params) {
      if (!(p.name in decl.example)) continue;
      const value = p.type === "image" ? await urlToDataUri(decl.example_image) : decl.example[p.name];
      setValue(p, value);
    }
    showRanges();
    changed();
  }

  function wireImages() {
    $$("[data-drop]").forEach((zone) => {
      const name = zone.dataset.drop;
      $("input[type=file]", zone).addEventListener("change", async (event) => {
        const file = event.target.files[0];
        setImage(name, file ? await fileToDataUri(file) : null);
        changed();
      });
      zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
      zone.addEventListener("dragleave", () => zone.classList.remove("over"));
      zone.addEventListener("drop", async (event) => {
        event.preventDefault();
        zone.classList.remove("over");
        const file = event.dataTransfer.files[0];
        if (file && file.type.startsWith("image/")) { setImage(name, await fileToDataUri(file)); changed(); }
      });
    });
  }

  // A slider moved past the other end of its range pushes that end along.
  function keepRangeOrder(moved) {
    for (const range of decl.ranges) {
      if (moved !== range.low && moved !== range.high) continue;
      const lo = input(range.low), hi = input(range.high);
      if (!lo || !hi || lo.value === "" || hi.value === "") continue;
      if (Number(lo.value) > Number(hi.value)) {
        if (moved === range.low) hi.value = lo.value; else lo.value = hi.value;
        slider(range.low).value = lo.value;
        slider(range.high).value = hi.value;
      }
    }
  }

  function showRanges() {
    for (const range of decl.ranges) {
      const out = $(`[data-range-out="${range.name}"]`);
      const lo = input(range.low), hi = input(range.high);
      if (out && lo && hi) out.textContent = `${lo.value} to ${hi.value} ${range.unit}`.trim();
    }
  }

  function wireSliders() {
    $$("[data-slider-for]").forEach((bar) => {
      const name = bar.dataset.sliderFor;
      const box = input(name);
      bar.addEventListener("input", () => { box.value = bar.value; keepRangeOrder(name); showRanges(); changed(); });
      box.addEventListener("input", () => { if (box.value !== "") bar.value = box.value; showRanges(); });
    });
  }

  wireImages();
  wireSliders();
  showRanges();
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  // A result was shown for `body`: a conversation goes on from its answer.
  function answered(body, result) {
    for (const [name, chat] of Object.entries(chats)) if (name in body) chat.answered(body, result);
  }

  return { requestBody, effectiveValue, reset, useExample, answered };
}
