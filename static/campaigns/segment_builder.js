// Segment builder: edits the criteria JSON (one AND/OR group of conditions) and shows the
// live count from the server as the marketer types. Nested groups can be written as JSON.
(function () {
  const root = document.getElementById("segment-builder");
  const textarea = document.querySelector("textarea[data-criteria]");
  if (!root || !textarea) return;
  const fields = JSON.parse(document.getElementById("segment-builder-fields").textContent);
  const kinds = Object.fromEntries(fields.map((f) => [f.field, f.kind]));
  const list = document.getElementById("builder-conditions");
  const op = document.getElementById("builder-op");
  const countEl = document.getElementById("live-count");
  // "1 matchande medlem", "2 matchande medlemmar": the server words the count (ngettext).
  const countLabelEl = document.getElementById("live-count-label");
  const errorEl = document.getElementById("live-error");
  const sampleEl = document.getElementById("live-sample");
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
  const lang = document.documentElement.lang || "sv";
  const t = lang.startsWith("sv")
    ? { not: "inte", remove: "Ta bort", value: "Värde", days: "senaste dagar", min: "från", max: "till", codes: "koder, komma mellan" }
    : { not: "not", remove: "Remove", value: "Value", days: "last days", min: "from", max: "to", codes: "codes, comma separated" };
  let seq = 0;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const c of children || []) node.appendChild(c);
    return node;
  }

  function labelled(input, text) {
    const id = "bf-" + (++seq);
    input.id = id;
    return el("label", { for: id }, [document.createTextNode(text + " "), input]);
  }

  function conditionRow(cond) {
    const li = el("li", { "data-testid": "builder-condition" });
    const field = el("select", { "data-part": "field" });
    for (const f of fields) field.appendChild(el("option", { value: f.field, text: f.label }));
    field.value = cond.field || fields[0].field;
    li.appendChild(labelled(field, "#"));
    const params = el("span", { class: "builder-params" });
    li.appendChild(params);
    const negate = el("input", { type: "checkbox", "data-part": "negate" });
    negate.checked = !!cond.negate;
    li.appendChild(labelled(negate, t.not));
    const remove = el("button", { type: "button", class: "button", text: t.remove });
    remove.addEventListener("click", () => { li.remove(); changed(); });
    li.appendChild(remove);

    function renderParams(values) {
      params.textContent = "";
      const kind = kinds[field.value];
      if (kind.startsWith("number")) {
        const cmp = el("select", { "data-part": "cmp" });
        for (const c of ["gte", "gt", "lte", "lt", "eq"]) {
          cmp.appendChild(el("option", { value: c, text: { gte: "≥", gt: ">", lte: "≤", lt: "<", eq: "=" }[c] }));
        }
        cmp.value = values.cmp || "gte";
        params.appendChild(labelled(cmp, ""));
        const value = el("input", { type: "number", min: "0", "data-part": "value", value: values.value ?? "" });
        params.appendChild(labelled(value, t.value));
      }
      if (kind.startsWith("codes")) {
        const value = el("input", { type: "text", "data-part": "codes", placeholder: t.codes,
          value: Array.isArray(values.value) ? values.value.join(", ") : (values.value || "") });
        params.appendChild(labelled(value, t.value));
      }
      if (kind.endsWith("days")) {
        const days = el("input", { type: "number", min: "1", "data-part": "days", value: values.days ?? "" });
        params.appendChild(labelled(days, t.days));
      }
      if (kind === "range") {
        params.appendChild(labelled(el("input", { type: "number", min: "0", "data-part": "min", value: values.min ?? "" }), t.min));
        params.appendChild(labelled(el("input", { type: "number", min: "0", "data-part": "max", value: values.max ?? "" }), t.max));
      }
    }
    field.addEventListener("change", () => { renderParams({}); changed(); });
    li.addEventListener("input", changed);
    li.addEventListener("change", changed);
    renderParams(cond);
    return li;
  }

  function read() {
    const children = [];
    for (const li of list.children) {
      const get = (part) => li.querySelector(`[data-part=${part}]`);
      const cond = { field: get("field").value };
      const kind = kinds[cond.field];
      if (get("cmp")) cond.cmp = get("cmp").value;
      if (get("value") && get("value").value !== "") cond.value = parseInt(get("value").value, 10);
      if (get("codes")) cond.value = get("codes").value.split(",").map((s) => s.trim()).filter(Boolean);
      if (get("days") && get("days").value !== "") cond.days = parseInt(get("days").value, 10);
      if (kind === "range") {
        if (get("min").value !== "") cond.min = parseInt(get("min").value, 10);
        if (get("max").value !== "") cond.max = parseInt(get("max").value, 10);
      }
      if (get("negate").checked) cond.negate = true;
      children.push(cond);
    }
    return children.length ? { op: op.value, children } : {};
  }

  let timer = null;
  function changed() {
    textarea.value = JSON.stringify(read());
    clearTimeout(timer);
    timer = setTimeout(count, 250);
  }

  let latest = 0;
  function count() {
    let criteria;
    try { criteria = JSON.parse(textarea.value || "{}"); } catch (e) { return; }
    const ticket = ++latest;
    fetch(root.dataset.countUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.value : "" },
      body: JSON.stringify({ criteria }),
    })
      .then((r) => r.json())
      .then((data) => {
        if (ticket !== latest) return;
        if (data.error) {
          errorEl.hidden = false;
          errorEl.textContent = data.error.message;
          countEl.textContent = "–";
          return;
        }
        errorEl.hidden = true;
        countEl.textContent = data.count;
        if (countLabelEl && data.count_label) countLabelEl.textContent = data.count_label;
        sampleEl.textContent = "";
        for (const m of data.sample) sampleEl.appendChild(el("li", { text: `${m.name} (${m.number})` }));
      })
      .catch(() => {});
  }

  // Start from the saved criteria when they are one flat group; otherwise leave the JSON.
  try {
    const saved = JSON.parse(textarea.value || "{}");
    if (saved.op && Array.isArray(saved.children) && saved.children.every((c) => c.field)) {
      op.value = saved.op;
      for (const c of saved.children) list.appendChild(conditionRow(c));
    }
  } catch (e) { /* edited by hand: keep it */ }
  document.getElementById("builder-add").addEventListener("click", () => {
    list.appendChild(conditionRow({}));
    changed();
    list.lastElementChild.querySelector("select").focus();
  });
  op.addEventListener("change", changed);
  textarea.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(count, 400); });
  count();
})();
