// The sandbox: a form generated from a task kind's declaration, run on the public API
// with the session, and the same request as curl, Python and JavaScript.
(() => {
  "use strict";

  const decl = JSON.parse(document.getElementById("kind-declaration").textContent);
  const form = document.getElementById("sandbox-form");
  const output = document.getElementById("output");
  const progress = document.getElementById("progress");
  const apiUrl = `${location.origin}/api/${decl.name}`;
  const images = {}; // param name -> data URI of the chosen image
  let lang = "curl";
  let fullSnippet = "";

  // ---- helpers --------------------------------------------------------------
  const $ = (sel, root = document) => root.querySelector(sel);
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  };
  const csrfToken = () => {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  };
  const selectedModel = () => {
    const current = document.querySelector(".sb-models a[aria-current]");
    return current ? current.dataset.model : decl.default_model;
  };
  const input = (name) => form.elements.namedItem(name);

  // ---- form values <-> request body -----------------------------------------
  function readValue(p) {
    if (p.type === "image") return images[p.name] || null;
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

  // The body holds only the parameters that differ from their defaults (and the required ones).
  function requestBody() {
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
    const model = selectedModel();
    if (model && model !== decl.default_model) body.model = model;
    return body;
  }

  function setValue(p, value) {
    if (p.type === "image") { setImage(p.name, value); return; }
    const field = input(p.name);
    if (!field) return;
    if (p.type === "boolean") field.checked = Boolean(value);
    else field.value = value === null || value === undefined ? "" : value;
    const slider = document.querySelector(`[data-slider-for="${p.name}"]`);
    if (slider && field.value !== "") slider.value = field.value;
  }

  function reset() {
    for (const p of decl.params) setValue(p, p.required ? "" : p.initial);
    updateRanges();
    updateRequest();
  }

  async function useExample() {
    reset();
    for (const p of decl.params) {
      if (!(p.name in decl.example)) continue;
      let value = decl.example[p.name];
      if (p.type === "image") value = await urlToDataUri(decl.example_image);
      setValue(p, value);
    }
    updateRanges();
    updateRequest();
  }

  // ---- images: file input, drag and drop, preview ---------------------------
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

  function setImage(name, dataUri) {
    if (dataUri) images[name] = dataUri; else delete images[name];
    const zone = document.querySelector(`[data-drop="${name}"]`);
    if (!zone) return;
    const preview = $(".sb-preview", zone);
    preview.hidden = !dataUri;
    if (dataUri) preview.src = dataUri; else { preview.removeAttribute("src"); $("input", zone).value = ""; }
  }

  function wireImages() {
    document.querySelectorAll("[data-drop]").forEach((zone) => {
      const name = zone.dataset.drop;
      $("input[type=file]", zone).addEventListener("change", async (event) => {
        const file = event.target.files[0];
        setImage(name, file ? await fileToDataUri(file) : null);
        updateRequest();
      });
      zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
      zone.addEventListener("dragleave", () => zone.classList.remove("over"));
      zone.addEventListener("drop", async (event) => {
        event.preventDefault();
        zone.classList.remove("over");
        const file = event.dataTransfer.files[0];
        if (file && file.type.startsWith("image/")) { setImage(name, await fileToDataUri(file)); updateRequest(); }
      });
    });
  }

  // ---- sliders linked to number boxes; the token length range ---------------
  function wireSliders() {
    document.querySelectorAll("[data-slider-for]").forEach((slider) => {
      const box = input(slider.dataset.sliderFor);
      slider.addEventListener("input", () => { box.value = slider.value; keepRangeOrder(slider.dataset.sliderFor); updateRanges(); updateRequest(); });
      box.addEventListener("input", () => { if (box.value !== "") slider.value = box.value; updateRanges(); });
    });
  }

  function keepRangeOrder(moved) {
    const lo = input("min_length"), hi = input("max_length");
    if (!lo || !hi || lo.value === "" || hi.value === "") return;
    if (Number(lo.value) > Number(hi.value)) {
      if (moved === "min_length") hi.value = lo.value; else lo.value = hi.value;
      document.querySelector('[data-slider-for="min_length"]').value = lo.value;
      document.querySelector('[data-slider-for="max_length"]').value = hi.value;
    }
  }

  function updateRanges() {
    document.querySelectorAll("[data-range-out]").forEach((out) => {
      const boxes = out.closest("fieldset").querySelectorAll("input[type=number]");
      out.textContent = `${boxes[0].value} to ${boxes[1].value} tokens`;
    });
  }

  // ---- the request view: curl, Python, JavaScript ---------------------------
  const shQuote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
  const pyLiteral = (json) => json.replace(/("(?:[^"\\]|\\.)*")|\b(true|false|null)\b/g,
    (m, str, word) => str || { true: "True", false: "False", null: "None" }[word]);

  function keyText() {
    const prefix = $("#req-key").value;
    return prefix ? `${prefix}.********` : "your-api-key";
  }

  function snippet(language, body) {
    const json = JSON.stringify(body, null, 2);
    const key = keyText();
    if (language === "curl") {
      return `curl -X POST ${shQuote(apiUrl)} \\\n  -H ${shQuote(`x-api-key: ${key}`)} \\\n`
        + `  -H 'Content-Type: application/json' \\\n  -d ${shQuote(json)}`;
    }
    if (language === "python") {
      const indented = pyLiteral(json).replace(/\n/g, "\n    ");
      return `import requests\n\nresponse = requests.post(\n    ${JSON.stringify(apiUrl)},\n`
        + `    headers={"x-api-key": ${JSON.stringify(key)}},\n    json=${indented},\n)\nprint(response.json())`;
    }
    return `const response = await fetch(${JSON.stringify(apiUrl)}, {\n  method: "POST",\n`
      + `  headers: { "x-api-key": ${JSON.stringify(key)}, "Content-Type": "application/json" },\n`
      + `  body: JSON.stringify(${json.replace(/\n/g, "\n  ")}),\n});\nconsole.log(await response.json());`;
  }

  // Long data URIs are shortened on screen only; the copied text is complete.
  const shorten = (text) => text.replace(/(data:[\w/+.-]+;base64,)([A-Za-z0-9+/=]{48,})/g,
    (m, head, data) => `${head}${data.slice(0, 32)}…`);

  function updateRequest() {
    const view = $("#request-view");
    if (view.hidden) return;
    fullSnippet = snippet(lang, requestBody());
    $("#snippet code").textContent = shorten(fullSnippet);
    $("#snippet").dataset.full = fullSnippet;
    $("#req-url").textContent = apiUrl;
    $("#req-key-text").textContent = keyText();
  }

  function showRequest(show) {
    $("#request-view").hidden = !show;
    form.hidden = show;
    $("#toggle-request").setAttribute("aria-pressed", String(show));
    updateRequest();
    (show ? $(`#tab-${lang}`) : $("#toggle-request")).focus();
  }

  function wireRequestView() {
    $("#toggle-request").addEventListener("click", () => showRequest($("#request-view").hidden));
    $("#back-to-form").addEventListener("click", () => showRequest(false));
    $("#req-key").addEventListener("change", updateRequest);
    const tabs = [...document.querySelectorAll("[role=tab]")];
    const select = (tab) => {
      tabs.forEach((t) => { t.setAttribute("aria-selected", String(t === tab)); t.tabIndex = t === tab ? 0 : -1; });
      lang = tab.dataset.lang;
      updateRequest();
    };
    tabs.forEach((tab, i) => {
      tab.addEventListener("click", () => select(tab));
      tab.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (!step) return;
        const next = tabs[(i + step + tabs.length) % tabs.length];
        select(next);
        next.focus();
      });
    });
    $("#copy-snippet").addEventListener("click", async (event) => {
      const button = event.currentTarget;
      try { await navigator.clipboard.writeText(fullSnippet); button.textContent = "Copied"; }
      catch (err) { button.textContent = "Select and copy"; }
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
  }

  // ---- running: the public API with the session ------------------------------
  async function post(body, stream) {
    return fetch(apiUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json", "X-CSRFToken": csrfToken(),
        Accept: stream ? "text/event-stream" : "application/json",
      },
      body: JSON.stringify(stream ? { ...body, stream: true } : body),
    });
  }

  // The API's error message in plain words; the fields it names are marked invalid.
  async function errorMessage(response) {
    try {
      const data = await response.json();
      for (const name of Object.keys((data && data.error && data.error.fields) || {})) {
        const field = document.getElementById(`f-${name}`);
        if (field) field.setAttribute("aria-invalid", "true");
      }
      if (data && data.error && data.error.message) return data.error.message;
    } catch (err) { /* not JSON: fall through */ }
    return `The server answered ${response.status} ${response.statusText || ""}`.trim() + ".";
  }

  async function pollJob(id) {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const response = await fetch(`/sandbox/jobs/${id}/`, { credentials: "same-origin" });
      if (!response.ok) throw new Error(await errorMessage(response));
      const job = await response.json();
      if (job.status === "succeeded") return job.result;
      if (["failed", "cancelled"].includes(job.status)) throw new Error(job.error || `The job ${job.status}.`);
    }
  }

  // Server-sent events read with fetch: `text` events grow the output, `done` ends it.
  async function readStream(response, onText) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const chunk = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = (chunk.match(/^event: (.*)$/m) || [])[1];
        const data = JSON.parse((chunk.match(/^data: (.*)$/m) || [, "{}"])[1]);
        if (event === "text") onText(data.output);
        else if (event === "done") return data;
        else if (event === "error") throw new Error(data.message || "The job failed.");
      }
    }
    throw new Error("The stream ended before the job finished.");
  }

  async function run(event) {
    event.preventDefault();
    form.querySelectorAll("[aria-invalid]").forEach((field) => field.removeAttribute("aria-invalid"));
    const body = requestBody();
    const streamable = decl.name === "text-generation"
      && (body.num_generations || 1) === 1 && (body.num_beams || 1) === 1;
    const started = performance.now();
    const tick = () => { progress.textContent = `Running… ${((performance.now() - started) / 1000).toFixed(1)} s`; };
    tick();
    const timer = setInterval(tick, 100);
    $("#run").disabled = true;
    try {
      const response = await post(body, streamable);
      let result;
      if (!response.ok) throw new Error(await errorMessage(response));
      if ((response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
        result = await readStream(response, (text) => render({ output: text }, body, true));
      } else if (response.status === 202) {
        result = await pollJob((await response.json()).id);
      } else {
        result = await response.json();
      }
      render(result, body, false);
      progress.textContent = `Done in ${((performance.now() - started) / 1000).toFixed(1)} s`;
    } catch (err) {
      output.replaceChildren(el("p", { class: "sb-error", role: "alert", text: err.message || String(err) }));
      progress.textContent = "Failed";
    } finally {
      clearInterval(timer);
      $("#run").disabled = false;
    }
  }

  // ---- output renderers -------------------------------------------------------
  const first = (value) => (Array.isArray(value) ? value[0] : value);

  function renderEmotion(result) {
    const scores = first(result.scores) || {};
    const list = el("ul", { class: "sb-chips" });
    for (const label of String(first(result.emotion)).split(",").map((s) => s.trim()).filter(Boolean)) {
      const chip = el("li", { class: "sb-chip", "data-testid": "emotion-chip" }, label);
      if (label in scores) chip.append(el("span", { class: "sb-score", text: scores[label].toFixed(2) }));
      list.append(chip);
    }
    return [list];
  }

  function renderProbabilities(result) {
    const probabilities = first(result.probabilities) || {};
    const rows = Object.entries(probabilities).sort((a, b) => b[1] - a[1]);
    const chart = el("ul", { class: "sb-bars", "aria-label": "Probabilities, highest first" });
    for (const [label, p] of rows) {
      const bar = el("span", { class: "sb-bar" });
      bar.style.width = `${Math.max(p * 100, 0.5)}%`;  // CSSOM, allowed by the CSP (a style attribute is not)
      chart.append(el("li", { "data-testid": "probability-bar" }, el("span", { class: "sb-bar-label", text: label }),
        el("span", { class: "sb-bar-track" }, bar), el("span", { class: "sb-bar-value", text: `${(p * 100).toFixed(1)}%` })));
    }
    const out = [chart];
    const unmatched = first(result.unmatched);
    if (unmatched && unmatched.length) {
      out.push(el("p", { class: "help", text: `Unmatched labels (no ImageNet class): ${unmatched.join(", ")}. Free-form labels need CLIP.` }));
    }
    return out;
  }

  function renderGenerations(result, streaming) {
    const texts = [].concat(result.output).flat();
    const list = el("ol", { class: "sb-generations" });
    for (const text of texts) list.append(el("li", { "data-testid": "generation" }, el("p", { text })));
    if (streaming) list.classList.add("streaming");
    return [list];
  }

  function renderVector(result) {
    const vector = first(result.vector) || [];
    const text = JSON.stringify(vector);
    const code = el("code", { text: `${text.slice(0, 400)}${text.length > 400 ? "…" : ""}` });
    const copy = el("button", { type: "button", text: "Copy vector" });
    copy.addEventListener("click", async () => { await navigator.clipboard.writeText(text); copy.textContent = "Copied"; });
    return [el("p", { text: `Dimension ${vector.length}`, "data-testid": "vector-dim" }), el("pre", { class: "sb-vector" }, code), copy];
  }

  function renderAnswer(result, body) {
    const answer = String(first(result.answer) || "");
    const context = String(first(body.context) || "");
    const out = [el("p", { class: "sb-answer" }, el("strong", { text: "Answer: " }), answer)];
    const at = answer ? context.toLowerCase().indexOf(answer.toLowerCase()) : -1;
    if (at >= 0) {
      out.push(el("blockquote", { class: "sb-context" }, context.slice(0, at),
        el("mark", { text: context.slice(at, at + answer.length) }), context.slice(at + answer.length)));
    } else if (context) {
      out.push(el("p", { class: "help", text: "The answer is not a span of the context (the model wrote it)." }));
    }
    return out;
  }

  function render(result, body, streaming) {
    let nodes;
    if ("emotion" in result) nodes = renderEmotion(result);
    else if ("probabilities" in result) nodes = renderProbabilities(result);
    else if ("output" in result) nodes = renderGenerations(result, streaming);
    else if ("vector" in result) nodes = renderVector(result);
    else if ("answer" in result) nodes = renderAnswer(result, body);
    else if ("summary" in result) nodes = [el("p", { class: "sb-summary", text: first(result.summary) })];
    else nodes = [el("pre", { text: JSON.stringify(result, null, 2) })];
    output.replaceChildren(...nodes);
  }

  // ---- start --------------------------------------------------------------------
  wireImages();
  wireSliders();
  wireRequestView();
  updateRanges();
  form.addEventListener("input", updateRequest);
  form.addEventListener("change", updateRequest);
  form.addEventListener("submit", run);
  $("#reset").addEventListener("click", reset);
  $("#use-example").addEventListener("click", useExample);
})();
