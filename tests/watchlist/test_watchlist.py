from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch.db.models import Official
from threatwatch.watchlist import OfficialMatcher, OfficialRef, WatchlistError, import_officials
from threatwatch.watchlist.names import split_dutch_name

from ..conftest import DEMO_DIR

OFFICIALS = [
    OfficialRef(1, "Jan van der Berg", "Burgemeester", (), ("@jvdberg",)),
    OfficialRef(2, "Fatma Yıldız-Öztürk", "Wethouder Wonen", (), ("fyildiz@mastodon.example",)),
    OfficialRef(3, "Eva de Vries", "Gedeputeerde"),
    OfficialRef(4, "Kees van 't Hof", "Dijkgraaf"),
    OfficialRef(5, "Eva de Vries", "Raadslid"),  # same name, other person: only the full name matches both
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Burgemeester Van der Berg moet weg", {1}),
        ("BURGEMEESTER VAN DER BERG!!", {1}),
        ("J. vd Berg weer in het nieuws", {1}),
        ("j. v.d. berg zegt niks", {1}),
        ("@jvdberg kom maar op", {1}),
        ("@JvdBerg hallo", {1}),
        ("wethouder yildiz doet niks", {2}),
        ("Fatma Yildiz-Ozturk, schaam je", {2}),
        ("wethouder Yıldız-Öztürk", {2}),
        ("hoi @fyildiz@mastodon.example en @fyildiz", {2}),
        ("dijkgraaf Van ’t Hof", {4}),
        ("gedeputeerde De Vries", {3}),
        ("raadslid de vries", {5}),
        ("Eva de Vries", {3, 5}),
        ("de Vries zei iets", set()),  # a bare surname is too common
        ("Berg en dal", set()),
        ("burgemeester van der bergen", set()),  # another name that starts the same
    ],
)
def test_matching_tolerates_dutch_name_forms(text: str, expected: set[int]) -> None:
    matcher = OfficialMatcher(OFFICIALS)
    assert {m.official_id for m in matcher.match(text)} == expected


def test_split_dutch_name_reads_tussenvoegsels() -> None:
    assert split_dutch_name("Jan van der Berg-Smit") == ("jan", "van der", "berg smit")
    assert split_dutch_name("Kees van 't Hof") == ("kees", "van 't", "hof")
    assert split_dutch_name("Anna Jansen") == ("anna", "", "jansen")


def test_import_demo_watchlist_twice_updates_instead_of_duplicating(session: Session) -> None:
    first = import_officials(session, path=DEMO_DIR / "watchlist.yaml")
    session.commit()
    second = import_officials(session, path=DEMO_DIR / "watchlist.yaml")
    session.commit()
    assert first.created == 8 and first.updated == 0
    assert second.created == 0 and second.updated == 8
    assert session.scalar(select(func.count()).select_from(Official)) == 8


def test_import_csv_with_lists(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text(
        "name,role,organisation,aliases,handles\n"
        "Jan van der Berg,Burgemeester,Gemeente X,J. vd Berg;Jantje,@jvdberg\n"
        "Eva de Vries,Raadslid,Gemeente X,,\n",
        encoding="utf-8",
    )
    report = import_officials(session, path=path)
    session.commit()
    assert report.created == 2
    jan = session.scalars(select(Official).where(Official.name == "Jan van der Berg")).one()
    assert jan.aliases == ["J. vd Berg", "Jantje"] and jan.handles == ["@jvdberg"]


def test_bad_row_refuses_whole_file_with_row_numbers(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text(
        "name,role,organisation\n"
        "Jan van der Berg,Burgemeester,Gemeente X\n"
        ",Raadslid,Gemeente X\n"
        "Piet Puk,Wethouder,\n"
        "Jan van der Berg,Burgemeester,Gemeente X\n",
        encoding="utf-8",
    )
    with pytest.raises(WatchlistError) as info:
        import_officials(session, path=path)
    rows = [row for row, _ in info.value.problems]
    assert rows == [2, 3, 4]
    assert "row 2: name" in str(info.value) and "duplicate of row 1" in str(info.value)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Official)) == 0


def test_row_with_an_extra_or_missing_cell_refuses_the_file_naming_its_line(
    session: Session, tmp_path: Path
) -> None:
    """An unquoted comma shifts every later cell; the row is refused, not stored shifted."""
    path = tmp_path / "w.csv"
    path.write_text(
        "name,role,organisation,aliases\n"
        "Jan van der Berg,Burgemeester,Gemeente X\n"  # no aliases cell: optional, fine
        "Jansen, Piet,Burgemeester,Gemeente Westdorp,PJ\n"
        "\n"
        '"Eva de Vries","Raadslid\nen fractievoorzitter",Gemeente X,,\n'  # a quoted cell over two lines
        "Piet Puk,Wethouder\n",
        encoding="utf-8",
    )
    with pytest.raises(WatchlistError) as info:
        import_officials(session, path=path)
    assert info.value.problems == [
        (
            2,
            "line 3: 5 cells but the header has 4 column(s) (name, role, organisation, aliases); "
            "a cell that contains a comma must be in double quotes",
        ),
        (3, "line 5: 5 cells but the header has 4 column(s) (name, role, organisation, aliases); "
            "a cell that contains a comma must be in double quotes"),
        (4, "line 7: 2 cells but the header has 4 column(s) (name, role, organisation, aliases); "
            "no cell for organisation"),
    ]  # fmt: skip
    assert "nothing imported" in str(info.value) and "row 2: line 3: 5 cells" in str(info.value)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Official)) == 0

    # The issue's own file: one cell too many under name,role,organisation.
    path.write_text("name,role,organisation\nJansen, Piet,Burgemeester,Gemeente Westdorp\n", encoding="utf-8")
    with pytest.raises(WatchlistError, match="row 1: line 2: 4 cells but the header has 3 column"):
        import_officials(session, path=path)
    path.write_text(
        'name,role,organisation\n"Jansen, Piet",Burgemeester,Gemeente Westdorp\n', encoding="utf-8"
    )
    import_officials(session, path=path)
    session.commit()
    official = session.scalars(select(Official)).one()
    assert (official.name, official.role, official.organisation) == (
        "Jansen, Piet",
        "Burgemeester",
        "Gemeente Westdorp",
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("w.csv", "naam,rol\nx,y\n", "missing column"),
        ("w.yaml", "officials: [1, 2", "invalid YAML"),
        ("w.yaml", "- name: Jan Jansen\n  role: Raadslid\n  organisation: X\n  shoesize: 44\n", "shoesize"),
        ("w.txt", "Jan", "unsupported file type"),
    ],
)
def test_malformed_watchlists_are_refused_clearly(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    from threatwatch.watchlist import read_watchlist

    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(WatchlistError, match=message):
        read_watchlist(path)


def test_non_utf8_watchlist_is_refused(tmp_path: Path) -> None:
    from threatwatch.watchlist import read_watchlist

    path = tmp_path / "w.csv"
    path.write_bytes("name,role,organisation\nJosé,Raadslid,X\n".encode("latin-1"))
    with pytest.raises(WatchlistError, match="not UTF-8"):
        read_watchlist(path)


def test_bare_surname_needs_context_of_that_official() -> None:
    matcher = OfficialMatcher(
        [
            OfficialRef(1, "Sanne Verbruggen", "Dijkgraaf", organisation="Waterschap De Lage Landen"),
            OfficialRef(2, "Pieter Hoekstra", "Gedeputeerde", organisation="Provincie Noordwaarde"),
        ]
    )
    assert matcher.match("die Verbruggen van de Lage Landen weer")[0].matched_on == "verbruggen + lage landen"
    assert [m.official_id for m in matcher.match("Hoekstra in Noordwaarde")] == [2]
    assert matcher.match("Hoekstra zei gisteren iets") == []
    assert matcher.match("Verbruggen bij het waterschap Rijn") == []
