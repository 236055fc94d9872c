// Segment builder: edits the criteria JSON (one AND/OR group of conditions) and shows the
// live count from the server as the marketer works. Codes (stores, categories, tiers,
// interests...) are chosen from lists the page sends (builder_fields[].choices); the JSON
// itself is shown only when asked for ("Visa som JSON"), and nested groups are typed there.
(function () {
  const root = document.getElementById("segment-builder");
  const textarea = document.querySelector("textarea[data-criteria]");
  if (!root || !textarea) return;
  const fields = JSON.parse(document.getElementById("segment-builder-fields").textContent);
  const t = JSON.parse(document.getElementById("segment-builder-texts").textContent);
  const byField = Object.fromEntries(fields.map((f) => [f.field, f]));
  const list = document.getElementById("builder-conditions");
  const op = document.getElementById("builder-op");
  const countEl = document.getElementById("live-count");
  // "1 matchande medlem", "2 matchande medlemmar": the server words the count (ngettext).
  const countLabelEl = document.getElementById("live-count-label");
  const errorEl = document.getElementById("live-error");
  const sampleEl = document.getElementById("live-sample");
  const jsonBox = document.getElementById("builder-json");
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
  const FILTER_FROM = 8; // a list longer than this gets a filter box
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
    return el("label", { for: id, class: "builder-label" }, [document.createTextNode(text + " "), input]);
  }

  function asList(value) {
    if (Array.isArray(value)) return value.map(String);
    return value ? [String(value)] : [];
  }

  // The codes of a condition, chosen from the field's list: checkboxes under a legend, with a
  // filter box for long lists. A saved code that is no longer in the list stays chosen and
  // says so, so saving again does not drop it silently.
  function codesPicker(def, selected) {
    const box = el("fieldset", { class: "builder-codes", "data-part": "codes-list" });
    box.appendChild(el("legend", { text: `${def.label}: ${t.choose}` }));
    const known = new Set(def.choices.map((c) => c.code));
    const items = def.choices.map((c) => ({ code: c.code, label: c.label, gone: false }));
    for (const code of selected) {
      if (!known.has(code)) items.push({ code, label: t.gone.replace("%(code)s", code), gone: true });
    }
    if (!items.length) {
      box.appendChild(el("p", { class: "builder-codes-empty", text: t.empty }));
      return box;
    }
    const ul = el("ul", { class: "builder-codes-list" });
    for (const item of items) {
      const check = el("input", { type: "checkbox", value: item.code, "data-part": "code" });
      check.checked = selected.includes(item.code);
      const li = el("li", item.gone ? { class: "builder-code-gone" } : {}, [labelled(check, item.label)]);
      li.dataset.search = (item.label + " " + item.code).toLowerCase();
      ul.appendChild(li);
    }
    if (items.length > FILTER_FROM) {
      const filter = el("input", { type: "search", "data-part": "filter", class: "builder-filter" });
      filter.addEventListener("input", (event) => {
        event.stopPropagation(); // filtering changes no criteria
        const words = filter.value.trim().toLowerCase();
        for (const li of ul.children) {
          const checked = li.querySelector("input").checked;
          li.hidden = !!words && !checked && !li.dataset.search.includes(words);
        }
      });
      filter.addEventListener("keydown", (event) => {
        if (event.key === "Enter") event.preventDefault(); // Enter filters, never saves
      });
      filter.addEventListener("change", (event) => event.stopPropagation());
      box.appendChild(labelled(filter, t.filter));
    }
    box.appendChild(ul);
    return box;
  }

  function conditionRow(cond) {
    const li = el("li", { "data-testid": "builder-condition", class: "builder-condition" });
    let saved = { ...cond }; // keys the builder does not edit are kept as they were
    const field = el("select", { "data-part": "field" });
    for (const f of fields) field.appendChild(el("option", { value: f.field, text: f.label }));
    field.value = byField[cond.field] ? cond.field : fields[0].field;
    const head = el("div", { class: "builder-head" });
    head.appendChild(labelled(field, t.condition));
    const params = el("div", { class: "builder-params" });
    const negate = el("input", { type: "checkbox", "data-part": "negate" });
    negate.checked = !!cond.negate;
    const remove = el("button", { type: "button", class: "button builder-remove", text: t.remove });
    remove.addEventListener("click", () => { li.remove(); changed(); });
    head.appendChild(labelled(negate, t.not));
    head.appendChild(remove);
    li.appendChild(head);
    li.appendChild(params);

    function renderParams(values) {
      params.textContent = "";
      const def = byField[field.value];
      const kind = def.kind;
      if (kind.startsWith("number")) {
        const cmp = el("select", { "data-part": "cmp", "aria-label": t.compare });
        for (const c of ["gte", "gt", "lte", "lt", "eq"]) {
          cmp.appendChild(el("option", { value: c, text: { gte: "≥", gt: ">", lte: "≤", lt: "<", eq: "=" }[c] }));
        }
        cmp.value = values.cmp || "gte";
        const value = el("input", { type: "number", min: "0", "data-part": "value", value: values.value ?? "" });
        params.appendChild(el("span", { class: "builder-compare" }, [cmp, labelled(value, t.value)]));
      }
      if (field.value === "store") {
        const mode = el("select", { "data-part": "mode" });
        mode.appendChild(el("option", { value: "home", text: t.mode_home }));
        mode.appendChild(el("option", { value: "purchased", text: t.mode_purchased }));
        mode.value = values.mode === "purchased" ? "purchased" : "home";
        params.appendChild(labelled(mode, t.mode));
      }
      if (kind.startsWith("codes")) {
        if (Array.isArray(def.choices)) {
          params.appendChild(codesPicker(def, asList(values.value)));
        } else {
          const value = el("input", { type: "text", "data-part": "codes", placeholder: t.codes,
            value: asList(values.value).join(", ") });
          params.appendChild(labelled(value, t.value));
        }
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
    field.addEventListener("change", () => { saved = {}; renderParams({}); changed(); });
    li.addEventListener("input", changed);
    li.addEventListener("change", changed);
    li.readCondition = () => {
      const get = (part) => li.querySelector(`[data-part=${part}]`);
      const def = byField[field.value];
      const cond = { ...saved, field: field.value };
      delete cond.negate;
      if (def.kind.startsWith("number")) { delete cond.cmp; delete cond.value; }
      if (def.kind.startsWith("codes")) delete cond.value;
      if (def.kind.endsWith("days")) delete cond.days;
      if (def.kind === "range") { delete cond.min; delete cond.max; }
      if (get("cmp")) cond.cmp = get("cmp").value;
      if (get("value") && get("value").value !== "") cond.value = parseInt(get("value").value, 10);
      if (get("mode")) cond.mode = get("mode").value;
      if (get("codes-list")) {
        cond.value = [...li.querySelectorAll("[data-part=code]:checked")].map((c) => c.value);
      }
      if (get("codes")) cond.value = get("codes").value.split(",").map((s) => s.trim()).filter(Boolean);
      if (get("days") && get("days").value !== "") cond.days = parseInt(get("days").value, 10);
      if (def.kind === "range") {
        if (get("min").value !== "") cond.min = parseInt(get("min").value, 10);
        if (get("max").value !== "") cond.max = parseInt(get("max").value, 10);
      }
      if (negate.checked) cond.negate = true;
      return cond;
    };
    renderParams(cond);
    return li;
  }

  function read() {
    const children = [...list.children].map((li) => li.readCondition());
    return children.length ? { op: op.value, children } : {};
  }

  let timer = null;
  function changed() {
    textarea.value = JSON.stringify(read());
    clearTimeout(timer);
    timer = setTimeout(count, 250);
  }

  function showError(message) {
    errorEl.textContent = message || "";
    errorEl.hidden = !message;
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
          showError(data.error.message);
          countEl.textContent = "–";
          sampleEl.textContent = "";
          return;
        }
        showError("");
        countEl.textContent = data.count;
        if (countLabelEl && data.count_label) countLabelEl.textContent = data.count_label;
        sampleEl.textContent = "";
        for (const m of data.sample) sampleEl.appendChild(el("li", { text: `${m.name} (${m.number})` }));
      })
      .catch(() => {});
  }

  // The JSON field lives in "Visa som JSON", closed unless the criteria cannot be shown as
  // rows (nested groups) or the form has an error on them. It is still part of the form.
  const jsonRow = textarea.closest(".form-row");
  let flat = true;
  try {
    const saved = JSON.parse(textarea.value || "{}") || {}; // a new segment's field says null
    if (typeof saved !== "object") flat = false;
    else if (saved.op && Array.isArray(saved.children) && saved.children.every((c) => c && byField[c.field])) {
      op.value = saved.op;
      for (const c of saved.children) list.appendChild(conditionRow(c));
    } else if (Object.keys(saved).length) {
      flat = false;
    }
  } catch (e) { flat = false; /* edited by hand: keep it */ }
  if (jsonBox && jsonRow) {
    jsonBox.appendChild(jsonRow);
    jsonBox.open = !flat || jsonRow.classList.contains("errors") || !!jsonRow.querySelector(".errorlist");
  }
  document.getElementById("builder-add").addEventListener("click", () => {
    list.appendChild(conditionRow({}));
    changed();
    list.lastElementChild.querySelector("select").focus();
  });
  op.addEventListener("change", changed);
  textarea.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(count, 400); });
  count();
})();
