"""The printable Dutch rendering of an evidence pack: one self-contained, escaped HTML document.

Post text comes from the internet, so everything is escaped, links are printed as text (never followed)
and a Content-Security-Policy forbids scripts, images and remote resources.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from threatwatch.collect.text import reveal_bidi_controls

if TYPE_CHECKING:
    from threatwatch.evidence.pack import EvidenceItem, EvidencePack
    from threatwatch.evidence.person import PersonEvidencePack, PersonEvidencePost

LABELS_NL = {
    "threat": "bedreiging",
    "coercion": "dwang / intimidatie",
    "doxxing": "doxing (persoonsgegevens)",
    "abuse": "belediging",
    "none": "geen (ruis)",
}
STATUS_NL = {
    "open": "nog niet beoordeeld",
    "claimed": "in behandeling",
    "decided": "beoordeeld",
    "escalated": "geëscaleerd",
    "closed": "afgesloten",
    "dismissed": "afgewezen als ruis",
}
CSP = "default-src 'none'; style-src 'unsafe-inline'"
URGENCY_NL = {"low": "laag", "high": "hoog", "critical": "kritiek"}
SIGNALS_NL = {
    "escalation": "escalatie (van belediging naar bedreiging)",
    "fixation": "fixatie (vooral over één bestuurder)",
    "persistence": "volharding (berichten op veel dagen)",
    "leakage": "lekken van voornemen (wapen, tijd of plaats)",
    "multiple_targets": "meerdere doelwitten",
}
PERSON_STATUS_NL = {"watching": "in de gaten gehouden", "escalated": "geëscaleerd", "closed": "afgesloten"}

CSS = """
body { font: 11pt/1.45 Georgia, 'Times New Roman', serif; color: #111; max-width: 50em; margin: 2em auto; }
h1 { font-size: 18pt; margin-bottom: .2em; } h2 { font-size: 13pt; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; margin: .4em 0; }
th, td { text-align: left; vertical-align: top; padding: .15em .5em; border: 1px solid #ccc; }
th { width: 14em; background: #f3f3f3; font-weight: normal; }
.text { white-space: pre-wrap; border-left: 3px solid #444; padding: .4em .8em; background: #fafafa; }
.mono { font-family: 'DejaVu Sans Mono', monospace; font-size: 9pt; word-break: break-all; }
mark { background: #ffe08a; } .meta { color: #444; font-size: 9.5pt; }
section.item { page-break-inside: avoid; margin-bottom: 2em; }
@media print { body { margin: 0; max-width: none; } section.item { page-break-before: auto; }
  @page { size: A4; margin: 18mm; } }
"""


def _e(value: object) -> str:
    return escape(reveal_bidi_controls("" if value is None else str(value)), quote=True)


def highlight(text: str, spans: list[dict[str, Any]]) -> str:
    """Escape ``text`` and wrap the explanation spans in <mark>; overlapping or bad spans are skipped."""
    out, pos = [], 0
    for span in sorted(spans, key=lambda s: (int(s.get("start", 0)), int(s.get("end", 0)))):
        start, end = int(span.get("start", -1)), int(span.get("end", -1))
        if start < pos or end <= start or end > len(text):
            continue
        out += [_e(text[pos:start]), "<mark>", _e(text[start:end]), "</mark>"]
        pos = end
    out.append(_e(text[pos:]))
    return "".join(out)


def _row(name: str, value: str) -> str:
    return f"<tr><th>{_e(name)}</th><td>{value}</td></tr>"


def _decision(d: dict[str, Any]) -> str:
    """One analyst's decision as a list entry (item packs and person packs alike)."""
    return (
        "<li>"
        + _e(f"{d['at']} — {d['by'] or 'onbekend'}: {LABELS_NL.get(d['label'], d['label'])}")
        + (" (correctie van het model)" if d["corrected"] else "")
        + (f" — ingetrokken {_e(d['undone_at'])}" if d["undone_at"] else "")
        + (f"<br><em>{_e(d['note'])}</em>" if d["note"] else "")
        + "</li>"
    )


def _item(number: int, item: EvidenceItem) -> str:
    c = item.classification
    label = str(c["label"])
    score = c["scores"].get(label)
    officials = "; ".join(f"{o['name']} ({o['role']}, {o['organisation']})" for o in item.officials)
    rows = [
        _row("Bron", _e(item.source) + f' <span class="mono">{_e(item.source_url)}</span>'),
        _row("Adres (URL)", f'<span class="mono">{_e(item.url or "onbekend")}</span>'),
        _row("Auteur", _e(item.author or "onbekend")),
        _row("Gepubliceerd", _e(item.published_at or "onbekend")),
        _row("Verzameld", _e(item.collected_at)),
        _row("Betreft", _e(officials or "—")),
        _row("SHA-256 van de opgeslagen tekst", f'<span class="mono">{_e(item.text_sha256)}</span>'),
        _row(
            "Classificatie (model)",
            _e(
                f"{LABELS_NL.get(label, label)}"
                + (f", score {float(score):.2f}" if score is not None else "")
            )
            + f' <span class="meta">model {_e(c["model_version"])}</span>',
        ),
        _row("Status", _e(STATUS_NL.get(item.status, item.status))),
    ]
    decisions = "".join(_decision(d) for d in item.decisions)
    escalations = "".join(
        "<li>"
        + _e(f"{e['at']} — {e['by'] or 'onbekend'}: urgentie {URGENCY_NL.get(e['urgency'], e['urgency'])}")
        + (f"<br><em>{_e(e['note'])}</em>" if e["note"] else "")
        + "</li>"
        for e in item.escalations
    )
    return (
        f'<section class="item"><h2>Bericht {number} (item {item.review_item_id})</h2>'
        f'<div class="text">{highlight(item.text, list(c.get("explanation") or []))}</div>'
        f"<table>{''.join(rows)}</table>"
        f"<h3>Beoordeling door analisten</h3><ul>{decisions or '<li>nog geen beoordeling</li>'}</ul>"
        + (f"<h3>Escalaties</h3><ul>{escalations}</ul>" if escalations else "")
        + "</section>"
    )


def render_html(pack: EvidencePack) -> str:
    scope = pack.scope
    if scope.get("kind") == "official":
        o = scope["official"]
        subject = f"{o['name']} ({o['role']}, {o['organisation']})"
        period = f"{scope.get('since') or 'begin'} tot {scope.get('until') or 'nu'}"
        heading = f"Bewijsoverzicht: berichten over {subject}, periode {period}"
    else:
        heading = f"Bewijsoverzicht: {len(pack.items)} bericht(en)"
    body = "".join(_item(n, item) for n, item in enumerate(pack.items, start=1))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="nl"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{_e(pack.filename_stem)}</title><style>{CSS}</style></head><body>"
        f"<h1>{_e(heading)}</h1>"
        f'<p class="meta">Opgesteld {_e(pack.generated_at)} door {_e(pack.generated_by)} met '
        f"{_e(pack.generator)}. Elke tekst staat hieronder zoals opgeslagen; de SHA-256-waarde laat "
        "controleren dat de tekst niet is gewijzigd. Adressen zijn als tekst weergegeven, niet als link. "
        "Bewaar het bijbehorende JSON-bestand bij dit document.</p>"
        f"{body or '<p>Geen berichten in deze selectie.</p>'}"
        "</body></html>\n"
    )


def _decision_list(decisions: list[dict[str, Any]], escalations: list[dict[str, Any]]) -> str:
    rows = "".join(_decision(d) for d in decisions)
    rows += "".join(
        "<li>"
        + _e(f"{e['at']} — {e['by'] or 'onbekend'}: geëscaleerd, urgentie ")
        + _e(URGENCY_NL.get(e["urgency"], e["urgency"]))
        + (f"<br><em>{_e(e['note'])}</em>" if e["note"] else "")
        + "</li>"
        for e in escalations
    )
    return f"<ul>{rows or '<li>niet beoordeeld door een analist</li>'}</ul>"


def _person_post(post: PersonEvidencePost, officials: dict[int, str]) -> str:
    c = post.classification
    model = "niet geclassificeerd"
    if c is not None:
        score = c["scores"].get(c["label"])
        model = f"{LABELS_NL.get(c['label'], c['label'])}" + (
            f", score {float(score):.2f}" if score is not None else ""
        )
    rows = [
        _row("Account", _e(post.account) + (f" (naam: {_e(post.author)})" if post.author else "")),
        _row("Bron", _e(post.source) + f' <span class="mono">{_e(post.source_url)}</span>'),
        _row("Adres (URL)", f'<span class="mono">{_e(post.url or "onbekend")}</span>'),
        _row("Gepubliceerd", _e(post.published_at or "onbekend")),
        _row("Verzameld", _e(post.collected_at)),
        _row("Betreft", _e("; ".join(officials.get(o, str(o)) for o in post.official_ids) or "—")),
        _row("SHA-256 van de opgeslagen tekst", f'<span class="mono">{_e(post.text_sha256)}</span>'),
        _row("Categorie (telt nu)", _e(LABELS_NL.get(post.label, post.label))),
        _row("Classificatie (model)", _e(model)),
        _row(
            "Status",
            _e(STATUS_NL.get(post.status, post.status) if post.status else "niet in de beoordelingswachtrij")
            + (f' <span class="meta">item {post.review_item_id}</span>' if post.review_item_id else ""),
        ),
    ]
    return (
        f'<section class="item" id="bericht-{post.number}"><h3>Bericht {post.number}</h3>'
        f'<div class="text">{_e(post.text)}</div><table>{"".join(rows)}</table>'
        f"<h4>Beoordeling door analisten</h4>{_decision_list(post.decisions, post.escalations)}</section>"
    )


def render_person_html(pack: PersonEvidencePack) -> str:
    """One person's posts per official, with accounts and signals, as a printable Dutch document. A post
    about several officials is printed in full under the first and referred to by number after that."""
    person = pack.person
    names = {o["id"]: f"{o['name']} ({o['role']}, {o['organisation']})" for o in pack.officials}
    accounts = "".join(
        "<li>"
        + _e(f"{a['handle']} ({a['platform']}), gezien {a['first_seen_at']} tot {a['last_seen_at']}")
        + (
            "<br>Weergavenamen: "
            + _e("; ".join(f"{n['name']} ({n['first_seen_at']} – {n['last_seen_at']})" for n in a["names"]))
            if a["names"]
            else ""
        )
        + "</li>"
        for a in pack.accounts
    )
    signals = "".join(
        "<li>"
        + _e(f"{SIGNALS_NL.get(s['name'], s['name'])}: {s['detail']}")
        + '<span class="meta"> — berichten '
        + _e(", ".join(str(n) for n in s["posts"]))
        + "</span></li>"
        for s in pack.signals
    )
    by_number = {p.number: p for p in pack.posts}
    printed: set[int] = set()
    groups: list[str] = []
    for official in pack.officials:
        parts: list[str] = []
        for number in official["posts"]:
            if number in printed:
                parts.append(f'<p class="meta">Bericht {number}: zie hierboven.</p>')
                continue
            printed.add(number)
            parts.append(_person_post(by_number[number], names))
        groups.append(
            f"<h2>Over {_e(names[official['id']])}: {len(official['posts'])} bericht(en)</h2>{''.join(parts)}"
        )
    status = person.get("status")
    heading = f"Bewijsoverzicht: herhaalde berichten van persoon {person['id']}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="nl"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{_e(pack.filename_stem)}</title><style>{CSS}</style></head><body>"
        f"<h1>{_e(heading)}</h1>"
        f'<p class="meta">Opgesteld {_e(pack.generated_at)} door {_e(pack.generated_by)} met '
        f"{_e(pack.generator)}. Alle bewaarde berichten van de accounts hieronder over bewaakte bestuurders, "
        "per bestuurder, in tijdsvolgorde. Elke tekst staat zoals opgeslagen; de SHA-256-waarde laat "
        "controleren dat de tekst niet is gewijzigd. Adressen zijn als tekst weergegeven, niet als link. "
        "Dat de accounts één persoon zijn, is het oordeel van analisten; de signalen zijn berekend uit de "
        "berichten en zijn geen vaststelling. Bewaar het bijbehorende JSON-bestand bij dit document.</p>"
        "<table>"
        + _row("Persoon", _e(person["id"]))
        + _row("Beoordeling", _e(PERSON_STATUS_NL.get(status, status) if status else "nog niet beoordeeld"))
        + _row("Aantal berichten", _e(len(pack.posts)))
        + _row("Eerste bericht", _e(person.get("first_post_at") or "—"))
        + _row("Laatste bericht", _e(person.get("last_post_at") or "—"))
        + "</table>"
        f"<h2>Accounts</h2><ul>{accounts or '<li>geen</li>'}</ul>"
        f"<h2>Signalen</h2><ul>{signals or '<li>geen signalen</li>'}</ul>"
        f"{''.join(groups) or '<p>Geen bewaarde berichten.</p>'}"
        "</body></html>\n"
    )
