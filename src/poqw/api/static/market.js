// poqw explorer, the problem market (#/market, #/market/ADDRESS): every problem of one market
// contract with its commits, reveals, slashes and payouts, read from the contract's event logs
// (eth_getLogs) and decoded here with the event topics the node serves at /explorer/market.json
// (keccak is not in the browser). Values go into the page as text only, like the rest.
"use strict";
(() => {
  const X = window.poqwExplorer;
  const { h, card, fields, table, show, txLink, addressLink, blockLink, num, hexQ, isoTime, quoted } = X;
  const RANGE = 10000; // blocks per eth_getLogs (the node's default limit)
  const STORE = "poqw-explorer-market";
  let spec = null;

  async function loadSpec() {
    if (spec) return spec;
    const response = await fetch("/explorer/market.json");
    if (!response.ok) throw new Error(`the node answered HTTP ${response.status} for the market's ABI`);
    spec = await response.json();
    return spec;
  }

  // --- ABI decoding (elementary types; a dynamic value shows as its length) -------------------
  const WORD = /^[0-9a-fA-F]{64}$/;
  function value(type, word) {
    if (typeof word !== "string" || !WORD.test(word)) return null;
    const n = BigInt("0x" + word);
    if (type === "address") return "0x" + word.slice(24);
    if (type === "bool") return n !== 0n;
    if (/^uint\d*$/.test(type)) return n;
    const bits = /^int(\d*)$/.exec(type);
    if (bits) return BigInt.asIntN(Number(bits[1] || 256), n);
    if (/^bytes\d+$/.test(type)) return "0x" + word;
    return null;
  }
  function decode(event, log) {
    const topics = Array.isArray(log.topics) ? log.topics : [];
    const data = typeof log.data === "string" ? log.data.slice(2) : "";
    const out = {};
    let t = 1, w = 0;
    for (const input of event.inputs) {
      if (input.indexed) { out[input.name] = value(input.type, String(topics[t++] ?? "").slice(2)); continue; }
      const word = data.slice(64 * w, 64 * w + 64);
      w++;
      if (input.type === "bytes" || input.type === "string" || input.type.endsWith("]")) {
        const at = Number(value("uint256", word) ?? -1n) * 2;
        const length = value("uint256", data.slice(at, at + 64));
        out[input.name] = length === null ? null : `${length} bytes`;
      } else out[input.name] = value(input.type, word);
    }
    return out;
  }
  const amount = (n) => (typeof n === "bigint" ? X.ether(n).replace(" POQW", "") : "—");
  // ISolverRegistry.Offence, in the contract's order
  const OFFENCES = ["energy above the claim", "never revealed", "claim below the true energy"];
  const offence = (n) => (typeof n === "bigint" && n < BigInt(OFFENCES.length) ? OFFENCES[Number(n)] : `offence ${n}`);
  const text = (v) => (v === null || v === undefined ? "—" : String(v));

  // --- page -------------------------------------------------------------------------------
  function form(address) {
    const input = h("input", { id: "market-address", type: "text", spellcheck: "false", value: address || "",
      placeholder: "Market contract address (0x + 40 hex digits), from RUN_DIR/market.json" });
    return h("form", { id: "market-form", autocomplete: "off", onsubmit: (event) => {
      event.preventDefault();
      const a = input.value.trim();
      if (X.ADDRESS.test(a)) location.hash = `#/market/${a}`;
      else show(form(a), h("div", { class: "error", role: "alert" }, `Not an address: ${quoted(a)}`));
    } }, input, h("button", { type: "submit" }, "Show"));
  }

  async function marketPage(token, address) {
    if (!address) {
      const info = await X.rpc("poqw_nodeInfo").catch(() => null);
      if (token !== X.current()) return;
      if (info && X.ADDRESS.test(String(info.marketAddress))) { // the node's configured market
        location.replace(`#/market/${info.marketAddress}`);
        return;
      }
      let remembered = null;
      try { remembered = localStorage.getItem(STORE); } catch (e) { /* storage off */ }
      show(h("h1", {}, "Problem market"), form(remembered && X.ADDRESS.test(remembered) ? remembered : ""),
        h("p", { class: "muted" }, "The market is a contract: give its address to list its problems "
          + "(a node started with --market-address, or market_address in [global], opens it here)."));
      return;
    }
    if (!X.ADDRESS.test(address)) throw new Error(`Not a market address (0x and 40 hex digits): ${quoted(address)}`);
    const { events } = await loadSpec();
    const [tipHex, code] = await X.batch([["eth_blockNumber", []], ["eth_getCode", [address, "latest"]]]);
    if (X.failed(tipHex)) throw tipHex instanceof Error ? tipHex : new Error("no chain height");
    if (typeof code !== "string" || code.length <= 2) throw new Error(`No contract at ${address} on this node.`);
    const tip = num(tipHex);
    const calls = [];
    for (let from = 0; from <= tip; from += RANGE)
      calls.push(["eth_getLogs", [{ address, fromBlock: hexQ(from), toBlock: hexQ(Math.min(tip, from + RANGE - 1)) }]]);
    const answers = await X.batch(calls);
    const bad = answers.find((a) => a instanceof Error);
    if (bad) throw bad;
    const latest = await X.rpc("eth_getBlockByNumber", [hexQ(tip), false]);
    if (token !== X.current()) return;
    try { localStorage.setItem(STORE, address); } catch (e) { /* storage off */ }
    const byTopic = new Map(Object.entries(events).map(([name, e]) => [String(e.topic).toLowerCase(), [name, e]]));
    const problems = new Map();
    const problem = (id) => {
      const key = String(id);
      if (!problems.has(key)) problems.set(key, { id: key, posted: null, end: null, commits: [], reveals: [], reports: [] });
      return problems.get(key);
    };
    for (const log of answers.flat()) {
      const found = byTopic.get(String((log.topics || [])[0]).toLowerCase());
      if (!found) continue;
      const [name, event] = found;
      const args = decode(event, log);
      if (args.problemId === undefined || args.problemId === null) continue; // Withdrawn: not per problem
      const entry = { name, args, tx: log.transactionHash, block: num(log.blockNumber) };
      const p = problem(args.problemId);
      if (name === "ProblemPosted") p.posted = entry;
      else if (name === "Committed") p.commits.push(entry);
      else if (name === "Revealed") p.reveals.push(entry);
      else if (name === "SolverReported") p.reports.push(entry);
      else p.end = entry;
    }
    const now = latest ? num(latest.timestamp) : null;
    const list = [...problems.values()].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    const statusOf = (p) => {
      if (p.end) return { ProblemSettled: "settled", ProblemRefunded: "refunded", ProblemCancelled: "cancelled" }[p.end.name];
      const a = p.posted && p.posted.args;
      if (a && now !== null && now >= Number(a.revealDeadline)) return "awaiting settlement";
      if (a && now !== null && now >= Number(a.commitDeadline)) return "revealing";
      return "open";
    };
    const rows = list.map((p) => {
      const a = p.posted ? p.posted.args : {};
      const settled = p.end && p.end.name === "ProblemSettled" ? p.end.args : null;
      return [h("a", { href: `#/market/${address}/${p.id}` }, p.id), addressLink(a.customer), amount(a.bounty),
        text(a.targetEnergy), a.commitDeadline === undefined ? "—" : isoTime(Number(a.commitDeadline)),
        h("span", { class: "pill status" }, statusOf(p)), String(p.commits.length), String(p.reveals.length),
        settled ? addressLink(settled.winner) : "—", settled ? amount(settled.reward) : "—"];
    });
    const summary = card(`Problems (${list.length})`, rows.length
      ? table(["Id", "Customer", "Bounty", "Target energy", "Commit deadline", "Status", "Commits", "Reveals",
        "Winner", "Payout"], rows, [0, 2, 3, 6, 7, 9])
      : h("p", { class: "muted" }, "No problem posted on this market yet."));
    summary.id = "market-problems";
    const details = list.map((p) => {
      const a = p.posted ? p.posted.args : {};
      const endRows = p.end ? [[p.end.name.replace("Problem", ""), txLink(p.end.tx), blockLink(String(p.end.block)),
        p.end.name === "ProblemSettled"
          ? [addressLink(p.end.args.winner), ` gets ${amount(p.end.args.reward)} (energy ${text(p.end.args.energy)}, fee ${amount(p.end.args.fee)})`]
          : [addressLink(p.end.args.customer), ` gets back ${amount(p.end.args.amount)}`
            + (p.end.args.bestEnergy !== undefined ? ` (best energy ${text(p.end.args.bestEnergy)})` : "")]]] : [];
      const section = card(`Problem ${p.id}`, fields([
        ["Customer", addressLink(a.customer, a.customer)], ["Bounty", amount(a.bounty)],
        ["Target energy", text(a.targetEnergy)], ["Variables", text(a.numVariables)],
        ["Commit deadline", a.commitDeadline === undefined ? "—" : isoTime(Number(a.commitDeadline))],
        ["Reveal deadline", a.revealDeadline === undefined ? "—" : isoTime(Number(a.revealDeadline))],
        ["Status", statusOf(p)], p.posted ? ["Posted in", txLink(p.posted.tx)] : null,
      ]),
      h("h3", {}, "Commits"), p.commits.length ? table(["#", "Solver", "Claimed energy", "Transaction"],
        p.commits.map((c) => [text(c.args.index), addressLink(c.args.solver), text(c.args.claimedEnergy), txLink(c.tx)]), [0, 2], "commits")
        : h("p", { class: "muted" }, "None."),
      h("h3", {}, "Reveals"), p.reveals.length ? table(["Solver", "Energy", "Claimed", "Valid", "Transaction"],
        p.reveals.map((r) => [addressLink(r.args.solver), text(r.args.energy), text(r.args.claimedEnergy),
          r.args.valid ? h("span", { class: "ok" }, "valid") : h("span", { class: "fail" }, "invalid"), txLink(r.tx)]), [1, 2], "reveals")
        : h("p", { class: "muted" }, "None."),
      h("h3", {}, "Slashes"), p.reports.length ? table(["Solver", "Reporter", "Offence", "Slashed", "Transaction"],
        p.reports.map((r) => [addressLink(r.args.solver), addressLink(r.args.reporter), offence(r.args.offence),
          amount(r.args.slashed), txLink(r.tx)]), [2, 3], "slashes")
        : h("p", { class: "muted" }, "None."),
      h("h3", {}, "Payout"), endRows.length ? table(["Outcome", "Transaction", "Block", "Paid"], endRows, [2], "payouts")
        : h("p", { class: "muted" }, "Not settled yet."));
      section.id = `problem-${p.id}`;
      section.className = "card problem";
      return section;
    });
    show(h("h1", {}, "Problem market ", h("span", { class: "hash title" }, address)), form(address),
      h("p", { class: "muted" }, `Read from the contract's event logs up to block ${tip}; amounts in the market's token.`),
      summary, ...details);
  }

  X.page("market", async (token, arg) => {
    const [address, id] = arg.split("/");
    await marketPage(token, address || "");
    if (id && token === X.current()) {
      const target = document.getElementById(`problem-${id}`);
      if (target) target.scrollIntoView();
    }
  });
})();
