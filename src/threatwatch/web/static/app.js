// Keyboard shortcuts for analysts; no inline script anywhere (strict CSP), no build step.
// Queue: j/k next/previous row, o or Enter open, c claim, 1-5 decide, e escalate (opens the item at
// its escalation form), x select for bulk dismissal.
// Item: 1-5 decide (threat, coercion, doxxing, abuse, none), c claim, e escalate.
"use strict";

(function () {
  function typing(event) {
    var el = event.target;
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("table.queue tr.entry"));
  }

  var current = -1;

  function select(index) {
    var all = rows();
    if (all.length === 0) return;
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (row, i) {
      row.classList.toggle("selected", i === current);
      row.setAttribute("aria-selected", i === current ? "true" : "false");
    });
    all[current].scrollIntoView({ block: "nearest" });
  }

  function selectedRow() {
    var all = rows();
    return current >= 0 && current < all.length ? all[current] : null;
  }

  function submit(form, button) {
    if (!form) return;
    if (form.requestSubmit) form.requestSubmit(button || undefined);
    else form.submit();
  }

  // One hidden form serves every row: point it at the row's item, set the label, come back here.
  function decideRow(row, number) {
    var form = document.getElementById("row-decide");
    if (!form) return;
    var labels = form.getAttribute("data-labels").split(" ");
    form.querySelector("input[name=label]").value = labels[number - 1];
    form.action = "/items/" + encodeURIComponent(row.getAttribute("data-item-id")) + "/decide?next=" +
      encodeURIComponent(window.location.pathname + window.location.search);
    submit(form);
  }

  function onQueueKey(key) {
    var row = selectedRow();
    if (key === "j") select(current + 1);
    else if (key === "k") select(current - 1);
    else if ((key === "o" || key === "Enter") && row) window.location.assign(row.getAttribute("data-href"));
    else if (key === "c" && row) submit(row.querySelector("form.claim"));
    else if (/^[1-5]$/.test(key) && row) decideRow(row, Number(key));
    else if (key === "e" && row) window.location.assign(row.getAttribute("data-href") + "#escalate");
    else if (key === "x" && row) {
      var box = row.querySelector("input[type=checkbox]");
      if (box) box.checked = !box.checked;
    } else return false;
    return true;
  }

  function onItemKey(key) {
    var decide = document.getElementById("decide-form");
    if (/^[1-5]$/.test(key) && decide) {
      submit(decide, decide.querySelector('button[data-key="' + key + '"]'));
    } else if (key === "c" && document.getElementById("claim-form")) {
      submit(document.getElementById("claim-form"));
    } else if (key === "e" && document.getElementById("urgency")) {
      var urgency = document.getElementById("urgency");
      urgency.scrollIntoView({ block: "center" });
      urgency.focus();
    } else return false;
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
    var handled = document.querySelector("article.item") ? onItemKey(event.key) : onQueueKey(event.key);
    if (handled) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.body.classList.add("js");
    var urgency = document.getElementById("urgency");
    if (window.location.hash === "#escalate" && urgency) {
      urgency.scrollIntoView({ block: "center" });
      urgency.focus();
    }
  });
})();
