// @ts-check
// Shows a loading progress event ({stage, loaded, total, file?, message?}) in a
// status line and a <progress> bar; returns the line's text. Shared by the pages.

export function showProgress(ev, stage, bar) {
  const what = ev.file ? `${ev.stage}: ${ev.file}` : ev.stage;
  stage.textContent = ev.message ? `${what} — ${ev.message}` : what;
  bar.max = ev.total || 1;
  bar.value = ev.loaded || 0;
  return what;
}
