//! The console's static assets, embedded in the binary: one stylesheet (readable on a laptop
//! and a phone, visible keyboard focus) and a few lines of JavaScript (select-all for bulk
//! actions, and reloading a profile page while its job runs). Pages work without the script.

use axum::http::header;
use axum::response::IntoResponse;

const CSS: &str = r#"
:root { --fg:#1b1f24; --muted:#57606a; --bg:#fff; --line:#d0d7de; --accent:#0b5cad; --bad:#b3261e; --ok:#1a7f37; --soft:#f6f8fa; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
a { color:var(--accent); }
a:focus, button:focus, input:focus, select:focus, summary:focus { outline:3px solid #f0a500; outline-offset:2px; }
.skip { position:absolute; left:-999px; } .skip:focus { left:8px; top:8px; background:#fff; padding:4px; z-index:9; }
header.top { display:flex; flex-wrap:wrap; align-items:center; gap:12px; padding:8px 16px; border-bottom:1px solid var(--line); background:var(--soft); }
.brand { font-weight:700; font-size:20px; text-decoration:none; color:var(--fg); }
nav ul { display:flex; flex-wrap:wrap; gap:4px 14px; list-style:none; margin:0; padding:0; }
nav a[aria-current=page] { font-weight:700; color:var(--fg); }
.signout { margin-left:auto; display:flex; gap:8px; align-items:center; }
.who { color:var(--muted); font-size:13px; }
main { padding:16px; max-width:1200px; }
h1 { font-size:22px; margin:8px 0 12px; } h2 { font-size:18px; margin:20px 0 8px; }
table { border-collapse:collapse; width:100%; margin:8px 0 16px; font-size:14px; }
th, td { border-bottom:1px solid var(--line); padding:6px 8px; text-align:left; vertical-align:top; }
th { background:var(--soft); } td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.table-wrap { overflow-x:auto; }
form.filters { display:flex; flex-wrap:wrap; gap:8px 16px; align-items:flex-end; margin:8px 0; }
form.filters label, form.stack label { display:block; font-size:13px; color:var(--muted); }
input, select, button { font:inherit; padding:5px 8px; border:1px solid var(--line); border-radius:4px; }
button { background:var(--accent); color:#fff; border-color:var(--accent); cursor:pointer; }
button.secondary { background:#fff; color:var(--accent); }
button.danger { background:var(--bad); border-color:var(--bad); }
.actions { display:flex; flex-wrap:wrap; gap:8px; margin:8px 0; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(180px, 1fr)); gap:12px; margin:8px 0 16px; }
.card { border:1px solid var(--line); border-radius:6px; padding:10px 12px; }
.card .big { font-size:22px; font-weight:700; }
.card .label { color:var(--muted); font-size:13px; }
.status-ok { color:var(--ok); font-weight:600; } .status-bad { color:var(--bad); font-weight:600; }
.notice { background:#e8f3ff; border:1px solid #9cc7f0; padding:8px 12px; border-radius:4px; }
.error { color:var(--bad); } div.error { border:1px solid var(--bad); padding:12px 16px; border-radius:6px; }
.hint { color:var(--muted); font-size:13px; }
.signin { max-width:420px; } .signin fieldset { border:1px solid var(--line); margin:0 0 12px; }
.signin label { display:block; margin-top:8px; } .signin input { width:100%; }
.answer { max-width:560px; } .answer .choices { display:flex; gap:12px; flex-wrap:wrap; }
svg.chart { width:100%; max-width:720px; height:auto; border:1px solid var(--line); border-radius:6px; background:#fff; }
.legend { display:flex; gap:16px; font-size:13px; color:var(--muted); }
.swatch { display:inline-block; width:12px; height:3px; vertical-align:middle; margin-right:4px; }
@media (max-width: 640px) { main { padding:8px; } th, td { padding:4px; } .signout { margin-left:0; } }
"#;

const JS: &str = r#"
document.addEventListener('DOMContentLoaded', function () {
  var all = document.getElementById('select-all');
  if (all) {
    all.addEventListener('change', function () {
      document.querySelectorAll('input[name=ids]').forEach(function (box) { box.checked = all.checked; });
    });
  }
  var live = document.querySelector('[data-live-reload]');
  if (live) {
    setTimeout(function () { window.location.reload(); }, parseInt(live.getAttribute('data-live-reload'), 10) || 2000);
  }
});
"#;

/// `GET /assets/console.css`.
pub async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
}

/// `GET /assets/console.js`.
pub async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        JS,
    )
}
