// The wallboard: the first snapshot comes with the page, every later one over server-sent events (EventSource
// reconnects by itself). Everything shown is set with textContent, never as HTML: caller numbers, names and
// reasons cannot become markup. Waits count up every second from the server's "since" times.
"use strict";
(function () {
  const texts = JSON.parse(document.getElementById("board-texts").textContent);
  let snap = JSON.parse(document.getElementById("board-snapshot").textContent);
  let skew = 0; // server clock minus ours, so waits are right on a wall screen with a wrong clock
  const live = document.getElementById("live");

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }
  function wait(since) {
    if (!since) return "";
    const s = Math.max(0, Math.round((Date.now() + skew - Date.parse(since)) / 1000));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }
  function level(day) { return day.service_level === null ? "–" : day.service_level + " %"; }
  function fill(id, rows) {
    const body = document.querySelector("#" + id + " tbody");
    body.replaceChildren(...rows);
  }
  function render() {
    document.getElementById("ami-down").hidden = snap.ami;
    fill("services", snap.services.map((s) => {
      const tr = document.createElement("tr");
      tr.dataset.queue = s.queue;
      cell(tr, s.name); cell(tr, s.waiting, "num waiting"); cell(tr, wait(s.longest_since), "num longest");
      cell(tr, s.day.calls, "num"); cell(tr, s.day.answered, "num"); cell(tr, level(s.day), "num");
      cell(tr, s.day.abandoned, "num");
      return tr;
    }).concat([(() => {
      // callers who chose an agent wait in that agent's own queue: their total, under the services
      const tr = document.createElement("tr");
      tr.dataset.queue = "own";
      cell(tr, texts.own_queues); cell(tr, snap.own_queues.waiting, "num waiting");
      cell(tr, wait(snap.own_queues.longest_since), "num longest");
      for (let i = 0; i < 4; i++) cell(tr, "");
      return tr;
    })()]));
    fill("agents", snap.agents.map((a) => {
      const tr = document.createElement("tr");
      tr.dataset.agent = a.id;
      cell(tr, a.id + " " + a.name);
      cell(tr, texts["state_" + a.state] + (a.reason ? " (" + a.reason + ")" : ""), "state state-" + a.state);
      cell(tr, a.score === null ? texts.new : a.score.toFixed(2), "num"); cell(tr, a.grade || "");
      cell(tr, a.ratings, "num"); cell(tr, a.waiting, "num waiting"); cell(tr, wait(a.longest_since), "num longest");
      cell(tr, a.answered, "num"); cell(tr, level(a.queue_day), "num");
      cell(tr, a.accepted, "num"); cell(tr, a.declined, "num");
      return tr;
    }));
    const states = Object.entries(snap.states).filter(([, n]) => n > 0)
      .map(([s, n]) => n + " " + texts["state_" + s]);
    document.getElementById("states").textContent = states.join(" · ") +
      (snap.more_agents > 0 ? " (" + texts.more.replace("{n}", snap.more_agents) + ")" : "");
    document.getElementById("ratings").replaceChildren(...snap.ratings.map((r) => {
      const li = document.createElement("li");
      const who = r.direction === "client_to_agent" ? texts.caller_to_agent : texts.agent_to_caller;
      const scores = Object.entries(r.scores).map(([k, v]) => k + " " + v).join(", ");
      const at = new Date(r.at);
      const lang = document.documentElement.lang;
      const when = at.toDateString() === new Date().toDateString() ? at.toLocaleTimeString(lang) : at.toLocaleString(lang);
      li.textContent = when + " · " + r.agent + " " + r.agent_name + " · " +
        r.caller + " · " + who + " · " + (texts[r.action] || r.action) + " · " + scores;
      return li;
    }));
  }
  function tick() {
    const rows = document.querySelectorAll("#services tbody tr, #agents tbody tr");
    const all = snap.services.concat([snap.own_queues], snap.agents);
    rows.forEach((tr, i) => { const w = tr.querySelector(".longest"); if (w && all[i]) w.textContent = wait(all[i].longest_since); });
  }
  function take(next) {
    const ratingsMoved = JSON.stringify(next.ratings) !== JSON.stringify(snap.ratings);
    snap = next;
    skew = Date.parse(snap.now || snap.at) - Date.now();
    document.getElementById("board").dataset.version = String(snap.version);
    render();
    if (ratingsMoved) document.getElementById("scores-chart").src = "/charts/scores.svg?v=" + snap.version;
  }
  take(snap);
  const events = new EventSource(document.getElementById("board").dataset.events);
  events.onopen = () => { live.textContent = live.dataset.live; };
  events.onerror = () => { live.textContent = live.dataset.reconnecting; };
  events.onmessage = (e) => take(JSON.parse(e.data));
  setInterval(tick, 1000);
})();
