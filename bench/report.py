"""The Markdown table of bench/results/latest.md."""

from __future__ import annotations

from typing import Any


def fmt(s: dict[str, Any] | None, unit: str = "s") -> str:
    if not s or not s.get("n"):
        return "–"
    if s["n"] == 1:
        return f"{s['median']:.2f} {unit}"
    return f"{s['median']:.2f} {unit} ({s['min']:.2f}–{s['max']:.2f}, n={s['n']})"


FRESH = " (fresh process, `--no-warm`)"


def side_by_side_rows(part: dict[str, Any], prefix: str, labels: tuple[str, str, str],
                      goals: dict[tuple[int, str], str] | None = None) -> list[str]:
    """Table rows of bench_build.side_by_side results: keys ``<prefix><posts>``; *goals*:
    (posts, measure) -> the issue's goal for that row."""
    rows = []
    for key in sorted((k for k in part if k.startswith(prefix)),
                      key=lambda k: int(k.removeprefix(prefix))):
        c, posts = part[key], int(key.removeprefix(prefix))
        jb_of = {"noop_fresh": "noop", "edit_one_fresh": "edit_one"}
        names = dict(zip(("cold", "noop", "edit_one"), labels, strict=True))
        names.update(noop_fresh=labels[1] + FRESH, edit_one_fresh=labels[2] + FRESH)
        for measure, label in names.items():
            if measure not in c["publish"]:
                continue
            goal = (goals or {}).get((posts, measure), "")
            rows.append(f"| {posts} | {label} | {fmt(c['publish'][measure])} | "
                        f"{fmt(c['jupyter_book'][jb_of.get(measure, measure)])} | "
                        f"{c['ratio'][measure]:.2f}× | {goal} |")
    return rows


def mb(s: dict[str, Any] | None) -> str:
    """Bytes as MB or kB (median; the spread when there were several runs)."""
    if not s or not s.get("n"):
        return "–"
    div, unit = (1e6, "MB") if s["median"] >= 1_000_000 else (1e3, "kB")
    return fmt({k: v / div if isinstance(v, float) else v for k, v in s.items()}, unit)


# (row, part, measure, goal)
NETWORK_TIMES = (
    ("post page: load event", "post_page", "load_s", "≤ 1.5 s"),
    ("post page: LCP", "post_page", "lcp_s", ""),
    ("Launch → JupyterLab's page asked for (session ready)", "launch",
     "click_to_session_page_s", ""),
    ("Launch → notebook visible", "launch", "click_to_notebook_s", "≤ 4 s"),
    ("Launch: JupyterLab's page asked for → notebook visible", "launch", "page_to_notebook_s",
     "≤ Jupyter Server's own"),
    ("Launch → typed cell's output", "launch", "click_to_typed_output_s", "≤ 5 s"),
    ("Run code here → ready", "live", "click_to_ready_s", ""),
    ("Run code here → first output", "live", "click_to_first_output_s", ""),
    ("pool: Launch → JupyterLab's page asked for", "launch_pool", "click_to_session_page_s",
     ""),
    ("pool: Launch → notebook visible", "launch_pool", "click_to_notebook_s", "≤ 2.5 s"),
    ("pool: Launch → typed cell's output", "launch_pool", "click_to_typed_output_s", ""),
    ("pool: Run code here → first output", "live_pool", "click_to_first_output_s",
     "≤ 1.5 s"),
    ("Jupyter Server's own JupyterLab (same image): page → notebook visible", "direct_lab",
     "to_notebook_s", ""),
    ("Jupyter Book 1 page of the post: load event", "jupyter_book", "load_s", ""),
    ("Jupyter Book 1 page of the post: LCP", "jupyter_book", "lcp_s", ""),
)
NETWORK_BYTES = (
    ("post page, at its load event", "post_page", "bytes_at_load", "≤ 1 MB"),
    ("post page, once idle", "post_page", "bytes_idle", ""),
    ("Launch → notebook visible", "launch", "bytes_to_notebook", ""),
    ("Launch, once idle after the typed output", "launch", "bytes_idle", ""),
    ("Run code here → ready", "live", "bytes_to_ready", ""),
    ("Run code here, once idle after the first output", "live", "bytes_idle", ""),
    ("pool: Launch → notebook visible", "launch_pool", "bytes_to_notebook", ""),
    ("Jupyter Server's own JupyterLab → notebook visible", "direct_lab", "bytes_to_notebook",
     ""),
    ("Jupyter Server's own JupyterLab, once idle", "direct_lab", "bytes_idle", ""),
    ("Jupyter Book 1 page, at its load event", "jupyter_book", "bytes_at_load", ""),
    ("Jupyter Book 1 page, once idle", "jupyter_book", "bytes_idle", ""),
)


def network_lines(net: dict[str, Any]) -> list[str]:
    if not net or "error" in net:
        return []
    lines = [f"## On a real connection (Chromium throttled: {net['throttle']})", "",
             "Cold: a fresh browser context; warm: the same context, a second visit. Site "
             f"served by {net['server']}; docker backend, image cached. Launch and Run code "
             "here are timed from the click, on a post page already loaded; their bytes "
             "count from the click. The launcher has served a reader before (JupyterLab's "
             "files copied from the image, its start-up files known); pool: two sessions "
             "per env started ahead. Bytes: what came over the wire (CDP encodedDataLength; "
             "WebSocket frames not counted); once idle: nothing more for 5 s (prefetches).",
             "", "| measure | cold | warm | goal |", "| --- | --- | --- | --- |"]
    for rows, show in ((NETWORK_TIMES, fmt), (NETWORK_BYTES, mb)):
        if rows is NETWORK_BYTES:
            lines += ["", "| bytes on the wire | cold | warm | goal |",
                      "| --- | --- | --- | --- |"]
        for label, part, key, goal in rows:
            p = net.get(part)
            if not p or "error" in p:
                continue
            lines.append(f"| {label} | {show(p['cold'].get(key))} | "
                         f"{show(p['warm'].get(key))} | {goal} |")
    jb = net.get("jupyter_book", {})
    if "error" in jb:
        lines += ["", f"Jupyter Book 1 page: not measured ({jb['error']})."]
    elif jb.get("venv_install_s"):
        lines += ["", f"(`jupyter-book<2` installed into its own venv in "
                  f"{jb['venv_install_s']:.0f} s; its notebook executed by Jupyter Book.)"]
    return [*lines, ""]


def markdown(r: dict[str, Any]) -> str:
    m = r.get("machine", {})
    lines = [
        "# Benchmarks",
        "",
        f"Run {r.get('date', '?')} on {m.get('os', '?')}, {m.get('cores')} cores "
        f"({m.get('cpu', '?')}), {m.get('memory_gib')} GiB, Docker {m.get('docker')}, "
        f"Python {m.get('python')}. Figures: median (min–max, runs). Produced by `make bench`.",
        "",
    ]
    b = r.get("build", {})
    if b and "error" not in b:
        lines += ["## Site builds: publish vs Jupyter Book 1", "",
                  "Same generated posts (markdown, math, numpy code, a matplotlib figure each); "
                  "both execute every notebook (publish: `-j 2`, local backend, env venv "
                  "pre-built; Jupyter Book: `execute_notebooks: cache`, its venv pre-built). "
                  "publish's cold build starts with no warm build process; its later builds "
                  "run as by default, in the warm process the cold build started (three "
                  "edits after each cold build, the first right after it), and once more "
                  "as fresh processes.", "",
                  "| posts | measure | publish | Jupyter Book 1 | ratio | goal |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += side_by_side_rows(b, "vs_jupyter_book_", (
            "cold build", "no-op rebuild", "one-post code edit"), {
                (100, "cold"): "≤ 0.5×", (20, "edit_one"): "≤ 0.5×",
                (100, "edit_one"): "≤ 0.5×, within 10% of 20 posts"})
        s = b.get("sample_site", {})
        lines += ["", "sample_site (`publish build sample_site -j 2`, default backend): "
                  f"cold (execute + render) {fmt(s.get('cold_execute_render'))}; "
                  f"warm no-op {fmt(s.get('warm_noop'))}.", ""]
    scale = r.get("scale", {})
    if scale and "error" not in scale:
        lines += ["## Render only, at scale: publish vs Jupyter Book 1", "",
                  "Same generated posts, neither tool executing (publish `--execute off`, "
                  "Jupyter Book `execute_notebooks: off`); the edit changes one post's prose "
                  "(three edits after each cold build, as above).",
                  "", "| posts | measure | publish | Jupyter Book 1 | ratio | goal |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += side_by_side_rows(scale, "render_", (
            "cold render", "no-op rebuild", "one-post prose edit"), {
                (500, "noop"): "≤ 0.3 s", (500, "edit_one"): "≤ 0.5×"})
        lines.append("")
    live = r.get("live", {})
    if live and "error" not in live:
        lines += ["## Live code in the page (Chromium, static site + launcher on another origin)",
                  "", "| measure | median | p95 | runs | goal |", "| --- | --- | --- | --- | --- |"]
        for label, s, goal in (
                ("Run code here → ready (cached image)", live["cached"]["click_to_ready"], ""),
                ("Run code here → first output (cached image)",
                 live["cached"]["click_to_first_output"], "≤ 1.5 s"),
                ("Run code here → ready (pool = 2)", live["pooled"]["click_to_ready"], ""),
                ("Run code here → first output (pool = 2)",
                 live["pooled"]["click_to_first_output"], "≤ 0.5 s")):
            lines.append(f"| {label} | {s['median']:.3f} s | {s['p95']:.3f} s | {s['n']} | "
                         f"{goal} |")
        for key, label in (("cached", "cached image"), ("pooled", "pool = 2")):
            part = live[key]
            if part.get("click_to_launched", {}).get("n"):
                lines.append(f"\nWhere the time goes ({label}, medians): thebe loaded "
                             f"{part['click_to_thebe_loaded']['median']:.3f} s, launcher "
                             f"ready {part['click_to_launched']['median']:.3f} s, kernel "
                             f"attached {part['click_to_ready']['median']:.3f} s after the click.")
        lines.append("")
    lines += network_lines(r.get("network", {}))
    launch = r.get("launch", {})
    if launch and "error" not in launch:
        c, p, base = launch["cached"], launch["pooled"], launch["baseline"]
        px = launch["proxy"]
        lines += ["## Launches (docker backend, image cached)", "",
                  "| measure | median | p95 | runs |", "| --- | --- | --- | --- |"]
        for label, s in (("badge → ready (cached image)", c["click_to_ready"]),
                         ("badge → first kernel execute (cached)", c["click_to_first_execute"]),
                         ("badge → ready (pool = 2)", p["click_to_ready"]),
                         ("badge → first kernel execute (pool = 2)", p["click_to_first_execute"]),
                         ("baseline: `docker run` → Jupyter answers", base["docker_run_to_answer"]),
                         ("kernel execute round trip via proxy", px["execute_round_trip_proxied"]),
                         ("kernel execute round trip direct (socket)",
                          px["execute_round_trip_direct"])):
            lines.append(f"| {label} | {s['median']:.3f} s | {s['p95']:.3f} s | {s['n']} |")
        lines += ["", f"Proxy overhead: ratio of medians {px['ratio_of_medians']:.2f}× "
                  "(target ≤ 1.2×)."]
        sa = px.get("static_asset")
        if sa:
            lines.append(f"Static JupyterLab asset ({sa['bytes'] // 1000} kB): "
                         f"{sa['proxied_req_per_s']:.0f} req/s through the proxy "
                         f"({sa['proxied_mb_per_s']:.0f} MB/s) vs {sa['direct_req_per_s']:.0f} "
                         "req/s direct.")
        cc = launch.get("concurrency", {})
        if cc:
            lines += ["", f"Concurrency: {cc['launches']} simultaneous launches of a post whose "
                      f"image did not exist → {cc['builds']:.0f} build(s), {cc['ready']} ready, "
                      f"all ready after {cc['seconds_until_all_ready']:.1f} s. With "
                      f"{cc['live_sessions']} live sessions: launcher RSS "
                      f"{cc['launcher_rss_mb']:.0f} MB, containers "
                      f"{cc['containers_memory_mb']:.0f} MB in total."]
        lines.append("")
    envs = r.get("envs", {})
    if envs and "error" not in envs:
        lines += ["## Environment images", "",
                  f"- runtime image, no cache: {fmt(envs['runtime_cold'])}",
                  f"- small requirements.txt env, runtime cached: "
                  f"{fmt(envs['small_requirements_env'])}",
                  f"- `publish env build sample_site`, nothing changed: "
                  f"{fmt(envs['noop_env_build_sample_site'])}",
                  "- image sizes: " + ", ".join(f"{k} {v} MB"
                                                for k, v in envs["image_sizes_mb"].items()), ""]
    serve = r.get("serve", {})
    if serve and "error" not in serve:
        lines += ["## publish serve (sample_site)", "",
                  f"- save → reload signal, text edit: "
                  f"{fmt(serve['save_to_reload_signal_text_edit'])}",
                  f"- save → reload signal, code edit (re-executes the post): "
                  f"{fmt(serve['save_to_reload_signal_code_edit'])}",
                  f"- no-op rebuild: {fmt(serve['noop_rebuild'])}"]
        many = serve.get("posts_100")
        if many:
            lines.append(f"- {many['posts']} generated posts, save → reload signal, text edit: "
                         f"{fmt(many['save_to_reload_signal_text_edit'])} (goal ≤ 0.3 s)")
        lines.append("")
    crowd = r.get("crowd", {})
    if crowd and "error" not in crowd:
        lines += crowd_lines(crowd)
    for part in ("build", "launch", "network", "envs", "serve", "crowd"):
        if isinstance(r.get(part), dict) and "error" in r[part]:
            lines.append(f"- {part}: failed to run: {r[part]['error']}")
    return "\n".join(lines) + "\n"


def _p(s: dict[str, Any] | None, scale: float = 1.0, unit: str = "s", digits: int = 1) -> str:
    if not s or not s.get("n"):
        return "–"
    return f"{s['median'] * scale:.{digits}f} / {s['p95'] * scale:.{digits}f} {unit}"


def crowd_lines(c: dict[str, Any]) -> list[str]:
    """The crowd part: the launcher as configured by default beside a fixed admission."""
    new, old, slow = c.get("measured", {}), c.get("fixed", {}), c.get("measured_slower", {})
    pool = c.get("pooled", {})

    def outcome(run: dict[str, Any]) -> str:
        o = run.get("outcomes", {})
        return (f"{o.get('served', 0)} of {run.get('readers', '?')} "
                f"({100 * run.get('served_share', 0):.0f} %); try again "
                f"{o.get('try_again', 0)}, overflow {o.get('overflow', 0)}, "
                f"errors {o.get('error', 0)}")

    def mem(run: dict[str, Any]) -> str:
        m = run.get("memory", {})
        per = m.get("per_session_mb", {})
        parts = ", ".join(f"{k} {v:.0f}" for k, v in m.get("one_session_rss_mb", {}).items())
        return (f"{per.get('median', 0):.0f} MB ({m.get('containers', 0)} measured; "
                f"RSS of one: {parts} MB, shared pages counted in each)") if per.get("n") else "–"

    def rt(run: dict[str, Any]) -> str:
        p = run.get("proxy", {})
        if "round_trip" not in p:
            return f"– ({p.get('error', 'not measured')[:60]})"
        return f"{_p(p['round_trip'], 1000, 'ms')} with {p.get('live_sessions')} live"

    rows = [
        ("readers served a session (not overflow)", outcome, "≥ 95 % of 200, 0 errors"),
        ("queued, then served", lambda r: f"{r.get('queued_then_served', 0)} (longest line "
         f"{r.get('peak_waiting', 0)})", ""),
        ("click → ready, p50 / p95", lambda r: _p(r.get("click_to_ready")), ""),
        ("click → first output, p50 / p95 (queued included)",
         lambda r: _p(r.get("click_to_first_output")), "≤ 2 s / ≤ 10 s"),
        ("sessions handed out per second (first click → last ready)",
         lambda r: f"{r['ready_per_s']:.2f}" if "ready_per_s" in r else "–", ""),
        ("cell round trip (3 cells each), p50 / p95",
         lambda r: _p(r.get("cell_round_trip"), 1000, "ms", 0), ""),
        ("concurrent live sessions reached", lambda r: str(r.get("peak_live_sessions")),
         "≥ 150 on 24 GiB"),
        ("memory per idle session (cgroup)", mem, "≤ 120 MB"),
        ("proxy kernel round trip p50 / p95", rt, "p95 ≤ 10 ms with 150 live"),
        ("launcher RSS peak", lambda r: f"{r.get('launcher_rss_mb_peak', 0):.0f} MB",
         "≤ 300 MB"),
        ("launcher CPU peak / mean (of one core)",
         lambda r: f"{r.get('launcher_cpu_percent_peak', 0):.0f} % / "
         f"{r.get('launcher_cpu_percent_mean', 0):.0f} %", "report"),
        ("run time", lambda r: f"{r.get('seconds', 0):.0f} s", ""),
    ]
    lines = ["## A crowd on one server (docker backend, image cached)", "",
             f"{new.get('readers', '?')} readers arriving at random over "
             f"{new.get('arrivals_s', '?'):.0f} s, each from its own loopback address: the "
             "launch stream until ready (or a place in line), 3 cells over the notebook "
             "kernel's WebSocket, JupyterLab's page and 4 of its files, then idle with the "
             "kernel connected for 30–300 s (half of them) or gone at once. Load generator, "
             "launcher, Docker and every session share the 2 cores. "
             "`BENCH_ONLY=crowd make bench`.", ""]
    columns = [(f"default: `{new.get('options', '')}`", new),
               (f"baseline, fixed admission: `{old.get('options', '')}`", old),
               (f"default, arrivals over {slow.get('arrivals_s', 0):.0f} s", slow),
               (f"pool started ahead: `{pool.get('options', '')}` (full in "
                f"{pool.get('pool_filled_s', 0):.0f} s)", pool)]
    columns = [(head, run) for head, run in columns if run]
    lines += ["| figure | " + " | ".join(h for h, _ in columns) + " | goal (over 60 s) |",
              "| --- |" + " --- |" * (len(columns) + 1)]
    for label, f, goal in rows:
        lines.append(f"| {label} | " + " | ".join(f(run) for _, run in columns) +
                     f" | {goal} |")
    for name, run in (("default", new), ("baseline", old), ("slower arrivals", slow),
                      ("pool", pool)):
        if run.get("errors"):
            lines.append(f"\nErrors ({name}): " + "; ".join(run["errors"][:5]))
    return [*lines, ""]
