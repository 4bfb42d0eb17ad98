"""axe-core in a real Chromium: the WCAG 2.x A/AA checks of a page as a reader sees it.

axe-core is fetched once by name and version from the npm registry, its integrity checked
(the build's own path for thebe and MathJax: publisher.pipeline.npm), and put into every
frame of the page by Playwright. Each checked state leaves its screenshot and axe's whole
answer in test-artifacts/browser/ (a11y-<state>.png, a11y-<state>.json).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from publisher.pipeline import npm
from tests.conftest import ROOT

AXE = npm.Package(
    "axe-core", "4.14.1",
    "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
    folder=".", main="axe.min.js", keep=("axe.min.js",))
WCAG = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
BLOCKING = ("serious", "critical")
ARTIFACTS = ROOT / "test-artifacts" / "browser"

# every rule of the WCAG 2.0-2.2 A and AA tags; the answer as plain JSON (axe's nodes hold
# no DOM references, but the copy makes that certain)
RUN = """async (tags) => {
    const results = await axe.run(document, {
        runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
    return JSON.parse(JSON.stringify(results));
}"""


# axe measures contrast against the backgrounds the page's elements state, white where none
# does; a page that leaves its background to the browser (`color-scheme: light dark` and
# nothing more) is dark in dark mode, and axe's contrast answers for it are not the reader's
MEASURABLE = """() => {
    const own = [document.documentElement, document.body].some(e => e &&
        !/^(transparent|rgba\\(0, 0, 0, 0\\))$/.test(getComputedStyle(e).backgroundColor));
    const scheme = getComputedStyle(document.documentElement).colorScheme || 'normal';
    return own || !(matchMedia('(prefers-color-scheme: dark)').matches
                    && scheme.includes('dark'));
}"""
UNMEASURABLE = {
    "id": "page-background", "impact": "serious",
    "help": "In dark mode the page's background is the browser's (color-scheme), not its "
            "own: axe measures contrast against white. Give html or body a background.",
    "nodes": [{"target": ["html"]}]}


@functools.cache
def axe_source() -> str:
    """axe.min.js of the pinned release (fetched into the cache on first use)."""
    return (npm.fetch(AXE) / AXE.main).read_text(encoding="utf-8")


def audit(page: Any) -> dict[str, Any]:
    """axe's results for the page as it is now. The script is added to every frame (axe
    asks each frame for its part); a page whose Content-Security-Policy forbids it needs a
    browser context made with ``bypass_csp=True``."""
    source = axe_source()
    for frame in page.frames:
        if frame.is_detached():
            continue
        if not frame.evaluate("() => typeof window.axe === 'object'"):
            frame.add_script_tag(content=source)
    results: dict[str, Any] = page.evaluate(RUN, list(WCAG))
    if not page.evaluate(MEASURABLE):
        results["violations"].append(UNMEASURABLE)
    return results


def blocking(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The violations of impact serious or critical."""
    return [v for v in results.get("violations", []) if v.get("impact") in BLOCKING]


def target(node: dict[str, Any]) -> str:
    """A node's selector; inside frames or shadow roots, its selectors joined by ' >>> '."""
    parts = node.get("target") or []
    return " >>> ".join(p if isinstance(p, str) else " ".join(p) for p in parts)


def describe(violations: list[dict[str, Any]], examples: int = 3) -> str:
    """One line per violation: rule, impact, node count, help, a few targets."""
    lines = []
    for v in violations:
        nodes = v.get("nodes", [])
        shown = ", ".join(target(n) for n in nodes[:examples])
        more = f" (+{len(nodes) - examples} more)" if len(nodes) > examples else ""
        lines.append(f"  {v['id']} [{v.get('impact')}] x{len(nodes)}: {v.get('help')}"
                     f" -- {shown}{more}")
    return "\n".join(lines)


def record(page: Any, state: str, results: dict[str, Any] | None = None) -> None:
    """The state's screenshot (whole page) and, when given, axe's results."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if results is not None:
        (ARTIFACTS / f"a11y-{state}.json").write_text(json.dumps(results, indent=1))
    page.screenshot(path=str(ARTIFACTS / f"a11y-{state}.png"), full_page=True)


def check(page: Any, state: str) -> dict[str, Any]:
    """Fail listing every serious or critical violation of the page; the screenshot and
    the results are written first, whatever the outcome. Returns the results."""
    results = audit(page)
    record(page, state, results)
    found = blocking(results)
    assert not found, (f"{state} ({page.url}): {len(found)} serious or critical axe "
                       f"violation(s)\n{describe(found)}")
    return results


# WCAG 2's contrast, in the page: a computed colour as [r, g, b, a]; one colour over
# another; what is behind an element (its backgrounds up the tree, blended over white);
# relative luminance; the ratio of two colours (1 to 21)
CONTRAST_FUNCTIONS = """
    const rgba = s => { const m = s.match(/[\\d.]+/g).map(Number);
                        return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
    const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3]));
    const behind = el => {
        const layers = [];
        for (let e = el; e; e = e.parentElement) {
            const c = rgba(getComputedStyle(e).backgroundColor);
            if (c[3] > 0) layers.push(c);
            if (c[3] >= 1) break;
        }
        return layers.reverse().reduce((acc, c) => over(c, acc), [255, 255, 255]);
    };
    const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92
                                        : Math.pow((v + 0.055) / 1.055, 2.4); };
                       return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
    const ratio = (a, b) => { const [hi, lo] = [lum(a), lum(b)].sort((p, q) => q - p);
                              return (hi + 0.05) / (lo + 0.05); };
"""


def in_page(params: str, body: str) -> str:
    """A function for ``page.evaluate`` taking *params*, its *body* with the contrast
    functions above in scope."""
    return f"({params}) => {{{CONTRAST_FUNCTIONS}\n{body}}}"


# The lowest contrast ratio (WCAG 2) of the text in the elements *sel* matches (and their
# descendants) against what is behind it (the backgrounds up the tree, blended): [ratio,
# the element's class, first words and colours]
WORST_TEXT_CONTRAST = in_page("sel", """
    let worst = [99, ''];
    for (const root of document.querySelectorAll(sel)) {
        for (const el of [root, ...root.querySelectorAll('*')]) {
            const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
            if (!own || !el.getClientRects().length) continue;
            const bg = behind(el), fg = over(rgba(getComputedStyle(el).color), bg);
            const r = ratio(fg, bg);
            if (r < worst[0]) worst = [r, el.className + ': ' + el.textContent.slice(0, 40)
                                          + ' ' + getComputedStyle(el).color + ' on ' + bg];
        }
    }
    return worst;
""")


def luminance(css: str) -> float:
    """Relative luminance of a CSS rgb()/rgba() colour (WCAG 2)."""
    values = [float(v) for v in css[css.index("(") + 1:-1].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
              for c in (v / 255 for v in values)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2's contrast ratio of two CSS colours (1 to 21)."""
    hi, lo = sorted([luminance(a), luminance(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)
