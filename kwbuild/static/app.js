// kwbuild's browsable view: symbol search over /api/symbols (no framework, no external resources).
"use strict";

(function () {
  const form = document.getElementById("search");
  const input = document.getElementById("search-q");
  const list = document.getElementById("search-results");
  if (!form || !input || !list) return;
  let timer = 0;
  let generation = 0;

  // The id kwbuild gives a symbol's first definition on its docs page (render/markdown.py, anchor_base).
  function anchorOf(qualname) {
    let out = "sym-";
    for (const ch of qualname) {
      out += /^[A-Za-z0-9_.-]$/.test(ch) ? ch : "_u" + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
    }
    return out;
  }

  function pageOf(result) {
    const path = result.path.split("/").map(encodeURIComponent).join("/");
    return "/docs/" + path + "_docs.md#" + encodeURIComponent(anchorOf(result.qualname));
  }

  function item(result) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = pageOf(result);
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = result.kind;
    const where = document.createElement("span");
    where.className = "where";
    where.textContent = result.path + ":" + result.line;
    a.append(kind, document.createTextNode(result.qualname), where);
    li.append(a);
    return li;
  }

  async function search(q) {
    const mine = ++generation;
    if (!q) { list.hidden = true; list.replaceChildren(); return; }
    const query = q.includes("*") || q.includes(".") ? q : q + "*";
    let data;
    try {
      const response = await fetch("/api/symbols?limit=30&q=" + encodeURIComponent(query));
      data = await response.json();
      if (!response.ok) throw new Error(data.error || response.statusText);
    } catch (error) {
      if (mine !== generation) return;
      const li = document.createElement("li");
      li.textContent = String(error.message || error);
      list.replaceChildren(li);
      list.hidden = false;
      return;
    }
    if (mine !== generation) return;
    // Exact names first: the API ranks same-case matches first; a prefix query lists names alphabetically.
    const exact = data.results.filter((r) => r.name === q);
    const rest = data.results.filter((r) => r.name !== q);
    const items = exact.concat(rest).map(item);
    if (!items.length) {
      const li = document.createElement("li");
      li.textContent = "No symbol matches.";
      items.push(li);
    }
    list.replaceChildren(...items);
    list.hidden = false;
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => search(input.value.trim()), 120);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearTimeout(timer);
    await search(input.value.trim());
    const first = list.querySelector("a");
    if (first) window.location.assign(first.href);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && document.activeElement !== input) { event.preventDefault(); input.focus(); }
    if (event.key === "Escape") list.hidden = true;
  });
})();
