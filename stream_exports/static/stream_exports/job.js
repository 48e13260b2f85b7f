// Live job page: status from the SSE endpoint (EventSource), log from the
// plain-text endpoint (fetch + stream reader). No build step, no framework.
"use strict";
(function () {
  const root = document.getElementById("export-job");
  if (!root) return;
  const field = (name) => root.querySelector(`[data-field="${name}"]`);
  const number = new Intl.NumberFormat();

  function duration(seconds) {
    if (!isFinite(seconds) || seconds < 0) return "-";
    const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
    return m ? `${m} min ${s} s` : `${s} s`;
  }

  function render(job) {
    root.dataset.status = job.status;
    field("status").textContent = job.status;
    field("error").textContent = job.error || "";
    field("rows").textContent = number.format(job.rows);
    field("total").textContent = job.total == null ? "?" : number.format(job.total);
    field("size").textContent = `${(job.bytes / 1e6).toFixed(1)} MB`;
    const bar = field("bar");
    const done = job.status === "succeeded";
    bar.max = job.total || Math.max(job.rows, 1);
    bar.value = done ? bar.max : job.rows;
    field("percent").textContent = Math.floor((100 * bar.value) / bar.max);
    if (job.started_at) {
      const end = job.finished_at ? new Date(job.finished_at) : new Date();
      const elapsed = (end - new Date(job.started_at)) / 1000;
      const rate = elapsed > 0 ? job.rows / elapsed : 0;
      field("rate").textContent = rate ? `${number.format(Math.round(rate))} rows/s` : "-";
      const left = job.total && rate ? (job.total - job.rows) / rate : NaN;
      field("eta").textContent = job.finished_at ? "done" : duration(left);
    }
    const parts = job.partitions;
    field("partitions").textContent = parts
      ? `${parts.done} of ${parts.total} done (read ${job.consistency})`
      : "";
    field("partitions").hidden = field("partitions-label").hidden = !parts;
    const finished = ["succeeded", "failed", "cancelled"].includes(job.status);
    field("download").hidden = !done;
    field("cancel").hidden = finished;
    field("rerun").hidden = !(job.status === "failed" || job.status === "cancelled");
  }

  const events = new EventSource(root.dataset.events);
  events.addEventListener("progress", (e) => render(JSON.parse(e.data)));
  events.addEventListener("done", (e) => {
    render(JSON.parse(e.data));
    events.close();
  });

  async function followLog() {
    const log = field("log");
    const response = await fetch(root.dataset.log, { credentials: "same-origin" });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.append(value);
      if (atBottom) log.scrollTop = log.scrollHeight;
    }
  }
  followLog().catch((error) => field("log").append(`\n(log stream stopped: ${error})\n`));
})();
