// SkyClust's small behaviours on top of htmx. Loaded from a file (no inline script), so a strict CSP holds.
(function () {
  "use strict";

  var FRAGMENT_HEADER = "X-SkyClust-Fragment";

  function showMessage(level, text) {
    var box = document.getElementById("messages");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "message message-" + level;
    p.setAttribute("role", level === "error" ? "alert" : "status");
    var span = document.createElement("span");
    span.textContent = text;
    var dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "dismiss";
    dismiss.setAttribute("data-dismiss", "");
    dismiss.setAttribute("aria-label", "Dismiss message");
    dismiss.textContent = "\u00d7";
    p.appendChild(span);
    p.appendChild(dismiss);
    box.replaceChildren(p);
  }

  // A refusal (403, 409) or a cloud error (502) still carries the row in its true state and a message:
  // swap it. Other error answers (a proxy's page, a crash) are never swapped into the page.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var ours = !!detail.xhr.getResponseHeader(FRAGMENT_HEADER);
    if (!ours) return;
    if (detail.xhr.status >= 400) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
    // A live update can replace the row (and the button that sent this request) while the request is in
    // flight; htmx would then look for the out-of-band targets inside the detached row. Swap against the page.
    var source = detail.requestConfig && detail.requestConfig.elt;
    if (detail.shouldSwap && source && !source.isConnected) {
      detail.shouldSwap = false;
      htmx.swap(document.body, detail.serverResponse, { swapStyle: "none", swapDelay: 0, settleDelay: 20 });
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var text = status === 404 ? "Not found: it may have been deleted, or you are no longer a member."
      : status === 403 ? "Not allowed: your session or your role may have changed. Reload the page."
      : "The server could not complete that (HTTP " + status + "). Try again.";
    showMessage("error", text);
  });

  document.addEventListener("htmx:sendError", function () {
    showMessage("error", "SkyClust could not be reached. Check the connection and try again.");
  });

  // Keep a row's bulk selection when a live update replaces the row.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.classList || !target.classList.contains("vm-row")) return;
    var box = target.querySelector("input.row-select");
    if (!box || !box.checked) return;
    var fragment = event.detail.fragment;
    var fresh = fragment && fragment.querySelector ? fragment.querySelector("input.row-select") : null;
    if (fresh) fresh.checked = true;
  });

  // Live indicator, driven by the ws extension's events.
  function setLive(state, text) {
    var indicator = document.getElementById("live-status");
    if (!indicator) return;
    indicator.setAttribute("data-state", state);
    indicator.textContent = text;
  }
  document.addEventListener("htmx:wsConnecting", function () { setLive("connecting", "Connecting\u2026"); });
  document.addEventListener("htmx:wsOpen", function () { setLive("live", "Live"); });
  document.addEventListener("htmx:wsClose", function () { setLive("reconnecting", "Reconnecting\u2026"); });
  document.addEventListener("htmx:wsError", function () { setLive("reconnecting", "Reconnecting\u2026"); });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    if (target.closest("[data-dismiss]")) {
      var message = target.closest(".message");
      if (message) message.remove();
    } else if (target.closest("[data-remove-row]")) {
      var row = target.closest(".metadata-row");
      var rows = row ? row.parentElement : null;
      if (row) row.remove();
      var next = rows ? rows.querySelector("input") : null;
      if (next) next.focus();
    }
  });

  // Plain (non-htmx) forms that destroy something ask first; htmx forms use hx-confirm.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLInputElement) || !target.classList.contains("select-all")) return;
    document.querySelectorAll("input.row-select").forEach(function (box) { box.checked = target.checked; });
  });

  // "12 s ago" keeps counting between updates.
  function ago(seconds) {
    if (seconds >= 86400) return Math.floor(seconds / 86400) + " d ago";
    if (seconds >= 3600) return Math.floor(seconds / 3600) + " h ago";
    if (seconds >= 60) return Math.floor(seconds / 60) + " min ago";
    return Math.max(0, Math.floor(seconds)) + " s ago";
  }
  function refreshTimes() {
    var now = Date.now();
    document.querySelectorAll("time[data-relative]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(at)) el.textContent = ago((now - at) / 1000);
    });
  }
  setInterval(refreshTimes, 5000);
})();
