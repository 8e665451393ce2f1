// The request view: the form's request as curl, Python and JavaScript, updated as the form changes.
// The snippets run as shown (with the key filled in); long data URIs are shortened on screen only.
import { $, $$ } from "./dom.js";

const shQuote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
const pyLiteral = (json) => json.replace(/("(?:[^"\\]|\\.)*")|\b(true|false|null)\b/g,
  (m, str, word) => str || { true: "True", false: "False", null: "None" }[word]);

// language: "curl", "python" or "js"; url: the task endpoint; key: the x-api-key text; body: the JSON body.
export function snippet(language, { url, key, body }) {
  const json = JSON.stringify(body, null, 2);
  if (language === "curl") {
    return `curl -X POST ${shQuote(url)} \\\n  -H ${shQuote(`x-api-key: ${key}`)} \\\n`
      + `  -H 'Content-Type: application/json' \\\n  -d ${shQuote(json)}`;
  }
  if (language === "python") {
    const indented = pyLiteral(json).replace(/\n/g, "\n    ");
    return `import requests\n\nresponse = requests.post(\n    ${JSON.stringify(url)},\n`
      + `    headers={"x-api-key": ${JSON.stringify(key)}},\n    json=${indented},\n)\nprint(response.json())`;
  }
  return `const response = await fetch(${JSON.stringify(url)}, {\n  method: "POST",\n`
    + `  headers: { "x-api-key": ${JSON.stringify(key)}, "Content-Type": "application/json" },\n`
    + `  body: JSON.stringify(${json.replace(/\n/g, "\n  ")}),\n});\nconsole.log(await response.json());`;
}

// The same request through the OpenAI SDK (`openai` on PyPI and npm), where the kind has a /v1 equivalent
// (decl.openai): the kind's parameters under OpenAI's names, the others by their own names (extra_body in
// Python), the model always named (OpenAI requires it).
export function openaiSnippet(language, { base, key, body, openai, model }) {
  const named = { model };
  const extra = {};
  for (const [name, value] of Object.entries(body)) {
    if (name === "model") continue;
    if (name in openai.params) named[openai.params[name]] = value;
    else extra[name] = value;
  }
  const call = `client.${openai.resource}.create`;
  if (language === "openai-python") {
    const args = Object.entries(named).map(([name, value]) => `    ${name}=${pyLiteral(JSON.stringify(value, null, 2)).replace(/\n/g, "\n    ")},`);
    if (Object.keys(extra).length) args.push(`    extra_body=${pyLiteral(JSON.stringify(extra, null, 2)).replace(/\n/g, "\n    ")},`);
    return `from openai import OpenAI\n\nclient = OpenAI(base_url=${JSON.stringify(`${base}/v1`)}, api_key=${JSON.stringify(key)})\n`
      + `response = ${call}(\n${args.join("\n")}\n)\nprint(response.${openai.answer})`;
  }
  const json = JSON.stringify({ ...named, ...extra }, null, 2);
  return `import OpenAI from "openai";\n\nconst client = new OpenAI({ baseURL: ${JSON.stringify(`${base}/v1`)}, apiKey: ${JSON.stringify(key)} });\n`
    + `const response = await ${call}(${json});\nconsole.log(response.${openai.answer});`;
}

export const shorten = (text) => text.replace(/(data:[\w/+.-]+;base64,)([A-Za-z0-9+/=]{48,})/g,
  (m, head, data) => `${head}${data.slice(0, 32)}…`);

// Wires the request view (toggle, key, language tabs, copy); returns update(), to call when the form changes.
export function requestView({ url, body, form, openai = null, model = () => "", base = "" }) {
  const view = $("#request-view");
  let lang = "curl";
  let full = "";

  const keyText = () => {
    const prefix = $("#req-key").value;
    return prefix ? `${prefix}.********` : "your-api-key";
  };

  function update() {
    if (view.hidden) return;
    const viaOpenai = openai && lang.startsWith("openai-");
    full = viaOpenai ? openaiSnippet(lang, { base, key: keyText(), body: body(), openai, model: model() })
      : snippet(lang, { url, key: keyText(), body: body() });
    $("#snippet code").textContent = shorten(full);
    $("#snippet").dataset.full = full;
    $("#req-url").textContent = viaOpenai ? `${base}${openai.path}` : url;
    $("#req-key-text").textContent = keyText();
  }

  function show(visible) {
    view.hidden = !visible;
    form.hidden = visible;
    $("#toggle-request").setAttribute("aria-pressed", String(visible));
    update();
    (visible ? $(`#tab-${lang}`) : $("#toggle-request")).focus();
  }

  $("#toggle-request").addEventListener("click", () => show(view.hidden));
  $("#back-to-form").addEventListener("click", () => show(false));
  $("#req-key").addEventListener("change", update);
  const tabs = $$("[role=tab]");
  const select = (tab) => {
    tabs.forEach((t) => { t.setAttribute("aria-selected", String(t === tab)); t.tabIndex = t === tab ? 0 : -1; });
    lang = tab.dataset.lang;
    update();
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
    try { await navigator.clipboard.writeText(full); button.textContent = "Copied"; }
    catch (err) { button.textContent = "Select and copy"; }
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  return { update };
}
