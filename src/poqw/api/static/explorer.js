// poqw explorer: a read-only view of one node through its JSON-RPC (eth_* and poqw_*).
// Pages are hash routes (#/, #/block/N|HASH, #/tx/HASH, #/address/ADDR). Every value from the
// node is put into the page as text (createTextNode / textContent), never as HTML, and links
// are built only from values that passed a strict hex or decimal check.
"use strict";
(() => {
  const RPC_URL = "/";
  const LATEST_ROWS = 20;
  const CHART_BLOCKS = 60;
  const ADDRESS_SCAN_BLOCKS = 256;
  const BATCH = 50;
  const REFRESH_MS = 3000;
  const view = document.getElementById("view");
  let refreshTimer = null;
  let chart = null;
  let route = 0; // bumped on navigation: a slow answer for an old page is dropped
  const proofCache = new Map(); // block hash -> poqw_getProof result (blocks never change)

  // --- JSON-RPC ---------------------------------------------------------------------------
  let nextId = 1;
  class RpcError extends Error {
    constructor(error) { super(`${error.message} (code ${error.code})`); this.code = error.code; }
  }
  async function post(payload) {
    const response = await fetch(RPC_URL, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(payload),
    });
    if (!response.ok) throw new Error(`the node answered HTTP ${response.status}`);
    return response.json();
  }
  async function rpc(method, params = []) {
    const answer = await post({ jsonrpc: "2.0", id: nextId++, method, params });
    if (answer.error) throw new RpcError(answer.error);
    return answer.result;
  }
  // Several calls in JSON-RPC batches; each result is the value or an RpcError (not thrown).
  async function batch(calls) {
    const out = [];
    for (let start = 0; start < calls.length; start += BATCH) {
      const part = calls.slice(start, start + BATCH);
      const first = nextId;
      nextId += part.length;
      const answers = await post(part.map(([method, params], i) =>
        ({ jsonrpc: "2.0", id: first + i, method, params })));
      if (!Array.isArray(answers)) throw new RpcError(answers.error || { message: "bad batch", code: 0 });
      const byId = new Map(answers.map((a) => [a.id, a]));
      part.forEach((_, i) => {
        const a = byId.get(first + i);
        out.push(!a ? new RpcError({ message: "no answer", code: 0 })
          : a.error ? new RpcError(a.error) : a.result);
      });
    }
    return out;
  }
  const failed = (value) => value instanceof Error || value === null || value === undefined;

  // --- values -----------------------------------------------------------------------------
  const HASH = /^0x[0-9a-fA-F]{64}$/;
  const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
  const DECIMAL = /^[0-9]{1,15}$/;
  const QUANTITY = /^0x[0-9a-fA-F]{1,64}$/;
  const big = (hex) => (typeof hex === "string" && QUANTITY.test(hex) ? BigInt(hex) : null);
  const num = (value) => {
    if (typeof value === "number") return value;
    const b = big(value);
    return b === null ? null : Number(b);
  };
  const hexQ = (n) => "0x" + n.toString(16);
  const short = (hex, keep = 10) =>
    typeof hex === "string" && hex.length > 2 * keep + 2 ? `${hex.slice(0, keep + 2)}…${hex.slice(-keep + 2)}` : String(hex);
  function ether(wei) {
    if (wei === null) return "—";
    const unit = 10n ** 18n;
    const whole = wei / unit;
    let frac = (wei % unit).toString().padStart(18, "0").replace(/0+$/, "").slice(0, 8);
    return `${whole.toLocaleString("en-US")}${frac ? "." + frac : ""} POQW`;
  }
  function age(timestamp) {
    if (timestamp === null) return "—";
    const s = Math.max(0, Math.round(Date.now() / 1000 - timestamp));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }
  const quoted = (text) => `“${String(text).slice(0, 120)}”`;
  const isoTime = (t) => (t === null ? "—" : new Date(t * 1000).toISOString().replace(".000Z", " UTC").replace("T", " "));

  // --- DOM (text only) --------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") e.className = value;
      else if (key.startsWith("on")) e.addEventListener(key.slice(2), value);
      else e.setAttribute(key, String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      e.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return e;
  }
  const blockLink = (id, text) =>
    HASH.test(String(id)) || DECIMAL.test(String(id))
      ? h("a", { href: `#/block/${id}`, class: HASH.test(String(id)) ? "hash" : null }, text ?? String(id))
      : h("span", {}, text ?? String(id));
  const txLink = (hash, text) =>
    HASH.test(String(hash)) ? h("a", { href: `#/tx/${hash}`, class: "hash" }, text ?? short(hash)) : h("span", {}, String(hash));
  const addressLink = (address, text) =>
    ADDRESS.test(String(address))
      ? h("a", { href: `#/address/${address}`, class: "hash" }, text ?? short(address, 8))
      : h("span", { class: "muted" }, address === null ? "contract creation" : String(address));
  const card = (title, ...body) => h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...body);
  const fields = (pairs) =>
    h("dl", { class: "fields" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  function table(headers, rows, numeric = [], className = null) {
    return h("table", { class: className },
      h("thead", {}, h("tr", {}, headers.map((x, i) => h("th", { class: numeric.includes(i) ? "num" : null }, x)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((x, i) => h("td", { class: numeric.includes(i) ? "num" : null }, x))))));
  }
  function show(...nodes) {
    view.replaceChildren(...nodes);
  }
  function showError(message) {
    show(h("div", { class: "error", role: "alert" }, message));
  }

  // --- proofs -----------------------------------------------------------------------------
  async function proofsFor(blocks) {
    const missing = blocks.filter((b) => !proofCache.has(b.hash));
    const answers = await batch(missing.map((b) => ["poqw_getProof", [{ blockHash: b.hash }]]));
    missing.forEach((b, i) => { if (!failed(answers[i])) proofCache.set(b.hash, answers[i]); });
    return blocks.map((b) => proofCache.get(b.hash) || null);
  }
  const bestEnergy = (proof) => (proof && typeof proof.bestEnergy === "number" ? proof.bestEnergy : null);
  const bound = (proof) => (proof && proof.energyBound !== undefined ? Number(proof.energyBound) : null);

  // --- pages ------------------------------------------------------------------------------
  async function home(token, refreshing = false) {
    const [info, tipHex, difficulty, peers, mining] = await batch([
      ["poqw_nodeInfo", []], ["eth_blockNumber", []], ["poqw_difficulty", []], ["poqw_peers", []],
      ["poqw_miningStatus", []],
    ]);
    if (failed(tipHex)) throw tipHex instanceof Error ? tipHex : new Error("no chain height");
    const tip = num(tipHex);
    const first = Math.max(0, tip - Math.max(LATEST_ROWS, CHART_BLOCKS) + 1);
    const numbers = [];
    for (let n = tip; n >= first; n--) numbers.push(n);
    const blocks = (await batch(numbers.map((n) => ["eth_getBlockByNumber", [hexQ(n), false]])))
      .filter((b) => !failed(b));
    const proofs = await proofsFor(blocks);
    if (token !== route) return;
    updateSummary(info, tip);

    const stats = h("div", { class: "grid" },
      stat("Height", tip.toLocaleString("en-US"), "stat-height"),
      stat("Peers", failed(peers) ? "—" : String(peers.length), "stat-peers"),
      stat("Next energy bound", failed(difficulty) ? "—" : String(difficulty.energyBound ?? "—"), "stat-bound"),
      stat("Mining", failed(mining) ? "—" : String(mining.status ?? (mining.mining ? "mining" : "off")), "stat-mining"),
      stat("Chain", failed(info) ? "—" : `${info.genesis ?? ""} (id ${info.chainId ?? "?"})`, "stat-chain"));

    const rows = blocks.slice(0, LATEST_ROWS).map((b, i) => {
      const p = proofs[i];
      const best = bestEnergy(p);
      const limit = bound(p);
      return [blockLink(String(num(b.number))), blockLink(b.hash, short(b.hash, 8)), addressLink(b.miner),
        limit === null ? "—" : String(limit), best === null || limit === null ? "—" : String(limit - best),
        String(Array.isArray(b.transactions) ? b.transactions.length : 0), age(num(b.timestamp))];
    });
    const latest = card("Latest blocks", table(
      ["Height", "Hash", "Miner", "Energy bound", "Best below bound", "Txs", "Age"], rows, [0, 3, 4, 5]));
    latest.id = "latest-blocks";

    const chartBox = h("div", { class: "chart", id: "chart" });
    const peerRows = failed(peers) ? [] : peers.map((p) => [
      h("span", { class: "hash" }, short(String(p.nodeId ?? "?"), 8)),
      String(p.address ?? ""), p.height === null || p.height === undefined ? "—" : String(num(p.height))]);
    const capabilities = failed(peers) ? [] : peers.map((p) => h("li", {},
      h("span", { class: "hash" }, short(String(p.nodeId ?? "?"), 8)), ": ", capabilityText(p.capability)));
    const peersCard = card("Peers", peerRows.length
      ? [table(["Node", "Address", "Height"], peerRows, [2]),
        h("p", { class: "muted note" }, "Heights as each peer last announced them."),
        h("h3", {}, "Capabilities"), h("ul", { class: "capabilities" }, capabilities),
        h("p", { class: "muted note" }, "As each peer measured and signed them (— : the peer sent no record).")]
      : h("p", { class: "muted" }, "No peers connected."));
    peersCard.id = "peers";
    const scrolled = window.scrollY; // a refresh keeps the reader where they were
    show(card(null, stats),
      h("div", { class: "columns" }, card("Block time and difficulty", chartBox), peersCard), latest);
    if (refreshing) window.scrollTo(0, scrolled);
    drawChart(chartBox, blocks, proofs);
  }
  // A peer's signed capability record (poqw_peers' "capability") as one line of text.
  const count = (x) => (typeof x === "number" && Number.isFinite(x) && x >= 0 ? x : null);
  function bytesText(n) {
    if (count(n) === null) return "?";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = n, i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
  }
  function rateText(n) {
    if (!count(n)) return null;
    for (const [unit, scale] of [["G", 1e9], ["M", 1e6], ["k", 1e3]]) if (n >= scale) return `${(n / scale).toFixed(1)} ${unit}`;
    return String(n);
  }
  function capabilityText(c) {
    if (!c || typeof c !== "object") return "—";
    const parts = [`${count(c.cores) ?? "?"} cores`, `${bytesText(c.memory_bytes)} memory`];
    const gpus = Array.isArray(c.gpus) ? c.gpus : [];
    parts.push(gpus.length ? `${gpus.length} GPU: ${gpus.map((g) => `${String(g && g.name).slice(0, 60)} ${bytesText(g && g.memory_bytes)}`).join(", ")}` : "no GPU");
    parts.push(`QPU ${String(c.qpu ?? "none").slice(0, 40)}`);
    const anneal = rateText(c.anneal_flips_per_s), gpu = rateText(c.gpu_flips_per_s);
    if (anneal) parts.push(`CPU anneal ${anneal} flips/s`);
    if (gpu) parts.push(`GPU anneal ${gpu} flips/s`);
    if (count(c.statevector_layer_ns)) parts.push(`QAOA layer (20 qubits) ${(c.statevector_layer_ns / 1e6).toFixed(2)} ms`);
    return parts.join(" · ");
  }

  function stat(label, value, id) {
    return h("div", { class: "stat", id }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
  }
  function updateSummary(info, tip) {
    const summary = document.getElementById("node-summary");
    if (failed(info)) { summary.textContent = `height ${tip}`; return; }
    summary.textContent = `${info.name ?? "node"} · ${info.genesis ?? ""} · height ${tip}`;
  }

  function drawChart(box, blocks, proofs) {
    const points = blocks.map((b, i) => ({ n: num(b.number), t: num(b.timestamp), bound: bound(proofs[i]) }))
      .filter((p) => p.n !== null).sort((a, b) => a.n - b.n);
    const xs = [], times = [], bounds = [];
    for (let i = 1; i < points.length; i++) {
      xs.push(points[i].n);
      times.push(points[i].t - points[i - 1].t);
      bounds.push(points[i].bound);
    }
    if (chart) { chart.destroy(); chart = null; }
    if (xs.length < 2 || typeof uPlot === "undefined") {
      box.append(h("p", { class: "muted" }, "The chart appears once the chain has a few blocks."));
      return;
    }
    const width = Math.max(320, box.clientWidth - 8);
    chart = new uPlot({
      width, height: 240,
      scales: { x: { time: false } },
      legend: { live: false },
      axes: [{ label: "block", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] },
        { label: "block time (s)", scale: "s" },
        { label: "energy bound", scale: "e", side: 1, grid: { show: false } }],
      series: [{ label: "block" },
        { label: "block time (s)", scale: "s", stroke: "#3b5bdb", width: 2 },
        { label: "energy bound", scale: "e", stroke: "#e8590c", width: 2 }],
    }, [xs, times, bounds], box);
  }

  async function blockPage(token, id) {
    if (!DECIMAL.test(id) && !HASH.test(id)) throw new Error(`Not a block number or block hash: ${quoted(id)}`);
    const block = HASH.test(id) ? await rpc("eth_getBlockByHash", [id, true])
      : await rpc("eth_getBlockByNumber", [hexQ(Number(id)), true]);
    if (!block) throw new Error(`No block ${id} on this node.`);
    let proof = null, proofError = null;
    try { proof = await rpc("poqw_getProof", [{ blockHash: block.hash }]); } catch (e) { proofError = e.message; }
    if (token !== route) return;
    const number = num(block.number);
    const txs = Array.isArray(block.transactions) ? block.transactions : [];
    const head = card(null, fields([
      ["Hash", h("span", { class: "hash" }, block.hash)],
      ["Parent", number > 0 ? blockLink(block.parentHash) : h("span", { class: "hash" }, block.parentHash)],
      ["Miner", addressLink(block.miner, block.miner)],
      ["Time", `${isoTime(num(block.timestamp))} (${age(num(block.timestamp))})`],
      ["Transactions", String(txs.length)],
      ["Gas used", `${num(block.gasUsed)} of ${num(block.gasLimit)}`],
      ["Base fee", `${num(block.baseFeePerGas)} wei`],
      ["State root", h("span", { class: "hash" }, block.stateRoot)],
    ]));
    const nav = h("p", {}, number > 0 ? blockLink(String(number - 1), "← previous") : null, " ",
      blockLink(String(number + 1), "next →"));
    show(h("h1", {}, `Block ${number}`), nav, head, proofCard(proof, proofError, number), txCard(txs));
  }

  function proofCard(proof, error, number) {
    if (number === 0) return card("Proof of quantum work", h("p", { class: "muted" }, "The genesis block has no proof."));
    if (!proof) return card("Proof of quantum work", h("p", { class: "error" }, `No proof: ${error ?? "unknown"}`));
    const energies = Array.isArray(proof.energies) ? proof.energies.map(Number) : [];
    const limit = bound(proof);
    const best = bestEnergy(proof);
    const solutions = Array.isArray(proof.solutions) ? proof.solutions : [];
    const distances = Array.isArray(proof.distances) ? proof.distances : [];
    const summary = fields([
      ["Instance seed", h("span", { class: "hash", id: "proof-seed" }, String(proof.seed ?? "—"))],
      ["Energy bound", String(limit ?? "—")],
      ["Best energy", best === null ? "—" : `${best} (${limit - best} below the bound)`],
      ["Solutions required", `${proof.k ?? "?"}, pairwise distance at least ${proof.dMin ?? "?"}`],
      proof.topology ? ["Topology", `${proof.topology.family ?? "?"}, ${proof.topology.numNodes ?? "?"} spins`] : null,
      ["Ticket target", h("span", { class: "hash" }, String(proof.ticketTarget ?? "—"))],
      ["Salt", h("span", { class: "hash" }, String(proof.salt ?? "—"))],
    ]);
    const sols = table(["#", "Energy", "Spins (1 = spin −1, 0 = spin +1)"], solutions.map((s, i) => [
      String(i), energies[i] === undefined ? "—" : String(energies[i]), h("pre", { class: "bits" }, String(s))]), [0, 1], "solutions");
    sols.id = "solutions";
    const matrix = distances.length ? table(["", ...distances.map((_, j) => `#${j}`)],
      distances.map((row, i) => [`#${i}`, ...(Array.isArray(row) ? row : []).map((d, j) => (i === j ? "·" : String(d)))]),
      distances.map((_, j) => j + 1), "compact") : h("p", { class: "muted" }, "—");
    matrix.id = "distances";
    return card("Proof of quantum work", summary, h("h2", {}, "Solutions"), sols,
      h("h2", {}, "Pairwise distances (a vector and its flip count as one)"), matrix);
  }

  function txCard(txs) {
    if (!txs.length) return card("Transactions", h("p", { class: "muted" }, "No transactions."));
    const rows = txs.map((tx) => typeof tx === "string" ? [txLink(tx), "", "", ""]
      : [txLink(tx.hash), addressLink(tx.from), addressLink(tx.to), ether(big(tx.value))]);
    const t = card("Transactions", table(["Hash", "From", "To", "Value"], rows, [3]));
    t.id = "transactions";
    return t;
  }

  async function txPage(token, hash) {
    if (!HASH.test(hash)) throw new Error(`Not a transaction hash: ${quoted(hash)}`);
    const [tx, receipt] = await batch([["eth_getTransactionByHash", [hash]], ["eth_getTransactionReceipt", [hash]]]);
    if (failed(tx)) throw new Error(`No transaction ${hash} on this node.`);
    if (token !== route) return;
    const mined = !failed(receipt);
    const status = mined ? (num(receipt.status) === 1 ? h("span", { class: "ok" }, "success")
      : h("span", { class: "fail" }, "reverted")) : h("span", { class: "pill" }, "pending");
    show(h("h1", {}, "Transaction"), card(null, fields([
      ["Hash", h("span", { class: "hash" }, tx.hash)],
      ["Status", status],
      ["Block", tx.blockNumber ? blockLink(String(num(tx.blockNumber))) : "pending"],
      ["From", addressLink(tx.from, tx.from)],
      ["To", addressLink(tx.to, tx.to ?? undefined)],
      mined && receipt.contractAddress ? ["Contract created", addressLink(receipt.contractAddress, receipt.contractAddress)] : null,
      ["Value", ether(big(tx.value))],
      ["Nonce", String(num(tx.nonce))],
      ["Gas", mined ? `${num(receipt.gasUsed)} used of ${num(tx.gas)}` : `limit ${num(tx.gas)}`],
      ["Max fee per gas", `${num(tx.maxFeePerGas)} wei`],
      mined ? ["Logs", String(Array.isArray(receipt.logs) ? receipt.logs.length : 0)] : null,
      ["Input", h("pre", { class: "bits data" }, String(tx.input ?? "0x"))],
    ])), mined ? logsCard(receipt.logs) : null);
  }

  function logsCard(logs) {
    if (!Array.isArray(logs) || !logs.length) return null;
    const rows = logs.map((entry) => [String(num(entry.logIndex)), addressLink(entry.address),
      h("pre", { class: "bits" }, (Array.isArray(entry.topics) ? entry.topics : []).map(String).join("\n")),
      h("pre", { class: "bits data" }, String(entry.data ?? "0x"))]);
    const t = card("Logs", table(["#", "Address", "Topics", "Data"], rows, [0], "logs"));
    t.id = "logs";
    return t;
  }

  async function addressPage(token, address) {
    if (!ADDRESS.test(address)) throw new Error(`Not an address (0x and 40 hex digits): ${quoted(address)}`);
    const [balance, nonce, code, tipHex] = await batch([
      ["eth_getBalance", [address, "latest"]], ["eth_getTransactionCount", [address, "latest"]],
      ["eth_getCode", [address, "latest"]], ["eth_blockNumber", []]]);
    for (const v of [balance, nonce, code, tipHex]) if (v instanceof Error) throw v;
    const tip = num(tipHex);
    const first = Math.max(0, tip - ADDRESS_SCAN_BLOCKS + 1);
    const calls = [];
    for (let n = tip; n >= first; n--) calls.push(["eth_getBlockByNumber", [hexQ(n), true]]);
    const blocks = (await batch(calls)).filter((b) => !failed(b));
    if (token !== route) return;
    const me = address.toLowerCase();
    const rows = [];
    for (const b of blocks) {
      for (const tx of b.transactions || []) {
        if (typeof tx !== "object") continue;
        const from = String(tx.from).toLowerCase(), to = String(tx.to).toLowerCase();
        if (from !== me && to !== me) continue;
        rows.push([txLink(tx.hash), blockLink(String(num(b.number))), from === me ? "out" : "in",
          addressLink(from === me ? tx.to : tx.from), ether(big(tx.value))]);
      }
    }
    const codeSize = typeof code === "string" ? (code.length - 2) / 2 : 0;
    const recent = card(`Recent transactions (last ${blocks.length} blocks)`, rows.length
      ? table(["Hash", "Block", "", "Counterparty", "Value"], rows, [1, 4])
      : h("p", { class: "muted" }, "None in these blocks."));
    recent.id = "recent-transactions";
    show(h("h1", {}, "Address ", h("span", { class: "hash title" }, address)), card(null, fields([
      ["Balance", h("span", { id: "balance" }, ether(big(balance)))],
      ["Nonce", h("span", { id: "nonce" }, String(num(nonce)))],
      ["Code size", h("span", { id: "code-size" }, codeSize ? `${codeSize} bytes (a contract)` : "0 (an account)")],
    ])), recent);
  }

  // --- routing ----------------------------------------------------------------------------
  async function render() {
    const token = ++route;
    clearTimeout(refreshTimer);
    rpc("poqw_nodeInfo").then((info) => updateSummary(info, num(info.height)), () => {});
    try {
      const [page, ...rest] = decodeURIComponent(location.hash.replace(/^#\/?/, "")).split("/");
      const arg = rest.join("/");
      if (page === "" || page === "blocks") {
        await home(token);
        if (token === route) refreshTimer = setTimeout(() => { if (token === route) refresh(token); }, REFRESH_MS);
      } else if (page === "block") await blockPage(token, arg);
      else if (page === "tx") await txPage(token, arg);
      else if (page === "address") await addressPage(token, arg);
      else if (extraPages.has(page)) await extraPages.get(page)(token, arg);
      else throw new Error(`No such page: ${quoted(page)}`);
    } catch (e) {
      if (token === route) showError(e.message || String(e));
    }
  }
  async function refresh(token) {
    try { await home(token, true); } catch (e) { /* keep the last view; try again */ }
    if (token === route) refreshTimer = setTimeout(() => refresh(token), REFRESH_MS);
  }
  document.getElementById("search").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = document.getElementById("search-input").value.trim();
    if (DECIMAL.test(q)) location.hash = `#/block/${q}`;
    else if (ADDRESS.test(q)) location.hash = `#/address/${q}`;
    else if (HASH.test(q)) {
      rpc("eth_getBlockByHash", [q, false]).then((b) => { location.hash = b ? `#/block/${q}` : `#/tx/${q}`; },
        () => { location.hash = `#/tx/${q}`; });
    } else showError("Search for a block number, a block or transaction hash (0x + 64 hex digits) or an address (0x + 40).");
  });
  window.addEventListener("hashchange", render);
  // Pages in other scripts (market.js) register here; the first render waits until they ran.
  const extraPages = new Map();
  window.poqwExplorer = Object.freeze({
    h, rpc, batch, failed, card, fields, table, show, blockLink, txLink, addressLink, ether, big, num,
    hexQ, short, isoTime, quoted, HASH, ADDRESS, current: () => route, RpcError,
    page: (name, handler) => { extraPages.set(name, handler); },
  });
  document.addEventListener("DOMContentLoaded", render);
})();
